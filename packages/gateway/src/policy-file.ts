import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { SluiceError, type Logger } from '@sluice/common';
import type { PolicyAnswer } from './api.js';
import { Policy, formatPolicyError, parsePolicy } from './policy.js';

/**
 * The policy file behind `--policy` (docs/security.md "The policy file"): read at start (a bad
 * one stops the start), then reloaded on change without a restart. fs.watch on its directory
 * (an editor or `mv` replaces the file, which a watch on the file itself would lose) with a
 * debounce, and a stat poll as the fallback where watching misses events (network file systems).
 * A text that fails validation leaves the last good policy in force; the log says why and the
 * gateway's metrics count it. This object is the one owner of the policy in force.
 */

export interface PolicyReloads {
  applied(): void;
  rejected(): void;
}

export interface PolicyFileOptions {
  logger: Logger;
  reloads: PolicyReloads;
  debounceMs?: number;
  pollMs?: number;
}

export class PolicyFile {
  private policy: Policy;
  private text: string | undefined;
  private loadedAt = Date.now();
  private rejectedWith: string[] = [];
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private lastStat = '';
  /** The last text refused, so the same broken file is reported once, not at every event. */
  private rejectedText: string | undefined;

  private constructor(
    readonly file: string | undefined,
    private readonly o: PolicyFileOptions,
    policy: Policy,
    text: string | undefined,
  ) {
    this.policy = policy;
    this.text = text;
  }

  /** No `--policy`: the empty policy, default deny for everything an owner or a share does not give. */
  static none(o: PolicyFileOptions): PolicyFile {
    return new PolicyFile(undefined, o, Policy.empty, undefined);
  }

  /** Reads and validates `file`, or throws BAD_POLICY with its faults (one per line), then watches it. */
  static open(file: string, o: PolicyFileOptions): PolicyFile {
    const path = resolve(file);
    const text = readPolicyText(path);
    const parsed = parsePolicy(text);
    if (parsed.errors) {
      const more = parsed.errors.length > 1 ? ` (and ${parsed.errors.length - 1} more: sluice policy check ${path} lists them)` : '';
      throw new SluiceError('BAD_POLICY', `${formatPolicyError(path, parsed.errors[0]!)}${more}`);
    }
    const pf = new PolicyFile(path, o, parsed.policy, text);
    pf.watch();
    return pf;
  }

  current(): Policy {
    return this.policy;
  }

  answer(): PolicyAnswer {
    const { roles, groups, bindings } = this.policy.doc;
    return { file: this.file ?? null, loadedAt: this.loadedAt, rejected: this.rejectedWith, policy: { roles, groups, bindings } };
  }

  /** Reads the file again now; what a change event or the poll calls. */
  reload(): void {
    if (!this.file) return;
    let text: string;
    try {
      text = readPolicyText(this.file);
    } catch (err) {
      return this.reject([(err as Error).message]);
    }
    if (text === this.text) {
      // Put back as it was: whatever was refused in between is no longer on disk.
      this.rejectedWith = [];
      this.rejectedText = undefined;
      return;
    }
    const parsed = parsePolicy(text);
    if (parsed.errors) return this.reject(parsed.errors.map((e) => formatPolicyError(this.file!, e)), text);
    this.policy = parsed.policy;
    this.text = text;
    this.loadedAt = Date.now();
    this.rejectedWith = [];
    this.o.reloads.applied();
    this.o.logger.info({ file: this.file, policy: parsed.policy.summary }, 'policy reloaded');
  }

  close(): void {
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.debounce);
  }

  private reject(errors: string[], text?: string): void {
    if (text !== undefined && text === this.rejectedText) return;
    this.rejectedText = text;
    this.rejectedWith = errors;
    this.o.reloads.rejected();
    this.o.logger.warn({ file: this.file, errors }, 'policy change refused; the last good policy stays in force');
  }

  private watch(): void {
    const file = this.file!;
    const soon = () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.reload(), this.o.debounceMs ?? 100);
      this.debounce.unref();
    };
    try {
      this.watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || name === basename(file)) soon();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // No watching here (inotify limits, some file systems): the poll below still sees changes.
    }
    this.lastStat = statKey(file);
    this.poll = setInterval(() => {
      const now = statKey(file);
      if (now !== this.lastStat) {
        this.lastStat = now;
        soon();
      }
    }, this.o.pollMs ?? 1_000);
    this.poll.unref();
  }
}

function readPolicyText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SluiceError('BAD_POLICY', code === 'ENOENT' ? `${path}: no such policy file` : `${path}: cannot be read (${code ?? (err as Error).message})`, { cause: err });
  }
}

function statKey(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}
