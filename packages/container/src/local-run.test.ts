import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { Operator, defineApp } from '@sluice/common';
import { runLocal } from './local-run.js';

/** runLocal's wiring; the word count (packages/cli/src/demo/wordcount-local.test.ts) covers partitions and checkpoints. */

class Count extends Operator {
  out = this.output<number>();
  constructor(private readonly step: number) {
    super();
  }
  emitTuples(w: number): void {
    for (let i = 1; i <= 3; i++) this.out.emit(w * this.step + i);
  }
}

/** Joins two inputs per window: the window tracker aligns them, so each window's sum covers both. */
class Join extends Operator {
  private sum = 0;
  sums = this.output<{ w: number; sum: number }>();
  left = this.input<number>((n) => (this.sum += n));
  right = this.input<number>((n) => (this.sum += n));
  beginWindow(): void {
    this.sum = 0;
  }
  endWindow(w: number): void {
    this.sums.emit({ w, sum: this.sum });
  }
}

class Sink extends Operator {
  in = this.input<unknown>(() => undefined);
}

class FailsAt extends Operator {
  in = this.input<unknown>(() => undefined);
  constructor(private readonly at: number) {
    super();
  }
  endWindow(w: number): void {
    if (w === this.at) throw new Error(`failed at window ${w}`);
  }
}

const joined = defineApp({
  name: 'joined',
  operators: {
    a: { create: () => new Count(10) },
    b: { create: () => new Count(100) },
    join: { create: () => new Join() },
    sink: { create: () => new Sink() },
  },
  streams: {
    as: { from: 'a.out', to: ['join.left'], locality: 'container' },
    bs: { from: 'b.out', to: ['join.right'] },
    sums: { from: 'join.sums', to: ['sink.in'] },
  },
});

describe('runLocal', () => {
  it('aligns the windows of two inputs, one of them container-local, and records every stream per window', async () => {
    const run = await runLocal(joined, { windows: 4 });
    try {
      expect(run.outputs('as')).toEqual([1, 2, 3, 4].map((w) => ({ w, tuples: [w * 10 + 1, w * 10 + 2, w * 10 + 3] })));
      expect(run.outputs('sums')).toEqual([1, 2, 3, 4].map((w) => ({ w, tuples: [{ w, sum: 3 * (w * 10) + 3 * (w * 100) + 12 }] })));
      expect(() => run.outputs('nope')).toThrow(/no stream "nope"/);
    } finally {
      run.close();
    }
    expect(existsSync(run.dir)).toBe(false);
  });

  it("fails with the operator's error when a hook throws, and removes its temporary directory", async () => {
    const app = defineApp({
      name: 'failing',
      operators: { a: { create: () => new Count(1) }, f: { create: () => new FailsAt(3) } },
      streams: { s: { from: 'a.out', to: ['f.in'] } },
    });
    const leftovers = () => readdirSync(tmpdir()).filter((f) => f.startsWith('sluice-local-failing-'));
    const before = leftovers();
    await expect(runLocal(app, { windows: 10 })).rejects.toThrow('failed at window 3');
    expect(leftovers()).toEqual(before);
  });
});
