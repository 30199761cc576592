import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { RecoveryRun } from './helpers/recovery-wordcount.js';

/**
 * Mutual TLS across a STRAM restart longer than a certificate's life (docs/architecture.md
 * "Transport encryption", "Recovery"): every container's certificate expires while STRAM is
 * down, so none can present it; each reconnects to the recovered STRAM on its token alone, gets a
 * new certificate for the CSR its renewal left pending, and the app streams on without a restart.
 */
describe('TLS certificates across a STRAM restart', () => {
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it('containers whose certificates expired while STRAM was down reconnect, are issued new ones, and none restarts; counts exact', async () => {
    run = new RecoveryRun({ windows: 200, launchArgs: ['--tls', 'on', '--cert-lifetime', '3s'] });
    await run.launch();
    await run.untilOutputHas(20);
    process.kill(run.stram.child.pid!, 'SIGKILL');
    await run.stram.exited;
    // Longer than a certificate lifetime: every container's certificate has expired.
    await sleep(4_000);
    const recoveredAt = Date.now();
    await run.recover();
    // Each container holds a certificate issued by the recovered STRAM, valid beyond the outage.
    const after = await run.untilContainers((cs) => cs.every((c) => c.state === 'running' && c.heartbeats > 0 && (c as { certificate?: { notAfter: string | null } }).certificate?.notAfter != null));
    for (const c of after) expect(Date.parse((c as unknown as { certificate: { notAfter: string } }).certificate.notAfter), c.id).toBeGreaterThan(recoveredAt);
    const counts = await run.finalCounts();
    expect(counts, run.log('c1')).toMatchObject({ exact: true, tuples: 200 * 200 });
    expect((await run.containers()).map((c) => [c.id, c.restarts])).toEqual([['c1', 0], ['c2', 0], ['c3', 0], ['c4', 0]]);
  }, 150_000);
});
