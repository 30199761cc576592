import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SluiceError, writeFileAtomic } from '@sluice/common';
import type { ContainerView, OperatorView } from './container-table.js';

/**
 * The app directory (docs/architecture.md "State on disk"):
 *
 *   <appDir>/stram.lock                  the live STRAM's pid and start time (app-lock.ts); removed when it stops
 *   <appDir>/stram.json                  where STRAM listens and its pid (no secrets), for `sluice status/shutdown`
 *   <appDir>/stram.log                   STRAM's log, JSON lines (0600; `sluice logs`)
 *   <appDir>/failed.json                 why the app FAILED, and its last status (no secrets), for `sluice status`
 *   <appDir>/web-token                   the launching user's REST token (JWT, 0600)
 *   <appDir>/stram/                      0700: the secret manager's state (keys, tokens) and web-key
 *   <appDir>/containers/<id>/credentials 0600: everything container <id> needs; its path is all it is given
 *   <appDir>/containers/<id>/container.log
 *   <appDir>/spool/<id>/                 the buffer server's spill files (removed at shutdown)
 *   <appDir>/checkpoints/, <appDir>/output/  0700: operator state and app output, files 0600
 */
export class AppDir {
  constructor(readonly root: string) {}

  get stramDir(): string {
    return join(this.root, 'stram');
  }
  get webKey(): string {
    return join(this.stramDir, 'web-key');
  }
  get stramLog(): string {
    return join(this.root, 'stram.log');
  }
  get webToken(): string {
    return join(this.root, 'web-token');
  }
  get info(): string {
    return join(this.root, 'stram.json');
  }
  get failed(): string {
    return join(this.root, 'failed.json');
  }
  get checkpoints(): string {
    return join(this.root, 'checkpoints');
  }
  get output(): string {
    return join(this.root, 'output');
  }
  containerDir(id: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(id) || id === '.' || id === '..') {
      throw new SluiceError('BAD_CONFIG', `container id "${id}" cannot name a directory`);
    }
    return join(this.root, 'containers', id);
  }
  credentials(id: string): string {
    return join(this.containerDir(id), 'credentials');
  }
  containerLog(id: string): string {
    return join(this.containerDir(id), 'container.log');
  }
  /** Spill files of the buffer servers (`spool/<container>`, chosen by the container), removed at shutdown. */
  get spoolRoot(): string {
    return join(this.root, 'spool');
  }
  spool(id: string): string {
    this.containerDir(id); // validates the id
    return join(this.spoolRoot, id);
  }

  /**
   * Creates the layout, every directory 0700 like the secrets' own: checkpoints and output hold
   * the app's data, which is the launching user's alone (docs/guide.md "The app directory").
   */
  create(): void {
    for (const dir of [this.root, this.stramDir, join(this.root, 'containers'), this.checkpoints, this.output]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  writeInfo(info: StramInfo): void {
    writeFileAtomic(this.info, `${JSON.stringify(info, null, 2)}\n`, 0o600);
  }

  /** The app FAILED: its last status, kept for `sluice status` once STRAM is gone (docs/guide.md "Restart strategies"). */
  writeFailed(report: FailedReport): void {
    writeFileAtomic(this.failed, `${JSON.stringify(report, null, 2)}\n`, 0o600);
  }

  /** The FAILED report, if the app failed. */
  readFailed(): FailedReport | undefined {
    if (!existsSync(this.failed)) return undefined;
    try {
      return JSON.parse(readFileSync(this.failed, 'utf8')) as FailedReport;
    } catch (err) {
      throw new SluiceError('STATE_CORRUPT', `${this.failed} cannot be read: ${(err as Error).message}`, { cause: err });
    }
  }

  readInfo(): StramInfo {
    try {
      return JSON.parse(readFileSync(this.info, 'utf8')) as StramInfo;
    } catch (err) {
      throw new SluiceError('BAD_CONFIG', `no running app in ${this.root} (cannot read ${this.info}: ${(err as Error).message})`, { cause: err });
    }
  }
}

/** What `stram.json` holds: enough to find a running STRAM, nothing that grants access. */
export interface StramInfo {
  appId: string;
  name: string;
  pid: number;
  umbilical: string;
  rest: string;
  startedAt: string;
  insecure: boolean;
}

/** What `failed.json` holds: the app's last status, as REST gave it, with the failure's reason and time in `app.failure`. */
export interface FailedReport {
  app: Record<string, unknown> & { id: string; state: 'failed'; failure: { reason: string; at: string } };
  containers: ContainerView[];
  operators: OperatorView[];
}

/** `<name>-<random>`, usable as a directory name and in a token scope. */
export function newAppId(name: string): string {
  const safe = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'app';
  return `${safe.slice(0, 40)}-${randomBytes(4).toString('hex')}`;
}

export const DEFAULT_APPS_DIR = join('.sluice', 'apps');

/** The default app directory for a new app: `.sluice/apps/<appId>` under `cwd`. */
export function defaultAppDir(appId: string, cwd = process.cwd()): string {
  return resolve(cwd, DEFAULT_APPS_DIR, appId);
}

/** The most recently launched app under `.sluice/apps` (by its stram.json, or failed.json once it FAILED), for `sluice status` without `--app-dir`. */
export function latestAppDir(cwd = process.cwd()): string {
  const apps = resolve(cwd, DEFAULT_APPS_DIR);
  const candidates = existsSync(apps)
    ? readdirSync(apps)
        .map((d) => join(apps, d))
        .map((d) => ({ d, file: ['stram.json', 'failed.json'].map((f) => join(d, f)).find((f) => existsSync(f)) }))
        .flatMap(({ d, file }) => (file ? [{ d, t: statSync(file).mtimeMs }] : []))
        .sort((a, b) => b.t - a.t)
    : [];
  const first = candidates[0];
  if (!first) throw new SluiceError('BAD_CONFIG', `no app found under ${apps}; pass --app-dir or launch one with: sluice launch APP`);
  return first.d;
}
