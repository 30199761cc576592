import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLocal } from '@sluice/container';
import app, { expectedCounts, readActualCounts, wordsOf, configOf, type WindowCounts } from './wordcount.js';

/** The local harness (packages/container/src/local-run.ts) driving the demo word count: real operators, windows and checkpoints, one process. */

const config = { seed: 5, tuplesPerWindow: 40 };
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A window's counts merged over the counter's partitions. */
function merged(run: { outputs(stream: string): { w: number; tuples: unknown[] }[] }): Map<number, Record<string, number>> {
  const out = new Map<number, Record<string, number>>();
  for (const { w, tuples } of run.outputs('counts')) {
    const into: Record<string, number> = {};
    for (const t of tuples as WindowCounts[]) for (const [word, n] of Object.entries(t.counts)) into[word] = (into[word] ?? 0) + n;
    out.set(w, into);
  }
  return out;
}

describe('runLocal', () => {
  it('runs the word count for 20 windows: every window counted exactly, the words split by partition', async () => {
    const run = await runLocal(app, { windows: 20, config });
    try {
      expect(run.lastWindow).toBe(20);
      expect(run.outputs('words').map((o) => o.w)).toEqual(range(1, 20));
      for (const { w, tuples } of run.outputs('words')) expect(tuples).toEqual(wordsOf(configOf(config), w));
      const counts = merged(run);
      expect([...counts.keys()]).toEqual(range(1, 20));
      for (const [w, c] of counts) expect(c).toEqual(expectedCounts(config, [w]));
      // Each word is counted by one partition only: the partition filter of a buffer server applies.
      for (const { tuples } of run.outputs('counts')) {
        const [a, b] = tuples as WindowCounts[];
        if (a && b) for (const word of Object.keys(a.counts)) expect(b.counts[word]).toBeUndefined();
      }
      // The output operator wrote its files into the run's app directory, as in a launched app.
      expect(readActualCounts(run.dir)).toEqual({ windows: range(1, 20), counts: expectedCounts(config, range(1, 20)) });
      expect(run.stats().map((s) => [s.id, s.window])).toEqual([['generator#0', 20], ['counter#0', 20], ['counter#1', 20], ['output#0', 20]]);
    } finally {
      run.close();
    }
  });

  it('checkpoints every n windows, and a run restored from a checkpoint gives the same outputs after it', async () => {
    const first = await runLocal(app, { windows: 20, config, checkpointWindows: 10 });
    try {
      expect(first.checkpoints('counter#0')).toEqual([10, 20]);
      const totals = (first.checkpoint('counter#0', 10) as { totals: Record<string, number> }).totals;
      expect(Object.values(totals).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      const second = await runLocal(app, { windows: 10, config, checkpointWindows: 10, dir: first.dir, restoreWindow: 10 });
      expect(second.outputs('counts').map((o) => o.w)).toEqual(range(11, 20));
      const before = merged(first);
      for (const [w, c] of merged(second)) expect(c).toEqual(before.get(w));
      // The restored counters carried their totals on: the checkpoints at 20 agree across the runs.
      expect(second.checkpoint('counter#0', 20)).toEqual(first.checkpoint('counter#0', 20));
      expect(JSON.parse(readFileSync(join(first.dir, 'output', 'window-20.json'), 'utf8')).window).toBe(20);
    } finally {
      first.close();
    }
  });

  it('refuses a run of no windows, and config the operators refuse, as a launch does', async () => {
    await expect(runLocal(app, { windows: 0 })).rejects.toThrow(/windows must be a positive/);
    await expect(runLocal(app, { windows: 3, config: { seed: -1 } })).rejects.toThrow(/config key "seed" of operator "generator": -1 is refused/);
  });
});
