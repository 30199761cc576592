import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SluiceError, type StreamFrameHeader } from '@sluice/common';
import { PublisherSession } from './publisher.js';
import { Spool } from './spool.js';
import { StreamStore } from './stream-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(memoryLimit = 64 * 1024, spoolLimit = 1024 * 1024): { store: StreamStore; spool: Spool } {
  const dir = mkdtempSync(join(tmpdir(), 'bs-unit-'));
  dirs.push(dir);
  const spool = new Spool(dir, 'unit', spoolLimit);
  return { store: new StreamStore(spool, { memoryLimit }), spool };
}

const frame = (n: number, fill = 1): Buffer => Buffer.alloc(n, fill);

describe('PublisherSession (window bookkeeping, one frame at a time)', () => {
  it('accepts begin / data / end with increasing windows', () => {
    const { store } = setup();
    const s = store.stream('a');
    const p = new PublisherSession(s, store, 3);
    p.handle({ t: 'begin', w: 3, count: 0 }, frame(4));
    p.handle({ t: 'data', w: 3, count: 2 }, frame(10));
    p.handle({ t: 'end', w: 3, count: 0 }, frame(4));
    p.handle({ t: 'begin', w: 9, count: 0 }, frame(4));
    expect(s.windows.map((w) => [w.w, w.count, w.complete, w.tuples])).toEqual([
      [3, 3, true, 2],
      [9, 1, false, 0],
    ]);
  });

  it.each([
    ['a window below the auth window', [['begin', 2]], 'WINDOW_OUT_OF_ORDER'],
    ['a repeated window', [['begin', 5], ['end', 5], ['begin', 5]], 'WINDOW_OUT_OF_ORDER'],
    ['data outside begin/end', [['data', 5]], 'UNEXPECTED_MESSAGE'],
    ['end of another window', [['begin', 5], ['end', 6]], 'WINDOW_OUT_OF_ORDER'],
    ['begin inside a window', [['begin', 5], ['begin', 6]], 'UNEXPECTED_MESSAGE'],
  ])('refuses %s with a 4400 error', (_name, steps, code) => {
    const { store } = setup();
    const p = new PublisherSession(store.stream('a'), store, 3);
    const run = (): void => {
      for (const [t, w] of steps as [string, number][]) p.handle({ t, w, count: 1 } as StreamFrameHeader, frame(4));
    };
    expect(run).toThrow(SluiceError);
    try {
      run();
    } catch (err) {
      expect(err).toMatchObject({ closeCode: 4400 });
    }
    expect(() => {
      const q = new PublisherSession(store.stream('b'), store, 3);
      for (const [t, w] of steps as [string, number][]) q.handle({ t, w, count: 1 } as StreamFrameHeader, frame(4));
    }).toThrow(expect.objectContaining({ code }));
  });

  it('a re-registering publisher replaces windows from its window and drops an open one', () => {
    const { store } = setup();
    const s = store.stream('a');
    const p = new PublisherSession(s, store, 0);
    for (const w of [0, 1, 2]) {
      p.handle({ t: 'begin', w, count: 0 }, frame(4));
      p.handle({ t: 'end', w, count: 0 }, frame(4));
    }
    p.handle({ t: 'begin', w: 3, count: 0 }, frame(4));
    new PublisherSession(s, store, 2);
    expect(s.windows.map((w) => w.w)).toEqual([0, 1]);
    expect(store.memoryBytes).toBe(16);
  });
});

describe('StreamStore (memory, spool, purge)', () => {
  it('spills the oldest windows past half the limit, reads them back in order, purges files', () => {
    const { store, spool } = setup(64 * 1024);
    const s = store.stream('a');
    const p = new PublisherSession(s, store, 0);
    for (let w = 0; w < 10; w++) {
      p.handle({ t: 'begin', w, count: 0 }, frame(8, w));
      p.handle({ t: 'data', w, count: 1 }, frame(8 * 1024, w));
      p.handle({ t: 'end', w, count: 0 }, frame(8, w));
    }
    expect(store.memoryBytes).toBeLessThanOrEqual(32 * 1024);
    expect(spool.bytes).toBeGreaterThan(0);
    const first = s.windows[0]!;
    expect(first.spooled).toBe(3);
    const back = store.readSpooled(first, 0, 1 << 20);
    expect(back.map((b) => b.length)).toEqual([8]);
    expect(store.readSpooled(first, 1, 1 << 20)[0]).toEqual(frame(8 * 1024, 0));
    const files = readdirSync(spool.directory).length;
    expect(files).toBeGreaterThan(0);
    store.purge(s, 9);
    expect(store.memoryBytes).toBe(0);
    expect(spool.bytes).toBe(0);
    expect(readdirSync(spool.directory)).toEqual([]);
    expect(s.startFor(0)).toBe(10);
    spool.removeAll();
    expect(existsSync(spool.directory)).toBe(false);
  });

  it('says when publishers must pause (spool full) and when they may resume (after a purge)', () => {
    const { store } = setup(64 * 1024, 16 * 1024);
    const s = store.stream('a');
    const p = new PublisherSession(s, store, 0);
    let w = 0;
    while (!store.overLimit) {
      p.handle({ t: 'begin', w, count: 0 }, frame(8));
      p.handle({ t: 'data', w, count: 1 }, frame(4 * 1024));
      p.handle({ t: 'end', w, count: 0 }, frame(8));
      w++;
    }
    expect(store.belowResume).toBe(false);
    store.purge(s, w - 1);
    expect(store.belowResume).toBe(true);
  });

  it('startFor: the requested window, the oldest retained, or the next after a purge', () => {
    const { store } = setup();
    const s = store.stream('a');
    expect(s.startFor(4)).toBe(4);
    const p = new PublisherSession(s, store, 10);
    p.handle({ t: 'begin', w: 10, count: 0 }, frame(4));
    expect(s.startFor(0)).toBe(10);
    expect(s.startFor(11)).toBe(11);
    store.purge(s, 12);
    expect(s.startFor(0)).toBe(13);
  });
});
