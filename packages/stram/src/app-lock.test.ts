import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppDir } from './app-dir.js';
import { AppLock, lockPath, startTimeOf, type LockHolder } from './app-lock.js';

let root: string;
let dir: AppDir;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sluice-lock-'));
  dir = new AppDir(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const held = (): LockHolder => JSON.parse(readFileSync(lockPath(dir), 'utf8')) as LockHolder;

function refusal(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message };
  }
  throw new Error('not refused');
}

/** A process that exited: its pid is free (until reused). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('app directory lock', () => {
  it('is created 0600 with the pid and start time of its holder, and removed on release', () => {
    const lock = AppLock.acquire(dir, 'app-1');
    expect(held()).toEqual({ pid: process.pid, startTime: startTimeOf(process.pid), appId: 'app-1', since: expect.any(String) });
    expect(held().startTime).toMatch(/^\d+$/);
    lock.release();
    expect(existsSync(lockPath(dir))).toBe(false);
  });

  it('refuses a second STRAM while the holder lives, naming its pid and REST address, and leaves the lock as it was', () => {
    const lock = AppLock.acquire(dir, 'app-1');
    dir.writeInfo({ appId: 'app-1', name: 'x', pid: process.pid, umbilical: 'ws://127.0.0.1:1', rest: 'http://127.0.0.1:4567', startedAt: '', insecure: false });
    const before = readFileSync(lockPath(dir), 'utf8');
    expect(refusal(() => AppLock.acquire(dir, 'app-2'))).toEqual({
      code: 'APP_DIR_IN_USE',
      message: `app dir ${root} is in use by the running STRAM of app-1 (pid ${process.pid}, REST http://127.0.0.1:4567); stop it first (sluice shutdown --app-dir ${root}) or use another directory`,
    });
    expect(readFileSync(lockPath(dir), 'utf8')).toBe(before);
    expect(AppLock.liveHolder(dir)).toMatchObject({ pid: process.pid, appId: 'app-1', rest: 'http://127.0.0.1:4567' });
    lock.release();
    expect(AppLock.liveHolder(dir)).toBeUndefined();
  });

  it('says "starting" when the holder has no REST address yet', () => {
    AppLock.acquire(dir, 'app-1');
    expect(refusal(() => AppLock.acquire(dir, 'app-1')).message).toContain(`(pid ${process.pid}, starting, no REST address yet)`);
  });

  it('takes over a lock whose pid is gone', async () => {
    const pid = await deadPid();
    writeFileSync(lockPath(dir), `${JSON.stringify({ pid, startTime: '1', appId: 'old', since: '2026-01-01T00:00:00.000Z' })}\n`);
    expect(AppLock.liveHolder(dir)).toBeUndefined();
    AppLock.acquire(dir, 'app-1');
    expect(held()).toMatchObject({ pid: process.pid, appId: 'app-1' });
    expect(readdirSync(root)).toEqual(['stram.lock']); // nothing left aside
  });

  it('takes over a lock whose pid lives on in another process (pid reused: another start time)', () => {
    writeFileSync(lockPath(dir), `${JSON.stringify({ pid: process.pid, startTime: '1', appId: 'old', since: '2026-01-01T00:00:00.000Z' })}\n`);
    AppLock.acquire(dir, 'app-1');
    expect(held()).toMatchObject({ pid: process.pid, appId: 'app-1', startTime: startTimeOf(process.pid) });
  });

  it('takes over a lock that is not one (garbage)', () => {
    writeFileSync(lockPath(dir), 'not json\n');
    AppLock.acquire(dir, 'app-1');
    expect(held().appId).toBe('app-1');
  });

  it('release removes only its own lock, never one a later STRAM took over', () => {
    const lock = AppLock.acquire(dir, 'app-1');
    const other = { pid: process.pid, startTime: startTimeOf(process.pid), appId: 'app-2', since: '2030-01-01T00:00:00.000Z' };
    writeFileSync(lockPath(dir), `${JSON.stringify(other)}\n`);
    lock.release();
    expect(held()).toEqual(other);
  });
});
