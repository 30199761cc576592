import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, readCredentials, tokenFromText } from '@sluice/common';
import { FakeContainer } from '@sluice/stram/testing';
import { RecoveryRun, sample } from './helpers/recovery-wordcount.js';
import { pidAlive, until } from './helpers/runtime-cli.js';

/**
 * Recovery (docs/architecture.md "Recovery"): the demo word count (generator → 2 counter partitions → idempotent output,
 * four container processes) loses nothing when a container is killed or stopped, or when STRAM
 * itself is killed and recovered with `sluice launch --recover` (a restart asked for, docs/guide.md
 * "Restarting a container", stays told apart from the strategy's). Each test ends with the output
 * holding exactly the generator's words for windows 1..150 (150 × 200 = 30,000 words).
 */
describe('recovery of the word count', () => {
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it('replaces a container killed with SIGKILL mid-stream; counts stay exact', async () => {
    run = new RecoveryRun();
    await run.launch();
    await run.untilOutputHas(30);
    const c2 = await run.container('c2'); // counter#0: reads from c1, feeds c4
    process.kill(c2.pid!, 'SIGKILL');
    const after = await run.untilContainers((cs) => cs.find((c) => c.id === 'c2')!.restarts === c2.restarts + 1 && cs.every((c) => c.state === 'running' && c.deployed));
    expect(after.find((c) => c.id === 'c2')!.pid).not.toBe(c2.pid);
    const counts = await run.finalCounts();
    console.log(`SIGKILL c2: ${counts.windows.length} windows, ${counts.tuples} words, exact=${counts.exact}`);
    expect(counts, run.log('c2')).toMatchObject({ exact: true, tuples: 150 * 200 });
    expect(counts.actual).toEqual(counts.expected);
    const metrics = (await run.rest('/metrics')).text;
    expect(metrics).toContain(`sluice_container_restarts_total{container="c2"} ${c2.restarts + 1}`);
  });

  it('replaces a container stopped with SIGSTOP once it misses the heartbeat timeout; counts stay exact', async () => {
    run = new RecoveryRun();
    await run.launch();
    await run.untilOutputHas(30);
    const c1 = await run.container('c1'); // the generator: both counters re-subscribe to its replacement
    process.kill(c1.pid!, 'SIGSTOP');
    try {
      await run.untilContainers((cs) => cs.find((c) => c.id === 'c1')!.restarts === c1.restarts + 1 && cs.every((c) => c.state === 'running' && c.deployed));
      // STRAM killed the stopped process (SIGKILL works on a stopped one): no zombie generator.
      await until(() => !pidAlive(c1.pid!));
    } finally {
      if (pidAlive(c1.pid!)) process.kill(c1.pid!, 'SIGCONT');
    }
    const counts = await run.finalCounts();
    console.log(`SIGSTOP c1: ${counts.windows.length} windows, ${counts.tuples} words, exact=${counts.exact}`);
    expect(counts, run.log('c1')).toMatchObject({ exact: true, tuples: 150 * 200 });
    expect(counts.actual).toEqual(counts.expected);
  });

  it('recovers from STRAM killed with SIGKILL: containers stream on, reconnect to the recovered STRAM; counts stay exact', async () => {
    run = new RecoveryRun({ windows: 200 });
    await run.launch();
    await run.untilOutputHas(30);
    const before = await run.containers();
    const stramPid = run.stram.child.pid!;
    process.kill(stramPid, 'SIGKILL');
    await run.stram.exited;
    // While STRAM is down, tuples keep flowing between the running containers.
    const written = (await run.outputWindows()).length;
    await until(async () => (await run!.outputWindows()).length >= written + 10);
    await run.recover();
    // The same processes come back (adopted, not relaunched): no restarts.
    const after = await run.untilContainers((cs) => cs.every((c) => c.state === 'running' && c.heartbeats > 0));
    expect(after.map((c) => [c.id, c.pid, c.restarts])).toEqual(before.map((c) => [c.id, c.pid, c.restarts]));
    const counts = await run.finalCounts();
    console.log(`SIGKILL STRAM: ${counts.windows.length} windows, ${counts.tuples} words, exact=${counts.exact}`);
    expect(counts).toMatchObject({ exact: true, tuples: 200 * 200 });
    expect(counts.actual).toEqual(counts.expected);
  });

  it('keeps a requested restart apart after STRAM is killed and recovered: its count, cause and metric; counts stay exact', async () => {
    run = new RecoveryRun({ windows: 150 });
    await run.launch();
    await run.untilOutputHas(20);
    const before = await run.container('c2');
    expect((await run.rest('/ws/v1/containers/c2/restart', 'POST')).status).toBe(202);
    await run.untilContainers((cs) => cs.some((c) => c.id === 'c2' && c.state === 'running' && c.pid !== null && c.pid !== before.pid));
    const restarted = await run.container('c2');
    expect(restarted).toMatchObject({ restarts: 1, requestedRestarts: 1, lastRestart: { cause: 'requested' } });
    // The replacement streams before STRAM dies: this is about what a recovered STRAM knows of the restart, not a STRAM lost mid-replacement.
    await run.untilOutputHas(Math.max(0, ...(await run.outputWindows())) + 10);

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

  it('recovers exact when STRAM is killed the moment a replacement reports its buffer server, before its downstream heard of it', async () => {
    run = new RecoveryRun({ windows: 150 });
    await run.launch();
    await run.untilOutputHas(20);
    const before = await run.container('c2');
    expect((await run.rest('/ws/v1/containers/c2/restart', 'POST')).status).toBe(202);
    // The re-subscribe for c4 waits for c4's next heartbeat ack: STRAM dies inside that gap.
    await run.untilContainers((cs) => cs.some((c) => c.id === 'c2' && c.pid !== before.pid && c.bufferServerUrl !== null && c.bufferServerUrl !== before.bufferServerUrl), 25);
    process.kill(run.stram.child.pid!, 'SIGKILL');
    await run.stram.exited;
    await run.recover();
    const counts = await run.finalCounts();
    expect(counts, run.log('c4')).toMatchObject({ exact: true, tuples: 150 * 200 });
  });

  it("refuses the cancelled STRAM token of a replaced container (4401, cancelled); counts stay exact", async () => {
    run = new RecoveryRun();
    await run.launch();
    await run.untilOutputHas(20);
    const credentialsPath = join(run.appDir, 'containers', 'c4', 'credentials');
    const old = readCredentials(credentialsPath);
    const c4 = await run.container('c4'); // the output operator
    process.kill(c4.pid!, 'SIGKILL');
    await run.untilContainers((cs) => cs.find((c) => c.id === 'c4')!.restarts === c4.restarts + 1 && cs.every((c) => c.state === 'running' && c.deployed));
    // The replacement holds new credentials: another STRAM token, another buffer-server secret.
    const fresh = readCredentials(credentialsPath);
    expect(fresh.stramToken).not.toBe(old.stramToken);
    expect(fresh.bufferServer.secret).not.toBe(old.bufferServer.secret);
    const url = (JSON.parse(readFileSync(join(run.appDir, 'stram.json'), 'utf8')) as { umbilical: string }).umbilical;
    const refused = await FakeContainer.refusal({ url, token: tokenFromText(old.stramToken), container: 'c4' });
    expect(refused).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/cancelled/) });
    const counts = await run.finalCounts();
    console.log(`SIGKILL c4 + old token: ${counts.windows.length} windows, ${counts.tuples} words, exact=${counts.exact}`);
    expect(counts, run.log('c4')).toMatchObject({ exact: true, tuples: 150 * 200 });
  });
});
