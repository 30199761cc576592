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

async function demoRate(ctx: Ctx, insecure: boolean): Promise<{ rate: number; exact: boolean; tuples: number; seconds: number }> {
  const args = ['demo', '--json', '--duration', '12s', '--tuples-per-window', '1000000', '--app-dir', join(ctx.tmp, `demo-${++serial}`)];
  if (insecure) args.push('--insecure');
  // --profile covers the demo process (STRAM); containers get no node flags from STRAM's launcher
  // (its environment is filtered), so profile them with tools/inspect-prof.js PID SECONDS.
  const role = startNode(`sluice demo${insecure ? ' --insecure' : ''}`, cliPath(ctx), args, {
    readyLine: /^\{.*"tuples"/,
    timeoutMs: 180_000,
    nodeArgs: profileArgs(ctx.profileDir, `demo${insecure ? '-insecure' : ''}`),
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
