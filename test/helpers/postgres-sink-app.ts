import { PostgresWindowSink } from '@sluice/app';
import { Operator, defineApp } from '@sluice/common';

/**
 * A small app for the store tests (test/store-sink.test.ts): numbers (container c1) → a
 * PostgresWindowSink (c2, the only operator that uses PostgreSQL) writing each window's numbers
 * to `<app schema>.numbers`. The generator emits in windows 1..WINDOWS only.
 */
export const WINDOWS = 60;
export const PER_WINDOW = 25;

class Numbers extends Operator {
  out = this.output<number>();
  emitTuples(w: number): void {
    if (w <= WINDOWS) for (let i = 0; i < PER_WINDOW; i++) this.out.emit(w * 1000 + i);
  }
}

export default defineApp({
  name: 'pg-sink',
  operators: {
    numbers: { create: () => new Numbers() },
    sink: { create: () => new PostgresWindowSink<number>('numbers'), uses: ['postgres'] },
  },
  streams: {
    numbers: { from: 'numbers.out', to: ['sink.in'] },
  },
});
