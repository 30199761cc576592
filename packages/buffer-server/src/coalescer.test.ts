import { describe, expect, it } from 'vitest';
import { decode } from '@sluice/common';
import { DataCoalescer, type CoalescerOptions } from './coalescer.js';

interface Sent {
  t: string;
  w: number;
  tuples: unknown[];
  p?: number[];
}

/** A coalescer whose deferred flushes run only when the test says so. */
function rig(o: Partial<CoalescerOptions> = {}): { c: DataCoalescer; sent: Sent[]; frames: Buffer[]; runDeferred(): void; errors: unknown[] } {
  const sent: Sent[] = [];
  const frames: Buffer[] = [];
  const errors: unknown[] = [];
  let pending: (() => void)[] = [];
  const c = new DataCoalescer({
    send: (f) => {
      frames.push(f);
      sent.push(decode(f) as Sent);
    },
    onDeferredError: (e) => errors.push(e),
    defer: (f) => pending.push(f),
    ...o,
  });
  return {
    c,
    sent,
    frames,
    errors,
    runDeferred: () => {
      const run = pending;
      pending = [];
      for (const f of run) f();
    },
  };
}

describe('DataCoalescer', () => {
  it('sends single tuples of one window as one frame, in order, once the turn is over', () => {
    const { c, sent, runDeferred } = rig();
    for (let i = 0; i < 10; i++) c.data(4, [i]);
    expect(sent).toEqual([]);
    runDeferred();
    expect(sent).toEqual([{ t: 'data', w: 4, tuples: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }]);
  });

  it('sends a frame as soon as it holds maxTuples', () => {
    const { c, sent } = rig({ maxTuples: 4, asIsFrom: 4 });
    for (let i = 0; i < 9; i++) c.data(1, [i]);
    expect(sent.map((m) => m.tuples)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect(c.held).toBe(1);
  });

  it('flush sends what is held; nothing is left for the deferred turn', () => {
    const { c, sent, runDeferred } = rig();
    c.data(2, ['a']);
    c.data(2, ['b']);
    c.flush();
    expect(sent).toEqual([{ t: 'data', w: 2, tuples: ['a', 'b'] }]);
    runDeferred();
    expect(sent).toHaveLength(1);
  });

  it('never mixes windows, or batches with and without partition values, in one frame', () => {
    const { c, sent } = rig();
    c.data(1, ['a']);
    c.data(2, ['b']);
    c.data(2, ['c'], [7]);
    c.data(2, ['d'], [8]);
    c.data(2, ['e']);
    c.flush();
    expect(sent).toEqual([
      { t: 'data', w: 1, tuples: ['a'] },
      { t: 'data', w: 2, tuples: ['b'] },
      { t: 'data', w: 2, tuples: ['c', 'd'], p: [7, 8] },
      { t: 'data', w: 2, tuples: ['e'] },
    ]);
  });

  it('sends a large batch as it is, after the tuples held before it', () => {
    const { c, sent } = rig({ maxTuples: 8, asIsFrom: 4 });
    c.data(1, ['x']);
    c.data(1, [1, 2]);
    c.data(1, [1, 2, 3, 4]);
    expect(sent.map((m) => m.tuples)).toEqual([['x', 1, 2], [1, 2, 3, 4]]);
  });

  it('splits a coalesced frame that would exceed maxBytes, keeping tuple order', () => {
    const { c, sent, frames } = rig({ maxBytes: 1000 });
    const big = 'x'.repeat(300);
    for (let i = 0; i < 10; i++) c.data(1, [`${i}${big}`], [i]);
    c.flush();
    expect(frames.every((f) => f.length <= 1000)).toBe(true);
    expect(sent.flatMap((m) => m.tuples)).toEqual(Array.from({ length: 10 }, (_, i) => `${i}${big}`));
    expect(sent.flatMap((m) => m.p)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it('ignores empty batches', () => {
    const { c, sent, runDeferred } = rig();
    c.data(1, []);
    runDeferred();
    expect(sent).toEqual([]);
  });

  it('reports a deferred send that fails instead of throwing from the event loop', () => {
    const boom = new Error('closing');
    const { c, errors, runDeferred } = rig({
      send: () => {
        throw boom;
      },
    });
    c.data(1, ['a']);
    runDeferred();
    expect(errors).toEqual([boom]);
  });
});
