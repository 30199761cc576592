import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Operator, defineApp, writeFileAtomic, type AppDefinition, type OperatorContext } from '@sluice/common';

/**
 * A small app for the failure tests (test/runtime-failure-policy.test.ts): numbers → a summer in
 * a container of its own → an output operator writing each window's sum to
 * `<app dir>/output/window-<w>.json` (idempotent per window, so the result is exact after any
 * number of restarts). The generator emits in windows 1..WINDOWS only. How the summer fails is
 * what the app modules built from this differ in: throws-always-app.ts, throws-once-app.ts.
 */

export const WINDOWS = 40;
const PER_WINDOW = 20;

/** The numbers of window w. */
const numbersOf = (w: number): number[] => (w > WINDOWS ? [] : Array.from({ length: PER_WINDOW }, (_, i) => w * 1000 + i));

/** What every window's file must say once the app is done. */
export function expectedSums(): Record<number, number> {
  const sums: Record<number, number> = {};
  for (let w = 1; w <= WINDOWS; w++) sums[w] = numbersOf(w).reduce((a, b) => a + b, 0);
  return sums;
}

/** The sums the output wrote, by window. */
export function writtenSums(appDir: string): Record<number, number> {
  const dir = join(appDir, 'output');
  const sums: Record<number, number> = {};
  if (!existsSync(dir)) return sums;
  for (const f of readdirSync(dir)) {
    const m = /^window-(\d+)\.json$/.exec(f);
    if (m) sums[Number(m[1])] = (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { sum: number }).sum;
  }
  return sums;
}

class Numbers extends Operator {
  out = this.output<number>();
  emitTuples(w: number): void {
    for (const n of numbersOf(w)) this.out.emit(n);
  }
}

/** Decides, for each number, whether the summer throws now: given the window and the app directory. */
export type Fault = (w: number, appDir: string) => void;

class Summer extends Operator {
  private w = 0;
  private sum = 0;
  private appDir = '';
  sums = this.output<{ w: number; sum: number }>();
  numbers = this.input<number>((n) => {
    this.fault(this.w, this.appDir);
    this.sum += n;
  });
  constructor(private readonly fault: Fault) {
    super();
  }
  setup(ctx: OperatorContext): void {
    this.appDir = ctx.appDir;
  }
  beginWindow(w: number): void {
    this.w = w;
    this.sum = 0;
  }
  endWindow(w: number): void {
    if (w <= WINDOWS) this.sums.emit({ w, sum: this.sum });
  }
}

class Output extends Operator {
  private appDir = '';
  sums = this.input<{ w: number; sum: number }>((s) => writeFileAtomic(join(this.appDir, 'output', `window-${s.w}.json`), `${JSON.stringify(s)}\n`));
  setup(ctx: OperatorContext): void {
    this.appDir = ctx.appDir;
  }
}

export function summingApp(name: string, fault: Fault): AppDefinition {
  return defineApp({
    name,
    operators: {
      numbers: { create: () => new Numbers() },
      summer: { create: () => new Summer(fault) },
      output: { create: () => new Output() },
    },
    streams: {
      numbers: { from: 'numbers.out', to: ['summer.numbers'] },
      sums: { from: 'summer.sums', to: ['output.sums'] },
    },
  });
}

/** Marks that something happened once in this app directory (a file in output/); true the first time only. */
export function firstTime(appDir: string, what: string): boolean {
  const mark = join(appDir, 'output', `.${what}`);
  if (existsSync(mark)) return false;
  writeFileSync(mark, '');
  return true;
}
