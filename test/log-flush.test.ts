import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectControl } from '@sluice/buffer-server';
import { startBsProcess, type BsProcess } from './helpers/bs-process.js';

/**
 * Servers log asynchronously (common's asyncStderr): a process that ends right after logging
 * still writes every line — on a normal end, process.exit, a crash and SIGTERM.
 */

const ROOT = resolve(import.meta.dirname, '..');
const BURST = join(ROOT, 'test', 'dist', 'helpers', 'log-burst.js');
const LINES = 20_000;

function burst(how: string): Promise<{ code: number | null; numbers: number[] }> {
  const proc = spawn(process.execPath, [BURST, how, String(LINES)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((res) =>
    proc.on('close', (code) => {
      const numbers = err
        .split('\n')
        .filter((l) => l.includes('"burst line"'))
        .map((l) => (JSON.parse(l) as { i: number }).i);
      res({ code, numbers });
    }),
  );
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
      .map((l) => JSON.parse(l) as { msg: string; role?: string });
    expect(lines.filter((l) => l.msg === 'authenticated' && l.role === 'control')).toHaveLength(n);
    expect(lines.filter((l) => l.msg === 'closed' && l.role === 'control')).toHaveLength(n);
    expect(lines.at(-1)?.msg).toBe('buffer server stopped; spool removed');
  });
});
