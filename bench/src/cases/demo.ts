import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { profileArgs, startNode } from '../lib/child.js';
import { cliPath } from '../lib/servers.js';
import { sideBySide, type Case, type Ctx } from '../lib/suite.js';

/**
 * demo/e2e: `sluice demo` (generator → 2 counter partitions → output, 4 containers and STRAM)
 * secure against `--insecure`. The generator is asked for more words per window than the pipeline
 * can carry, so the figure is what the pipeline carries: every word counted (the output holds all
 * of them, checked exactly by the demo) over the time from generating to the output holding the
 * last window.
 */
let serial = 0;

async function demoRate(ctx: Ctx, insecure: boolean, partitions = 2): Promise<{ rate: number; exact: boolean; tuples: number; seconds: number }> {
  const args = ['demo', '--json', '--duration', '12s', '--tuples-per-window', '1000000', '--partitions', String(partitions), '--app-dir', join(ctx.tmp, `demo-${++serial}`)];
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
    const s = JSON.parse(line) as { tuples: number; durationMs: number; exact: boolean };
    return { rate: s.tuples / (s.durationMs / 1000), exact: s.exact, tuples: s.tuples, seconds: s.durationMs / 1000 };
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
            extra: { secureExact: secure.exact, insecureExact: insecure.exact, secureTuples: secure.tuples, secureSeconds: secure.seconds, insecureSeconds: insecure.seconds },
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
        const rates = new Map<number, Awaited<ReturnType<typeof demoRate>>>();
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
