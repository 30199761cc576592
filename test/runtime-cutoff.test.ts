import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeIdentifier, readCredentials, tokenFromText } from '@sluice/common';
import { RecoveryRun, sample } from './helpers/recovery-wordcount.js';
import { pidAlive, until } from './helpers/runtime-cli.js';

/**
 * A container cut off from STRAM past its token's max date is refused when it comes back (4401,
 * reason expired) and replaced cleanly (docs/architecture.md "Recovery"). The word count runs with short token lifetimes
 * (renew 2 s, max lifetime 6 s) while STRAM waits 15 s before replacing a silent container and
 * containers stream on 60 s without STRAM. One container (counter c2) is frozen with SIGSTOP for
 * longer than the max lifetime: STRAM keeps renewing and reissuing its tokens but cannot push
 * them, so every token the frozen process holds passes its max date; STRAM closes its umbilical
 * session at that date (4401 TOKEN_EXPIRED). Resumed with SIGCONT before STRAM's heartbeat timeout,
 * the container reconnects with the token it holds, STRAM refuses it (4401, TOKEN_EXPIRED), it exits 5,
 * and STRAM replaces it (restarts + 1); the output ends with exactly the generator's words.
 */

const MAX_LIFETIME_MS = 6_000;
const LIFETIME = ['--renew-interval', '2s', '--max-lifetime', '6s'];


describe('a container cut off from STRAM past its token max date', () => {
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it('is refused when it comes back (4401, TOKEN_EXPIRED), exits 5 and is replaced; counts stay exact', async () => {
    run = new RecoveryRun({ windows: 150, launchArgs: [...LIFETIME, '--heartbeat-timeout', '15s'], logLevel: 'info' });
    await run.launch();
    await run.untilOutputHas(20);
    const before = await run.containers();
    const c2 = before.find((c) => c.id === 'c2')!; // counter#0: reads from c1, feeds c4
    // The STRAM token c2 holds now (its credentials file; STRAM rewrites it only on a reissue,
    // which c2 either received or will never receive while frozen): its max date is at most one
    // max lifetime away.
    const heldMaxDate = decodeIdentifier(tokenFromText(readCredentials(join(run.appDir, 'containers', 'c2', 'credentials')).stramToken).identifier).maxDate;
    const stoppedAt = Date.now();
    expect(heldMaxDate).toBeLessThanOrEqual(stoppedAt + MAX_LIFETIME_MS);
    process.kill(c2.pid!, 'SIGSTOP');
    try {
      // Frozen past any token it could hold (max lifetime from now, plus a margin), yet well within
      // STRAM's 15 s heartbeat timeout: STRAM has not replaced it.
      await until(() => Date.now() > stoppedAt + MAX_LIFETIME_MS + 1_500, 100);
      const meanwhile = await run.container('c2');
      expect(meanwhile).toMatchObject({ pid: c2.pid, restarts: c2.restarts });
      // STRAM reissued c2's tokens meanwhile (written to its file, never delivered).
      const rewritten = decodeIdentifier(tokenFromText(readCredentials(join(run.appDir, 'containers', 'c2', 'credentials')).stramToken).identifier);
      expect(rewritten.maxDate).toBeGreaterThan(heldMaxDate);
    } finally {
      if (pidAlive(c2.pid!)) process.kill(c2.pid!, 'SIGCONT');
    }
    // It comes back, is refused, exits and is replaced — by the exit, not the heartbeat timeout.
    const after = await run.untilContainers((cs) => cs.find((c) => c.id === 'c2')!.restarts === c2.restarts + 1 && cs.every((c) => c.state === 'running' && c.deployed));
    expect(after.find((c) => c.id === 'c2')!.pid).not.toBe(c2.pid);
    await until(() => !pidAlive(c2.pid!));
    expect(after.filter((c) => c.id !== 'c2').map((c) => [c.id, c.pid, c.restarts])).toEqual(before.filter((c) => c.id !== 'c2').map((c) => [c.id, c.pid, c.restarts]));

    // STRAM's side, in its metrics: the session closed at the max date, every handshake refused
    // for the same reason (the woken session's reconnect, and the confirm check a closed publisher
    // triggers), the exit (5: refused by STRAM) seen, and the container replaced because of it —
    // not because it went silent.
    const metrics = (await run.rest('/metrics')).text;
    expect(sample(metrics, 'sluice_umbilical_session_closes_total{container="c2",code="4401",reason="TOKEN_EXPIRED"}')).toBeGreaterThanOrEqual(1);
    const refusals = metrics.split('\n').filter((l) => l.startsWith('sluice_auth_failures_total{endpoint="umbilical"'));
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    for (const line of refusals) expect(line).toMatch(/^sluice_auth_failures_total\{endpoint="umbilical",reason="TOKEN_EXPIRED"\} [1-9]/);
    // On a miss, say what STRAM saw of c2 instead (another exit code, a loss by silence) and what c2 logged.
    const seen = `${metrics.split('\n').filter((l) => /^sluice_container_(exits|losses)_total\{container="c2"/.test(l)).join('\n')}\n${readFileSync(join(run.appDir, 'containers', 'c2', 'container.log'), 'utf8').split('\n').filter((l) => l.includes(`"pid":${c2.pid},`)).slice(-12).join('\n')}`;
    expect(sample(metrics, 'sluice_container_exits_total{container="c2",code="5"}'), seen).toBe(1);
    expect(metrics).toContain('sluice_container_losses_total{container="c2",cause="exited"} 1\n');
    expect(metrics).toContain('sluice_container_losses_total{container="c2",cause="silent"} 0\n');
    expect(metrics).toContain(`sluice_container_restarts_total{container="c2"} ${c2.restarts + 1}`);

    const counts = await run.finalCounts();
    console.log(`cut-off c2 for ${MAX_LIFETIME_MS + 1_500} ms: ${refusals.join(', ')}; ${counts.windows.length} windows, ${counts.tuples} words, exact=${counts.exact}`);
    expect(counts, run.log('c2')).toMatchObject({ exact: true, tuples: 150 * 200 });
    expect(counts.actual).toEqual(counts.expected);
  }, 60_000);
});
