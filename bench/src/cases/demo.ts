import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { profileArgs, startNode } from '../lib/child.js';
import { cliPath } from '../lib/servers.js';
import { sideBySide, type Case, type Ctx } from '../lib/suite.js';

/**
 * demo/e2e: `sluice demo` (generator → 2 counter partitions → output, 4 containers and STRAM)
 * secure against `--insecure`. The generator is asked for more words per window than the pipeline
 * can carry (3 M words per 500 ms window: 6 M/s), so it runs behind its pace and the figure is
 * what the pipeline carries, in steady state: the words of output windows 2..n over the time
 * between the output writing window 1 and window n (the window files' mtimes). Start-up (process
 * launch, imports, handshakes), the drain wait and the shutdown are not pipeline time; they are in
 * `demo/e2e/whole-run` (every word counted over the demo's whole run, launch to shutdown). The
 * demo checks every count exactly either way.
 */
const TUPLES_PER_WINDOW = 3_000_000;

/** Words per second through the pipeline in steady state, from the output window files (see above). */
function steadyRate(appDir: string): { rate: number; windows: number } {
  const dir = join(appDir, 'output');
  const files = readdirSync(dir)
    .map((f) => ({ f, w: Number(/^window-(\d+)\.json$/.exec(f)?.[1] ?? NaN) }))
    .filter((x) => Number.isInteger(x.w))
    .sort((a, b) => a.w - b.w);
  if (files.length < 3) throw new Error(`the demo wrote ${files.length} output windows; a steady rate needs 3 or more (is the machine very busy?)`);
  const at = (f: string): number => statSync(join(dir, f)).mtimeMs;
  let words = 0;
  for (const { f } of files.slice(1)) {
    const counts = (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { counts: Record<string, number> }).counts;
    for (const n of Object.values(counts)) words += n;
  }
  return { rate: words / ((at(files.at(-1)!.f) - at(files[0]!.f)) / 1000), windows: files.length };
}
let serial = 0;

interface DemoRate {
  /** Steady state (steadyRate). */
  rate: number;
  /** Every word over the whole run, launch to shutdown. */
  wholeRate: number;
  exact: boolean;
  tuples: number;
  windows: number;
  seconds: number;
}

async function demoRate(ctx: Ctx, insecure: boolean, partitions = 2): Promise<DemoRate> {
  const appDir = join(ctx.tmp, `demo-${++serial}`);
  const args = ['demo', '--json', '--duration', '12s', '--tuples-per-window', String(TUPLES_PER_WINDOW), '--partitions', String(partitions), '--app-dir', appDir];
  if (insecure) args.push('--insecure');
  // --profile covers the demo process (STRAM); containers get no node flags from STRAM's launcher
  // (its environment is filtered), so profile them with tools/inspect-prof.js PID SECONDS.
  const role = startNode(`sluice demo${insecure ? ' --insecure' : ''}`, cliPath(ctx), args, {
    readyLine: /^\{.*"tuples"/,
    timeoutMs: 180_000,
    nodeArgs: profileArgs(ctx.profileDir, `demo${insecure ? '-insecure' : ''}-p${partitions}`),
  });
  try {
    const line = String((await role.ready)['line']);
    const s = JSON.parse(line) as { tuples: number; durationMs: number; exact: boolean; appDir: string };
    const steady = steadyRate(s.appDir);
    return { rate: steady.rate, wholeRate: s.tuples / (s.durationMs / 1000), exact: s.exact, tuples: s.tuples, windows: steady.windows, seconds: s.durationMs / 1000 };
  } finally {
    await role.stop();
  }
}

export const demoE2e: Case = {
  name: 'demo/e2e',
  skip: (ctx) => {
    if (!existsSync(join(ctx.root, 'packages/cli/dist/commands/demo.js'))) return '`sluice demo` is not built';
    // Six `sluice demo` invocations cost ~40 s of STRAM and container start-up and drain alone.
    if (ctx.quick) return 'not in --quick: 6 sluice demo runs take ~40 s of start-up and drain (run without --quick)';
    return null;
  },
  runs: () => 3,
  async open(ctx) {
    return {
      async run(i) {
        const [secure, insecure] = await sideBySide(
          i,
          () => demoRate(ctx, false),
          () => demoRate(ctx, true),
        );
        return [
          {
            name: 'demo/e2e',
            unit: 'tuples/s',
            better: 'higher',
            value: secure.rate,
            baseline: insecure.rate,
            baselineLabel: 'sluice demo --insecure',
            extra: { secureExact: secure.exact, insecureExact: insecure.exact, secureTuples: secure.tuples, secureWindows: secure.windows, secureSeconds: secure.seconds, insecureSeconds: insecure.seconds },
          },
          {
            name: 'demo/e2e/whole-run',
            unit: 'tuples/s',
            better: 'higher',
            value: secure.wholeRate,
            baseline: insecure.wholeRate,
            baselineLabel: 'sluice demo --insecure',
          },
        ];
      },
      close: async () => {},
    };
  },
};

/** The curve's partition counts; 1 is the baseline of the others. */
const CURVE = [2, 4] as const;

/**
 * demo/partitions-<N>: the secure demo with N counter partitions (one container each) against
 * the same demo with 1, in the same run; the order of the three rotates per run. Full runs only.
 */
export const demoPartitions: Case = {
  name: 'demo/partitions',
  skip: (ctx) => demoE2e.skip(ctx) ?? (ctx.quick ? 'not in --quick: the curve is 9 sluice demo runs' : null),
  runs: () => 3,
  async open(ctx) {
    return {
      async run(i) {
        const order = [1, ...CURVE];
        const rotated = [...order.slice(i % order.length), ...order.slice(0, i % order.length)];
        const rates = new Map<number, DemoRate>();
        for (const p of rotated) rates.set(p, await demoRate(ctx, false, p));
        const one = rates.get(1)!;
        return CURVE.map((p) => ({
          name: `demo/partitions-${p}`,
          unit: 'tuples/s',
          better: 'higher' as const,
          value: rates.get(p)!.rate,
          baseline: one.rate,
          baselineLabel: 'sluice demo --partitions 1',
          extra: { exact: rates.get(p)!.exact && one.exact, tuples: rates.get(p)!.tuples, seconds: rates.get(p)!.seconds },
        }));
      },
      close: async () => {},
    };
  },
};
