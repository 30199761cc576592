import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Operator, defineApp, hashString, writeFileAtomic, z, type OperatorContext } from '@sluice/common';

/**
 * The word-count demo (`sluice demo`): a seeded generator → a counter with 2 partitions (or
 * `--partitions` 1 or 4: wordcount-<n>p.ts) in separate containers (stream partitioned by word hash) → an output operator writing each
 * window's counts to `<appDir>/output/window-<w>.json`. The output is idempotent per window (a
 * replayed window overwrites the same file atomically), so results are exactly-once even though
 * processing is at-least-once (docs/architecture.md "Recovery").
 *
 * Config (declared by the generator, docs/guide.md "Config"): seed (default 1), tuplesPerWindow
 * (default 100), windows (emit only in windows 1..windows; default 0 = forever).
 */

export const VOCABULARY = [
  'apex', 'buffer', 'checkpoint', 'container', 'dag', 'operator', 'partition', 'port',
  'stram', 'stream', 'token', 'tuple', 'umbilical', 'window', 'sluice', 'heartbeat',
] as const;

const count = z.number().int().min(0);
const generatorConfig = z.object({ seed: count.default(1), tuplesPerWindow: count.default(100), windows: count.default(0) });
export type WordCountConfig = z.output<typeof generatorConfig>;

/** The generator's config from raw entries, defaults applied (what `expectedCounts` replays). */
export function configOf(config: Record<string, unknown>): WordCountConfig {
  return generatorConfig.parse(config);
}

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The words the generator emits in window w: a pure function of (seed, w). */
export function wordsOf(config: WordCountConfig, w: number): string[] {
  if (config.windows > 0 && w > config.windows) return [];
  const random = mulberry32(Math.imul(config.seed, 0x9e3779b1) ^ Math.imul(w, 0x85ebca6b));
  // A plain loop: Array.from with a mapping function was a quarter of the generator's time at 1 M words a window.
  const words = new Array<string>(config.tuplesPerWindow);
  for (let i = 0; i < words.length; i++) words[i] = VOCABULARY[Math.floor(random() * VOCABULARY.length)]!;
  return words;
}

export class Generator extends Operator.withConfig(generatorConfig) {
  words = this.output<string>();
  emitTuples(w: number): void {
    for (const word of wordsOf(this.config, w)) this.words.emit(word);
  }
}

export interface WindowCounts {
  w: number;
  counts: Record<string, number>;
}

/** Counts words per window; keeps running totals as its checkpointed state. */
export class Counter extends Operator {
  private window = new Map<string, number>();
  private totals: Record<string, number> = {};
  counts = this.output<WindowCounts>();
  words = this.input<string>(
    (word) => {
      this.window.set(word, (this.window.get(word) ?? 0) + 1);
      this.totals[word] = (this.totals[word] ?? 0) + 1;
    },
    { partitionKey: hashString },
  );
  beginWindow(): void {
    this.window.clear();
  }
  endWindow(w: number): void {
    if (this.window.size > 0) this.counts.emit({ w, counts: Object.fromEntries(this.window) });
  }
  checkpoint(): unknown {
    return { totals: this.totals };
  }
  restore(state: unknown): void {
    this.totals = { ...((state as { totals?: Record<string, number> } | null)?.totals ?? {}) };
  }
}

/** Merges the partitions' counts of a window and writes them once the window ends everywhere. */
export class Output extends Operator {
  private appDir = '';
  private merged: Record<string, number> = {};
  counts = this.input<WindowCounts>((c) => {
    for (const [word, n] of Object.entries(c.counts)) this.merged[word] = (this.merged[word] ?? 0) + n;
  });
  setup(ctx: OperatorContext): void {
    this.appDir = ctx.appDir;
  }
  beginWindow(): void {
    this.merged = {};
  }
  endWindow(w: number): void {
    if (Object.keys(this.merged).length === 0) return; // windows without words leave no file
    const sorted = Object.fromEntries(Object.entries(this.merged).sort(([a], [b]) => a.localeCompare(b)));
    writeFileAtomic(join(this.appDir, 'output', `window-${w}.json`), `${JSON.stringify({ window: w, counts: sorted })}\n`);
  }
}

/** The counter partition counts `sluice demo --partitions` offers: one app module each (wordcount-<n>p.js; 2 is this module). */
export const DEMO_PARTITIONS = [1, 2, 4] as const;

/** The word-count app with `partitions` counter partitions (one container each). */
export function wordcountApp(partitions: number): ReturnType<typeof defineApp> {
  return defineApp({
    name: 'wordcount',
    operators: {
      generator: { create: () => new Generator() },
      counter: { create: () => new Counter(), partitions },
      output: { create: () => new Output() },
    },
    streams: {
      words: { from: 'generator.words', to: ['counter.words'] },
      counts: { from: 'counter.counts', to: ['output.counts'] },
    },
  });
}

export default wordcountApp(2);

function add(into: Record<string, number>, words: Record<string, number> | string[]): void {
  if (Array.isArray(words)) for (const w of words) into[w] = (into[w] ?? 0) + 1;
  else for (const [w, n] of Object.entries(words)) into[w] = (into[w] ?? 0) + n;
}

/** What the generator emits in these windows, summed per word. */
export function expectedCounts(config: Record<string, unknown>, windows: number[]): Record<string, number> {
  const c = configOf(config);
  const counts: Record<string, number> = {};
  for (const w of windows) add(counts, wordsOf(c, w));
  return counts;
}

/** The windows the output operator wrote and their counts summed per word. */
export function readActualCounts(appDir: string): { windows: number[]; counts: Record<string, number> } {
  const dir = join(appDir, 'output');
  if (!existsSync(dir)) return { windows: [], counts: {} };
  const windows: number[] = [];
  const counts: Record<string, number> = {};
  for (const f of readdirSync(dir)) {
    const m = /^window-(\d+)\.json$/.exec(f);
    if (!m) continue;
    const file = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { window: number; counts: Record<string, number> };
    windows.push(Number(m[1]));
    add(counts, file.counts);
  }
  return { windows: windows.sort((a, b) => a - b), counts };
}
