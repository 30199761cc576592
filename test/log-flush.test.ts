import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectControl } from '@sluice/buffer-server';
import { generateSecret, writeSecretFile } from '@sluice/common';
import { startBsProcess, type BsProcess } from './helpers/bs-process.js';

/**
 * Servers log asynchronously (common's asyncStderr): a process that ends right after logging
 * still writes every line — on a normal end, process.exit, a crash and SIGTERM — and a process
 * whose log reader is slow, or has gone away, still ends.
 */

const ROOT = resolve(import.meta.dirname, '..');
const BURST = join(ROOT, 'test', 'dist', 'helpers', 'log-burst.js');
const LINES = 20_000;

const CLI = join(ROOT, 'packages', 'cli', 'bin', 'sluice.js');

function numbersIn(err: string): number[] {
  return err
    .split('\n')
    .filter((l) => l.includes('"burst line"'))
    .map((l) => (JSON.parse(l) as { i: number }).i);
}

/** Runs the burst helper (~2 MB of lines), read as it comes or slowly. */
function burst(how: string, o: { slowReader?: boolean } = {}): Promise<{ code: number | null; numbers: number[] }> {
  const proc = spawn(process.execPath, [BURST, how, String(LINES)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const stderr = proc.stderr.setEncoding('utf8');
  // Slow: after each chunk the reader pauses 10 ms (a 'data' reader: Node discards what a paused
  // stream without one still holds when the child exits).
  stderr.on('data', (d: string) => {
    err += d;
    if (o.slowReader) {
      stderr.pause();
      setTimeout(() => stderr.resume(), 10);
    }
  });
  return new Promise((res) => proc.on('close', (code) => res({ code, numbers: numbersIn(err) })));
}

const ALL = Array.from({ length: LINES }, (_, i) => i);

describe('asynchronous logs lose no line when the process ends', () => {
  it.each([
    ['return', 0],
    ['exit', 3],
    ['throw', 1],
    ['reject', 1],
    ['sigterm', 0],
  ])('every line of a burst is written, in order, when the process ends by %s', async (how, code) => {
    const r = await burst(how);
    expect(r.code).toBe(code);
    expect(r.numbers).toEqual(ALL);
  });

  it.each(['return', 'sigterm'])('a slow reader still gets every line, in order, and the process ends by %s', async (how) => {
    const r = await burst(how, { slowReader: true });
    expect(r.code).toBe(0);
    expect(r.numbers).toEqual(ALL);
  });

  // spawnSync kills a child at its timeout (SIGTERM) or maxBuffer and closes its end of the pipes
  // at once: the child's last writes find no reader (EPIPE) and must not hold the process.
  it('a process logging when spawnSync times out and closes the pipe ends on the SIGTERM', () => {
    const r = spawnSync(process.execPath, [BURST, 'serve', String(LINES)], { encoding: 'utf8', timeout: 1_500, maxBuffer: 64 << 20 });
    expect((r.error as NodeJS.ErrnoException | undefined)?.code).toBe('ETIMEDOUT');
    expect(r.status).toBe(0);
    const numbers = numbersIn(r.stderr);
    expect(numbers.slice(0, LINES)).toEqual(ALL);
    expect(numbers).toEqual(numbers.map((_, i) => i));
  });

  it('a process whose reader stops at spawnSync maxBuffer ends on the SIGTERM', () => {
    const r = spawnSync(process.execPath, [BURST, 'serve', String(LINES)], { encoding: 'utf8', maxBuffer: 4096, timeout: 60_000 });
    expect((r.error as NodeJS.ErrnoException | undefined)?.code).toBe('ENOBUFS');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
  });

  it('a process whose stderr pipe nobody reads (or closes) still ends on SIGTERM', async () => {
    const proc = spawn(process.execPath, [BURST, 'serve', String(LINES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      // Its SIGTERM handler is in place once it says ready; then 20,000 lines fill the pipe nobody reads.
      await once(proc.stdout, 'data');
      await new Promise((res) => setTimeout(res, 300));
      const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
      proc.kill('SIGTERM');
      // The final write gives up on a pipe that took nothing for FINAL_FLUSH_MS.
      expect(await exited).toBe(0);
    } finally {
      proc.stderr.destroy();
      proc.kill('SIGKILL');
    }
  });

  it('sluice buffer-server with stderr piped, stopped by spawnSync timeout, exits cleanly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-logflush-'));
    const secret = join(dir, 'bs.secret');
    writeSecretFile(secret, generateSecret());
    const r = spawnSync(process.execPath, [CLI, 'buffer-server', '--id', 'bs-1', '--secret-file', secret, '--spool-dir', join(dir, 'spool')], { encoding: 'utf8', timeout: 2_000 });
    expect((r.error as NodeJS.ErrnoException | undefined)?.code).toBe('ETIMEDOUT');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^listening ws:\/\/127\.0\.0\.1:\d+\n$/);
    expect(JSON.parse(r.stderr.split('\n')[0]!)).toMatchObject({ name: 'buffer-server', msg: 'buffer server listening' });
  });

  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  it('sluice buffer-server stopped by SIGTERM right after a burst of connections has logged each of them', async () => {
    const bs: BsProcess = await startBsProcess();
    let stopped = false;
    cleanup.push(async () => stopped || (await bs.stop()));
    const n = 100;
    await Promise.all(
      Array.from({ length: n }, async () => {
        const c = await connectControl({ url: bs.url, token: bs.mint('control', []) });
        await c.close();
      }),
    );
    expect(await bs.stop()).toBe(0);
    stopped = true;
    const lines = bs
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; role?: string; conn?: number; seq?: number; code?: number });
    // Each connection's one info line (at its end: who it was and how it ended), none lost.
    const closed = lines.filter((l) => l.msg === 'closed' && l.role === 'control');
    expect(closed).toHaveLength(n);
    expect(new Set(closed.map((l) => l.conn)).size).toBe(n);
    expect(closed.every((l) => typeof l.seq === 'number' && l.code === 1000)).toBe(true);
    expect(lines.at(-1)?.msg).toBe('buffer server stopped; spool removed');
  });
});
