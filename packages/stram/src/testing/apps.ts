import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Self-contained app modules for tests: plain objects with branded ports (app/operator.ts uses
 * `Symbol.for('sluice.port')`), so a module written to a temp directory needs no imports.
 *
 * `pipeline`: gen → count (2 partitions) → sink, one container each: c1 gen, c2 count#0,
 * c3 count#1, c4 sink (`store-pipeline`: the same, its sink using PostgreSQL). `cycle`: a → b → a.
 */
const PRELUDE = `
const BRAND = Symbol.for('sluice.port');
const output = () => ({ [BRAND]: 'output', sink: undefined, emit(t) { this.sink?.(t); }, connect(s) { this.sink = s; } });
const input = (process) => ({ [BRAND]: 'input', process, partitionKey: undefined });
`;

const APPS = {
  pipeline: `${PRELUDE}
export default {
  name: 'pipeline',
  operators: {
    gen: { create: () => ({ out: output(), emitTuples() {} }) },
    count: { partitions: 2, create: () => ({ in: input(() => {}), out: output() }) },
    sink: { create: () => ({ in: input(() => {}) }) },
  },
  streams: {
    words: { from: 'gen.out', to: ['count.in'] },
    counts: { from: 'count.out', to: ['sink.in'] },
  },
};
`,
  /** `pipeline` whose sink (c4 alone) declares it writes to PostgreSQL. */
  'store-pipeline': `${PRELUDE}
export default {
  name: 'store-pipeline',
  operators: {
    gen: { create: () => ({ out: output(), emitTuples() {} }) },
    count: { partitions: 2, create: () => ({ in: input(() => {}), out: output() }) },
    sink: { uses: ['postgres'], create: () => ({ in: input(() => {}) }) },
  },
  streams: {
    words: { from: 'gen.out', to: ['count.in'] },
    counts: { from: 'count.out', to: ['sink.in'] },
  },
};
`,
  cycle: `${PRELUDE}
export default {
  name: 'cycle',
  operators: {
    src: { create: () => ({ out: output(), emitTuples() {} }) },
    a: { create: () => ({ in: input(() => {}), back: input(() => {}), out: output() }) },
    b: { create: () => ({ in: input(() => {}), out: output() }) },
  },
  streams: {
    s0: { from: 'src.out', to: ['a.in'] },
    s1: { from: 'a.out', to: ['b.in'] },
    s2: { from: 'b.out', to: ['a.back'] },
  },
};
`,
} as const;

export type TestAppKind = keyof typeof APPS;

/** Writes the app module `kind` into `dir` and returns its path. */
export function writeTestApp(dir: string, kind: TestAppKind): string {
  const path = join(dir, `${kind}.mjs`);
  writeFileSync(path, APPS[kind]);
  return path;
}
