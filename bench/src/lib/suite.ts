/** What a case is and what it reports (bench/README.md). */

export type Better = 'higher' | 'lower';

/** One figure measured in one run: Sluice's value and the baseline's, side by side. */
export interface Figure {
  name: string;
  unit: string;
  better: Better;
  value: number;
  baseline: number;
  /** What the baseline is, once per figure (for the table's legend and the JSON). */
  baselineLabel: string;
  /** Free-form numbers kept with the run (e.g. spool bytes, publisher rate). */
  extra?: Record<string, number | string | boolean | null>;
}

export interface Ctx {
  quick: boolean;
  /** Scratch directory of this suite run (bench/tmp/<stamp>). */
  tmp: string;
  /** Repository root. */
  root: string;
  log(line: string): void;
  /** `--profile DIR`: every Sluice-side role writes a CPU profile there. */
  profileDir: string | null;
  /** Medians of figures already measured in this suite run, by name (later cases may scale on them). */
  done: ReadonlyMap<string, { value: number; baseline: number }>;
}

export interface Case {
  /** Prefix of every figure name this case produces; `--only` matches figure names and this. */
  name: string;
  /** Why the case cannot run here (a dependency has not landed), or null. */
  skip(ctx: Ctx): string | null;
  /** Runs (at least 3 in both modes). */
  runs(ctx: Ctx): number;
  /** Starts the case's processes once (both sides); the session then runs it `runs` times. */
  open(ctx: Ctx): Promise<Session>;
}

export interface Session {
  /** One run of both sides, side by side; `i` alternates who goes first. Returns its figures. */
  run(i: number): Promise<Figure[]>;
  close(): Promise<void>;
}

export interface Target {
  /** ratio >= min (throughput) or value <= max / ratio <= max (costs). */
  describe: string;
  met(r: { value: number; baseline: number; ratio: number }): boolean;
}

export interface Summary {
  name: string;
  unit: string;
  better: Better;
  value: number;
  baseline: number;
  ratio: number;
  min: number;
  max: number;
  baselineMin: number;
  baselineMax: number;
  runs: { value: number; baseline: number; extra?: Record<string, unknown> }[];
  baselineLabel: string;
  target: string | null;
  targetMet: boolean | null;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

export function summarize(figs: Figure[], target: Target | undefined): Summary {
  const first = figs[0]!;
  const values = figs.map((f) => f.value);
  const baselines = figs.map((f) => f.baseline);
  const value = median(values);
  const baseline = median(baselines);
  const ratio = baseline === 0 ? NaN : value / baseline;
  return {
    name: first.name,
    unit: first.unit,
    better: first.better,
    value,
    baseline,
    ratio,
    min: Math.min(...values),
    max: Math.max(...values),
    baselineMin: Math.min(...baselines),
    baselineMax: Math.max(...baselines),
    runs: figs.map((f) => ({ value: f.value, baseline: f.baseline, ...(f.extra ? { extra: f.extra } : {}) })),
    baselineLabel: first.baselineLabel,
    target: target?.describe ?? null,
    targetMet: target ? target.met({ value, baseline, ratio }) : null,
  };
}

/** Runs `a` and `b` one after the other, `b` first on odd runs, so drift of the shared CPU hits both. */
export async function sideBySide<A, B>(i: number, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  if (i % 2 === 0) {
    const ra = await a();
    return [ra, await b()];
  }
  const rb = await b();
  return [await a(), rb];
}
