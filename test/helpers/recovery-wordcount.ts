import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { ContainerView } from '@sluice/stram';
import { WORDCOUNT, pidAlive, startCli, tempDir, until, type CliProcess } from './runtime-cli.js';

/**
 * The demo word count under `sluice launch` with short windows, checkpoints and timeouts, for the
 * recovery tests (docs/architecture.md "Recovery"): kill things, then check that the output holds
 * exactly the words the generator emitted (expectedCounts / readActualCounts of packages/cli/src/demo/wordcount.ts).
 *
 * The generator emits words in windows 1..windows only, so "done" is a fixed point: every window
 * 1..windows written by the output operator, and nothing else.
 */

interface WordcountModule {
  expectedCounts(config: Record<string, unknown>, windows: number[]): Record<string, number>;
  readActualCounts(appDir: string): { windows: number[]; counts: Record<string, number> };
}

let wordcount: WordcountModule | undefined;
/** The built demo module (a dynamic import: the test project does not build against the CLI). */
async function wordcountModule(): Promise<WordcountModule> {
  wordcount ??= (await import(pathToFileURL(WORDCOUNT).href)) as WordcountModule;
  return wordcount;
}

/** The value of one sample line of a Prometheus text page, e.g. `sluice_x{container="c1"}` (0 when absent). */
export function sample(metrics: string, line: string): number {
  const found = metrics.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length).trim()) : 0;
}

export interface RecoveryRunOptions {
  /** Windows the generator emits words in. */
  windows?: number;
  tuplesPerWindow?: number;
  seed?: number;
  /** More `sluice launch` flags (token lifetimes, a longer heartbeat timeout); later flags win. */
  launchArgs?: string[];
  /** STRAM and container log level (default warn; tests that read container logs use info). */
  logLevel?: string;
}

/** The same settings on launch and on --recover (a recovered STRAM keeps the saved ones anyway). */
const TIMING = ['--window', '100ms', '--checkpoint-windows', '10', '--heartbeat-interval', '250ms', '--heartbeat-timeout', '3s', '--stram-loss-timeout', '60s'];

export class RecoveryRun {
  readonly tmp = tempDir('sluice-recovery-');
  readonly appDir = join(this.tmp.path, 'app');
  readonly config: { seed: number; tuplesPerWindow: number; windows: number };
  /** Every STRAM process this run started (the first launch, then each --recover). */
  readonly strams: CliProcess[] = [];
  /** Every container pid seen, for cleanup. */
  private readonly pids = new Set<number>();
  private readonly launchArgs: string[];
  private readonly logLevel: string;

  constructor(o: RecoveryRunOptions = {}) {
    this.config = { seed: o.seed ?? 7, tuplesPerWindow: o.tuplesPerWindow ?? 200, windows: o.windows ?? 150 };
    this.launchArgs = o.launchArgs ?? [];
    this.logLevel = o.logLevel ?? 'warn';
  }

  get stram(): CliProcess {
    return this.strams.at(-1)!;
  }

  /** Launches the app and waits until every container heartbeats with its operators deployed. */
  async launch(): Promise<void> {
    const cfg = Object.entries(this.config).flatMap(([k, v]) => ['--config', `${k}=${v}`]);
    this.strams.push(startCli(['launch', WORDCOUNT, '--app-dir', this.appDir, ...cfg, ...TIMING, ...this.launchArgs, '--log-level', this.logLevel], this.tmp.path));
    await this.stram.waitFor(/launched \S+/);
    await this.untilContainers((cs) => cs.length === 4 && cs.every((c) => c.state === 'running' && c.deployed));
  }

  /** `sluice launch --recover <app dir>` after the STRAM died; `args`: more flags (none are needed: the launch settings are saved). */
  async recover(args: string[] = []): Promise<void> {
    this.strams.push(startCli(['launch', '--recover', this.appDir, ...TIMING, ...args, '--log-level', 'warn'], this.tmp.path));
    await this.stram.waitFor(/recovered \S+/);
  }

  private info(): { rest: string; pid: number } {
    return JSON.parse(readFileSync(join(this.appDir, 'stram.json'), 'utf8')) as { rest: string; pid: number };
  }

  async rest(path: string, method: 'GET' | 'POST' = 'GET'): Promise<{ status: number; text: string }> {
    const token = readFileSync(join(this.appDir, 'web-token'), 'utf8').trim();
    const res = await fetch(`${this.info().rest}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, text: await res.text() };
  }

  async containers(): Promise<ContainerView[]> {
    const { containers } = JSON.parse((await this.rest('/ws/v1/containers')).text) as { containers: ContainerView[] };
    for (const c of containers) if (c.pid) this.pids.add(c.pid);
    return containers;
  }

  async container(id: string): Promise<ContainerView> {
    return (await this.containers()).find((c) => c.id === id)!;
  }

  /** Polls the REST view until `pred` holds (a STRAM between restarts answers nothing: keep polling). */
  async untilContainers(pred: (cs: ContainerView[]) => boolean, intervalMs = 200): Promise<ContainerView[]> {
    let last: ContainerView[] = [];
    await until(async () => {
      try {
        last = await this.containers();
        return pred(last);
      } catch {
        return false;
      }
    }, intervalMs);
    return last;
  }

  /** The windows the output operator has written so far. */
  async outputWindows(): Promise<number[]> {
    return (await wordcountModule()).readActualCounts(this.appDir).windows;
  }

  /** Waits until the output operator has written window `w` (streaming is under way). */
  async untilOutputHas(w: number): Promise<void> {
    await until(async () => (await this.outputWindows()).includes(w), 100);
  }

  /**
   * Waits until the output holds every window 1..windows, then compares the counts with the
   * generator's. `exact` needs exactly those windows (none missing, none extra) and equal counts.
   */
  async finalCounts(): Promise<{ exact: boolean; windows: number[]; tuples: number; expected: Record<string, number>; actual: Record<string, number> }> {
    const m = await wordcountModule();
    const all = Array.from({ length: this.config.windows }, (_, i) => i + 1);
    await until(() => {
      const have = new Set(m.readActualCounts(this.appDir).windows);
      return all.every((w) => have.has(w));
    }, 200);
    const { windows, counts } = m.readActualCounts(this.appDir);
    const expected = m.expectedCounts(this.config, all);
    const tuples = Object.values(counts).reduce((a, b) => a + b, 0);
    return { exact: isDeepStrictEqual(windows, all) && isDeepStrictEqual(sorted(counts), sorted(expected)), windows, tuples, expected, actual: counts };
  }

  /** A container's log (for failure messages). */
  log(id: string): string {
    const path = join(this.appDir, 'containers', id, 'container.log');
    return existsSync(path) ? readFileSync(path, 'utf8').slice(-3000) : '';
  }

  /**
   * Stops everything this run started: STRAM by SIGTERM (a clean shutdown), then any container
   * still around — SIGCONT first, a stopped process cannot act on anything else — by SIGKILL.
   */
  async cleanup(): Promise<void> {
    const stram = this.strams.at(-1);
    if (stram && stram.child.exitCode === null && stram.child.signalCode === null) {
      stram.kill('SIGTERM');
      const done = await Promise.race([stram.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
      if (!done) stram.kill('SIGKILL');
    }
    for (const s of this.strams) if (s.child.exitCode === null && s.child.signalCode === null) s.kill('SIGKILL');
    for (const pid of this.pids) {
      if (!pidAlive(pid)) continue;
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (!process.env['SLUICE_KEEP_TMP']) this.tmp.remove();
  }
}

function sorted(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
