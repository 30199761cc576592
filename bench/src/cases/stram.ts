import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSeconds, profileArgs, startRole, type Role } from '../lib/child.js';
import type { Case, Ctx, Figure } from '../lib/suite.js';

/**
 * stram/heartbeats-N: STRAM serving N containers heartbeating at 1 Hz over real sockets (fake
 * containers in one load-generator process, each with its own token), against the same load on
 * an idle echo ws server. Both sides run at the same time over the same span, so the shared CPU's
 * load hits them alike; STRAM's CPU is read from /proc over exactly that span. N = 1,000 is the
 * target case; 100 and 10,000 make the curve (--quick: 100 only). At 10,000 the two sides take
 * turns instead (SEQUENTIAL_FROM). STRAM's app directory is on
 * tmpfs (/dev/shm) when there is one: launching writes one fsync'd credentials file per
 * container, which is set-up, not what the case measures.
 */
const SIZES = [100, 1000, 10_000];
/** From this many containers on, the two sides are measured one after the other (see run()). */
const SEQUENTIAL_FROM = 10_000;

interface Side {
  server: Role;
  load: Role;
}

async function stop(roles: (Role | undefined)[]): Promise<void> {
  await Promise.all(roles.map((r) => r?.stop()));
}

/**
 * stram/umbilical-only-1000 and -10000 (`umbilicalOnly`): the same case with STRAM's heartbeat handling
 * replaced by an empty answer (stram-server --handler none), against the echo server in the same
 * run: how much of stram/heartbeats-1000's cost is the umbilical layer and how much STRAM's own
 * bookkeeping. Only its CPU figures are reported.
 */
function heartbeats(containers: number, umbilicalOnly = false): Case {
  const name = umbilicalOnly ? `stram/umbilical-only-${containers}` : `stram/heartbeats-${containers}`;
  return {
    name,
    skip: (ctx: Ctx) => {
      if (!existsSync(join(ctx.root, 'packages/stram/dist/testing/fake-container.js'))) return 'packages/stram (STRAM and its fake-container client) is not built';
      return ctx.quick && containers > 100 ? `not in --quick: ${containers} containers take ${containers / 1000 >= 10 ? 'a minute' : '10-20 s'} to set up` : null;
    },
    runs: () => 3,
    async open(ctx) {
      const dir = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/sluice-bench-stram-') : join(ctx.tmp, `stram-${containers}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const started: Role[] = [];
      const cleanUp = async (): Promise<void> => {
        await stop(started.reverse());
        rmSync(dir, { recursive: true, force: true });
      };
      const side = async (server: Role, loadArgs: (ready: Record<string, unknown>) => string[]): Promise<Side> => {
        started.push(server);
        const t0 = performance.now();
        const ready = await server.ready;
        ctx.log(`${server.name} up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        const load = startRole('heartbeat-load', loadArgs(ready), { timeoutMs: 60 * 60_000 });
        started.push(load);
        await load.ready;
        ctx.log(`${server.name}: ${containers} connections up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        return { server, load };
      };
      try {
        const [stram, echo] = await Promise.all([
          side(startRole('stram-server', ['--containers', String(containers), '--dir', dir, '--handler', umbilicalOnly ? 'none' : 'stram'], { timeoutMs: 60 * 60_000, nodeArgs: profileArgs(ctx.profileDir, 'stram') }), (ready) => {
            const list = join(dir, 'credentials.json');
            writeFileSync(list, JSON.stringify(ready['credentials']), { mode: 0o600 });
            return ['--mode', 'stram', '--credentials-list', list, ...(containers >= SEQUENTIAL_FROM ? ['--only-in-runs'] : [])];
          }),
          side(startRole('echo-server', [], { timeoutMs: 60 * 60_000, nodeArgs: profileArgs(ctx.profileDir, 'echo-server') }), (ready) => ['--mode', 'echo', '--url', String(ready['url']), '--containers', String(containers), ...(containers >= SEQUENTIAL_FROM ? ['--only-in-runs'] : [])]),
        ]);
        // Let connection set-up and the first deploy acks settle before anything is measured.
        await new Promise((r) => setTimeout(r, ctx.quick ? 500 : 3000));
        if (containers >= SEQUENTIAL_FROM) {
          // Sides that beat only in runs have done nothing yet: one unrecorded run each for the first heartbeats and deploys.
          for (const x of [stram, echo]) {
            x.load.send({ run: { durationMs: 3000 } });
            await x.load.nextResult();
          }
        }
        const durationMs = ctx.quick ? 1000 : 10_000;
        let runNo = 0;
        return {
          async run(): Promise<Figure[]> {
            // SEQUENTIAL_FROM and up, both sides at once ask more than 2 cores (STRAM, the echo
            // server and two load generators each busy): the round trips then measure the queue for
            // the CPU. There each side runs alone, in alternating order.
            const together = containers < SEQUENTIAL_FROM;
            const order = runNo++ % 2 === 0 ? [stram, echo] : [echo, stram];
            const results = new Map<Side, { result: Record<string, unknown>; cpuPct: number; loadPct: number }>();
            const measure = async (sides: Side[]): Promise<void> => {
              const c0 = sides.map((x) => [cpuSeconds(x.server.pid), cpuSeconds(x.load.pid)] as const);
              const t0 = performance.now();
              for (const x of sides) x.load.send({ run: { durationMs } });
              const got = await Promise.all(sides.map((x) => x.load.nextResult()));
              const secs = (performance.now() - t0) / 1000;
              sides.forEach((x, i) =>
                results.set(x, { result: got[i]!, cpuPct: ((cpuSeconds(x.server.pid) - c0[i]![0]) / secs) * 100, loadPct: Math.round(((cpuSeconds(x.load.pid) - c0[i]![1]) / secs) * 1000) / 10 }),
              );
            };
            if (together) await measure([stram, echo]);
            else for (const x of order) await measure([x]);
            const s = results.get(stram)!.result;
            const e = results.get(echo)!.result;
            const cpu = [results.get(stram)!.cpuPct, results.get(echo)!.cpuPct];
            const loadCpu = [results.get(stram)!.loadPct, results.get(echo)!.loadPct];
            const extra = {
              sidesTogether: together,
              stramHeartbeatsPerS: Math.round(Number(s['perSecond'])),
              echoHeartbeatsPerS: Math.round(Number(e['perSecond'])),
              stramErrors: Number(s['errors']),
              stramLastError: String(s['lastError'] ?? ''),
              stramMaxMs: Number(s['max']),
              loadGeneratorCpuPct: loadCpu[0]!,
            };
            const cpuFigures: Figure[] = [
              { name: `${name}/cpu`, unit: '% of one core', better: 'lower', value: cpu[0]!, baseline: cpu[1]!, baselineLabel: 'idle echo ws server, same load', extra },
              // CPU per heartbeat answered: what a side did per message, less sensitive to how many it got through on a busy machine.
              { name: `${name}/cpu-per-heartbeat`, unit: 'µs CPU per heartbeat', better: 'lower', value: (cpu[0]! * 1e4) / Number(s['perSecond']), baseline: (cpu[1]! * 1e4) / Number(e['perSecond']), baselineLabel: 'idle echo ws server, same load' },
            ];
            if (umbilicalOnly) return cpuFigures;
            return [
              ...cpuFigures,
              { name: `${name}/p50`, unit: 'ms round trip', better: 'lower', value: Number(s['p50']), baseline: Number(e['p50']), baselineLabel: 'idle echo ws server, same load' },
              { name: `${name}/p99`, unit: 'ms round trip', better: 'lower', value: Number(s['p99']), baseline: Number(e['p99']), baselineLabel: 'idle echo ws server, same load' },
            ];
          },
          close: cleanUp,
        };
      } catch (err) {
        await cleanUp();
        throw err;
      }
    },
  };
}

export const stramHeartbeats: Case[] = SIZES.map((n) => heartbeats(n));
export const stramUmbilicalOnly: Case = heartbeats(1000, true);
/** The same at 10,000 containers, with the curve (full runs only): the umbilical layer's share where the target is a share of a core. */
export const stramUmbilicalOnlyCurve: Case = heartbeats(10000, true);
