import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, decodeIdentifier, readCredentials, tokenFromText } from '@sluice/common';
import { RecoveryRun } from './helpers/recovery-wordcount.js';
import { pidAlive, until } from './helpers/runtime-cli.js';

/**
 * Issue 6: "a container cut off from STRAM past its token's max date is refused when it comes back
 * (4401, reason expired) and replaced cleanly". The word count runs with short token lifetimes
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

    const lines = run.lines('c2');
    const refused = lines.filter((l) => l['msg'] === "STRAM refused the token; not retrying");
    // At least one refusal (the umbilical may be refused both on the woken session's reconnect and
    // on the confirm check a closed publisher triggers); every one of them says expired.
    expect(refused.length, run.log('c2')).toBeGreaterThanOrEqual(1);
    for (const r of refused) {
      expect(r).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^TOKEN_EXPIRED: token \d+ passed its max date /) });
    }
    expect(lines.filter((l) => l['msg'] === 'container stopping').map((l) => l['code'])).toContain(5);
    // STRAM's side: the session closed at the max date, the handshake refused for the same reason,
    // the exit (code 5) seen and the container replaced because of it.
    const stramOut = run.stram.stdout + run.stram.stderr;
    const stramLines = stramOut.split('\n').flatMap((l) => {
      try {
        return l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : [];
      } catch {
        return []; // a line still being written
      }
    });
    expect(stramLines.some((l) => l['msg'] === 'umbilical session closed: its token passed its max date' && l['container'] === 'c2')).toBe(true);
    expect(stramLines.some((l) => l['msg'] === 'container exited unexpectedly; replacing it' && l['container'] === 'c2' && l['code'] === 5)).toBe(true);
    expect(stramLines.some((l) => l['msg'] === 'container stopped heartbeating; replacing it')).toBe(false);
    const metrics = (await run.rest('/metrics')).text;
    expect(metrics).toMatch(/^sluice_auth_failures_total\{endpoint="umbilical",reason="TOKEN_EXPIRED"\} [1-9]/m);
    expect(metrics).toContain(`sluice_container_restarts_total{container="c2"} ${c2.restarts + 1}`);

    const counts = await run.finalCounts();
    console.log(`cut-off c2 for ${MAX_LIFETIME_MS + 1_500} ms: refused ${String(refused[0]!['reason'])}; ${counts.windows.length} windows, ${counts.tuples} words, exact=${counts.exact}`);
    expect(counts, run.log('c2')).toMatchObject({ exact: true, tuples: 150 * 200 });
    expect(counts.actual).toEqual(counts.expected);
  }, 60_000);
});
