/**
 * The files `sluice init` writes: a small app that builds with tsc and tests with the local
 * harness (docs/guide.md "Write an app"). Numbers emits w*100 .. w*100+9 in window w; Sum adds
 * each window's numbers and keeps a running total as its checkpointed state; Writer writes each
 * window's sum to `<app dir>/output/sum-<w>.json`, idempotently per window.
 */

/** `dependencies` and `devDependencies`: package name → `file:<folder in this installation>`. */
export function templateFiles(name: string, dependencies: Record<string, string>, devDependencies: Record<string, string>): Record<string, string> {
  return {
    'package.json': `${JSON.stringify(
      {
        name,
        version: '0.1.0',
        private: true,
        type: 'module',
        main: 'dist/app.js',
        scripts: { build: 'tsc -p .', test: 'vitest run --dir src', launch: 'sluice launch .' },
        dependencies,
        devDependencies,
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: ['node'],
          strict: true,
          skipLibCheck: true,
          rootDir: 'src',
          outDir: 'dist',
        },
        include: ['src'],
      },
      null,
      2,
    )}\n`,
    '.gitignore': 'node_modules/\ndist/\n.sluice/\n',
    'src/app.ts': APP.replace('__NAME__', name),
    'src/app.test.ts': TEST,
  };
}

const APP = `import { join } from 'node:path';
import { Operator, defineApp, writeFileAtomic, type OperatorContext } from '@sluice/app';

/** An input operator: emits w*100 .. w*100+9 in window w. */
export class Numbers extends Operator {
  out = this.output<number>();
  emitTuples(w: number): void {
    for (let i = 0; i < 10; i++) this.out.emit(w * 100 + i);
  }
}

export interface WindowSum {
  w: number;
  sum: number;
  total: number;
}

/** Sums each window's numbers; the running total is its state, saved at checkpoints. */
export class Sum extends Operator {
  private sum = 0;
  private total = 0;
  sums = this.output<WindowSum>();
  in = this.input<number>((n) => {
    this.sum += n;
    this.total += n;
  });
  beginWindow(): void {
    this.sum = 0;
  }
  endWindow(w: number): void {
    this.sums.emit({ w, sum: this.sum, total: this.total });
  }
  checkpoint(): unknown {
    return { total: this.total };
  }
  restore(state: unknown): void {
    this.total = (state as { total?: number } | null)?.total ?? 0;
  }
}

/** Writes each window's sum to <app dir>/output/sum-<w>.json: a replayed window rewrites the same file. */
export class Writer extends Operator {
  private dir = '';
  in = this.input<WindowSum>((s) => writeFileAtomic(join(this.dir, 'output', \`sum-\${s.w}.json\`), \`\${JSON.stringify(s)}\\n\`, 0o644));
  setup(ctx: OperatorContext): void {
    this.dir = ctx.appDir;
  }
}

export default defineApp({
  name: '__NAME__',
  operators: {
    numbers: { create: () => new Numbers() },
    sum: { create: () => new Sum() },
    writer: { create: () => new Writer() },
  },
  streams: {
    numbers: { from: 'numbers.out', to: ['sum.in'] },
    sums: { from: 'sum.sums', to: ['writer.in'] },
  },
});
`;

const TEST = `import { expect, test } from 'vitest';
import { runLocal } from '@sluice/container';
import app from './app.js';

// Window w holds w*100 .. w*100+9, whose sum is 1000*w + 45.
const sumOf = (w: number): number => 1000 * w + 45;
const totalTo = (w: number): number => 500 * w * (w + 1) + 45 * w;

test('sums every window and keeps the running total', async () => {
  const run = await runLocal(app, { windows: 5 });
  try {
    expect(run.outputs('sums').map((o) => o.tuples)).toEqual([1, 2, 3, 4, 5].map((w) => [{ w, sum: sumOf(w), total: totalTo(w) }]));
  } finally {
    run.close();
  }
});

test('restored from its checkpoint, sum carries its total on', async () => {
  const first = await runLocal(app, { windows: 10, checkpointWindows: 5 });
  try {
    expect(first.checkpoint('sum#0', 5)).toEqual({ total: totalTo(5) });
    const again = await runLocal(app, { windows: 5, checkpointWindows: 5, dir: first.dir, restoreWindow: 5 });
    expect(again.outputs('sums')).toEqual(first.outputs('sums').slice(5));
  } finally {
    first.close();
  }
});
`;
