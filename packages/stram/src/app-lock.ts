import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError, type Logger } from '@sluice/common';
import type { AppDir } from './app-dir.js';

/**
 * One STRAM per app directory (docs/architecture.md "State on disk"; docs/guide.md "One STRAM per
 * app directory"). A STRAM takes `<appDir>/stram.lock` before it writes anything there, for a new
 * app and for `--recover` alike, and removes it when it stops: a second STRAM would reload the
 * first one's tokens, rewrite its credentials files and start containers writing to the same
 * output.
 *
 * The lock is created exclusively (O_EXCL) and names its holder by pid and the process's start
 * time (/proc/<pid>/stat): a lock whose pid is gone, or now belongs to another process (pids are
 * reused; the start time tells them apart), was left by a STRAM that died without stopping
 * (kill -9, a crash) and is taken over. Without /proc (not Linux) a live pid is all there is to
 * go by.
 */

export interface LockHolder {
  pid: number;
  /** The holder's start time in clock ticks since boot (field 22 of /proc/<pid>/stat); null where there is no /proc. */
  startTime: string | null;
  appId: string;
  /** When the lock was taken (ISO time). */
  since: string;
}

/** A live STRAM holding a directory, and where its REST API is (from its stram.json, once written). */
export interface LiveStram extends LockHolder {
  rest: string | null;
}

export const LOCK_FILE = 'stram.lock';

export class AppLock {
  private released = false;

  private constructor(
    readonly path: string,
    readonly holder: LockHolder,
  ) {}

  /**
   * Takes the lock of `dir` for app `appId`, taking over a stale one; APP_DIR_IN_USE (naming the
   * live STRAM, its pid and REST address) when another STRAM holds it.
   */
  static acquire(dir: AppDir, appId: string, logger?: Logger, command = 'sluice'): AppLock {
    const path = lockPath(dir);
    const holder: LockHolder = { pid: process.pid, startTime: startTimeOf(process.pid), appId, since: new Date().toISOString() };
    // A round finds a stale lock and moves it aside, the next takes the lock; one more in case another STRAM raced us.
    for (let round = 0; round < 3; round++) {
      if (createExclusive(path, `${JSON.stringify(holder)}\n`)) return new AppLock(path, holder);
      const text = readLock(path);
      if (text === undefined) continue; // removed meanwhile
      const current = parseHolder(text);
      if (current && isLive(current)) throw inUse(dir, { ...current, rest: restOf(dir, current.pid) }, command);
      if (!breakStale(path, text)) continue;
      logger?.warn({ stalePid: current?.pid ?? null, staleApp: current?.appId ?? null }, 'took over the app directory lock of a STRAM that is gone');
    }
    throw new SluiceError('APP_DIR_IN_USE', `${dir.root}: another STRAM keeps taking ${path}; is one starting right now?`);
  }

  /** The live STRAM holding `dir`, if any (`sluice launch` asks before it refuses a used directory). */
  static liveHolder(dir: AppDir): LiveStram | undefined {
    const text = readLock(lockPath(dir));
    const h = text === undefined ? undefined : parseHolder(text);
    return h && isLive(h) ? { ...h, rest: restOf(dir, h.pid) } : undefined;
  }

  /** Removes the lock (shutdown, FAILED, a launch that could not start). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    // Only our own lock: never one a later STRAM took over from us.
    const text = readLock(this.path);
    const h = text === undefined ? undefined : parseHolder(text);
    if (h?.pid === this.holder.pid && h.since === this.holder.since) rmSync(this.path, { force: true });
  }
}

export function lockPath(dir: AppDir): string {
  return join(dir.root, LOCK_FILE);
}

/** The refusal: one line naming the STRAM that holds the directory; `command` runs the CLI. */
export function inUse(dir: AppDir, s: LiveStram, command = 'sluice'): SluiceError {
  const where = s.rest ? `REST ${s.rest}` : 'starting, no REST address yet';
  return new SluiceError(
    'APP_DIR_IN_USE',
    `app dir ${dir.root} is in use by the running STRAM of ${s.appId} (pid ${s.pid}, ${where}); stop it first (${command} shutdown --app-dir ${dir.root}) or use another directory`,
  );
}

/** O_EXCL create with the whole content in one write; false when the file exists. */
function createExclusive(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new SluiceError('STATE_IO', `cannot create ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Moves a stale lock aside, so that of two STRAMs finding it stale at once only one takes over:
 * the rename moves one file, and a lock that changed since it was judged stale (another STRAM
 * took over in between) is put back.
 */
function breakStale(path: string, judged: string): boolean {
  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new SluiceError('STATE_IO', `cannot move the stale lock ${path} aside: ${(err as Error).message}`, { cause: err });
  }
  if (readLock(aside) !== judged) {
    try {
      linkSync(aside, path);
    } catch {
      // A third STRAM took the lock meanwhile: it holds it now.
    }
    rmSync(aside, { force: true });
    return false;
  }
  rmSync(aside, { force: true });
  return true;
}

/** The lock's text, waiting out a lock being written this instant (created, content not yet in); undefined when there is none. */
function readLock(path: string): string | undefined {
  for (let i = 0; ; i++) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SluiceError('STATE_IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (text.endsWith('\n') || i >= 20) return text;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (!Number.isSafeInteger(h.pid) || typeof h.appId !== 'string' || typeof h.since !== 'string') return undefined;
    return { pid: h.pid!, startTime: typeof h.startTime === 'string' ? h.startTime : null, appId: h.appId, since: h.since };
  } catch {
    return undefined; // not a lock any Sluice wrote: nobody holds it
  }
}

/** The holder's process still runs, and is the same process (same start time) that took the lock. */
function isLive(h: LockHolder): boolean {
  try {
    process.kill(h.pid, 0);
  } catch {
    return false; // gone, or another user's process (EPERM): not a STRAM of this directory's owner
  }
  const now = startTimeOf(h.pid);
  if (now === null) return !HAS_PROC; // with /proc, an unreadable entry is a process that just ended
  return h.startTime === null || now === h.startTime;
}

const HAS_PROC = existsSync('/proc/self/stat');

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces); null without /proc. */
export function startTimeOf(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the name start at field 3 (state): starttime, field 22, is index 19.
  return fields[19] ?? null;
}

/** REST address of the STRAM with this pid, from its stram.json (written once REST serves). */
function restOf(dir: AppDir, pid: number): string | null {
  if (!existsSync(dir.info)) return null;
  try {
    const info = dir.readInfo();
    return info.pid === pid ? info.rest : null;
  } catch {
    return null;
  }
}
