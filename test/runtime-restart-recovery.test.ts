import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RecoveryRun, sample } from './helpers/recovery-wordcount.js';
import { until } from './helpers/runtime-cli.js';

/**
 * A restart asked for (docs/guide.md "Restarting a container") is kept across a STRAM restart
 * (docs/architecture.md "Recovery"): the recovered STRAM still tells it apart from the restart
 * strategy's, in the REST status and in sluice_container_restarts_requested_total.
 */
describe('a requested container restart across --recover', () => {
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it('keeps the requested restart count, its cause and its metric after STRAM is killed and recovered; counts stay exact', async () => {
    run = new RecoveryRun({ windows: 150 });
    await run.launch();
    await run.untilOutputHas(20);
    const before = await run.container('c2');
    const { rest } = JSON.parse(readFileSync(join(run.appDir, 'stram.json'), 'utf8')) as { rest: string };
    const token = readFileSync(join(run.appDir, 'web-token'), 'utf8').trim();
    const asked = await fetch(`${rest}/ws/v1/containers/c2/restart`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(asked.status).toBe(202);
    await run.untilContainers((cs) => cs.some((c) => c.id === 'c2' && c.state === 'running' && c.pid !== null && c.pid !== before.pid));
    const restarted = await run.container('c2');
    expect(restarted).toMatchObject({ restarts: 1, requestedRestarts: 1, lastRestart: { cause: 'requested' } });

    process.kill(run.stram.child.pid!, 'SIGKILL');
    await run.stram.exited;
    await run.recover();
    const after = (await run.untilContainers((cs) => cs.every((c) => c.state === 'running' && c.heartbeats > 0))).find((c) => c.id === 'c2')!;
    expect(after).toMatchObject({ pid: restarted.pid, restarts: 1, requestedRestarts: 1, lastRestart: restarted.lastRestart });
    let metrics = '';
    await until(async () => {
      metrics = (await run!.rest('/metrics')).text;
      return metrics.includes('sluice_container_restarts_requested_total');
    });
    expect(sample(metrics, 'sluice_container_restarts_requested_total{container="c2"}')).toBe(1);
    expect(sample(metrics, 'sluice_container_restarts_total{container="c2"}')).toBe(1);
    const counts = await run.finalCounts();
    expect(counts).toMatchObject({ exact: true, tuples: 150 * 200 });
  });
});
