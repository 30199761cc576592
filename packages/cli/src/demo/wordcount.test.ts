import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, planApp, validateApp } from '@sluice/common';
import app, { Counter, Output, expectedCounts, readActualCounts, wordsOf, configOf } from './wordcount.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('word-count demo', () => {
  it('plans into generator, two counter partitions and output, each in its own container', () => {
    const plan = planApp(validateApp(app, { seed: 3 }));
    expect(plan.containers.map((c) => c.operators)).toEqual([['generator#0'], ['counter#0'], ['counter#1'], ['output#0']]);
  });

  it('generates the same words for the same (seed, window) and stops after `windows`', () => {
    const c = configOf({ seed: 7, tuplesPerWindow: 50, windows: 3 });
    expect(wordsOf(c, 2)).toEqual(wordsOf(c, 2));
    expect(wordsOf(c, 2)).not.toEqual(wordsOf(c, 1));
    expect(wordsOf(c, 4)).toEqual([]);
    const total = Object.values(expectedCounts({ seed: 7, tuplesPerWindow: 50, windows: 3 }, [1, 2, 3, 4])).reduce((a, b) => a + b, 0);
    expect(total).toBe(150);
  });

  it('writes each window once, idempotently, and reads the counts back', () => {
    const appDir = mkdtempSync(join(tmpdir(), 'sluice-wc-'));
    dirs.push(appDir);
    const out = new Output();
    out.setup({ id: 'output#0', name: 'output', partition: 0, partitions: 1, appDir, logger: createLogger({ name: 'test', level: 'silent' }) });
    for (let pass = 0; pass < 2; pass++) {
      // the second pass is a replay of window 1: same file, same content
      out.beginWindow();
      out.counts.process({ w: 1, counts: { apex: 2 } });
      out.counts.process({ w: 1, counts: { apex: 1, dag: 4 } });
      out.endWindow(1);
    }
    expect(readActualCounts(appDir)).toEqual({ windows: [1], counts: { apex: 3, dag: 4 } });
  });

  it('counter restores its running totals from a checkpoint', () => {
    const a = new Counter();
    a.beginWindow();
    a.words.process('apex');
    const b = new Counter();
    b.restore(a.checkpoint());
    expect(b.checkpoint()).toEqual({ totals: { apex: 1 } });
  });
});
