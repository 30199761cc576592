import { afterEach, describe, expect, it } from 'vitest';
import { RecoveryRun, sample } from './helpers/recovery-wordcount.js';

/**
 * Live buffer-server secret rotation (docs/protocol.md "Secret rotation"): at each reissue of a container's tokens STRAM sends
 * its buffer server a new secret (both accepted meanwhile), mints the downstream containers'
 * subscribe tokens from it once the owner has it, and has the owner retire the old secret once
 * they hold them. The word count runs with a 4 s max lifetime for about five lifetimes: every
 * buffer server rotates its secret again and again, no connection is ever closed for an expired
 * token or a retired secret, no container is replaced, and the counts are exact.
 */

const LIFETIME = ['--renew-interval', '3s', '--max-lifetime', '4s'];


describe('buffer-server secrets rotate while the app runs', () => {
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it('every buffer server with downstream subscribers rotates its secret ≥ 2 times; nothing closed expired or retired; counts exact', async () => {
    run = new RecoveryRun({ windows: 200, launchArgs: [...LIFETIME, '--heartbeat-timeout', '5s'], logLevel: 'info' });
    await run.launch();
    const counts = await run.finalCounts();
    console.log(`secret rotation: ${counts.windows.length} windows, ${counts.tuples} words, exact=${counts.exact}`);
    expect(counts, run.log('c4')).toMatchObject({ exact: true, tuples: 200 * 200 });
    expect(counts.actual).toEqual(counts.expected);
    const containers = await run.containers();
    expect(containers.map((c) => [c.id, c.restarts])).toEqual([['c1', 0], ['c2', 0], ['c3', 0], ['c4', 0]]);

    const metrics = (await run.rest('/metrics')).text;
    const summary: Record<string, Record<string, number>> = {};
    for (const c of containers) {
      const n = c.counters;
      summary[c.id] = n;
      // c1 (generator), c2 and c3 (counters) serve downstream subscribers; c4 (output) serves none but rotates all the same.
      expect(n['secretRotated'], run.log(c.id)).toBeGreaterThanOrEqual(2);
      expect(n['secretsRetired'], run.log(c.id)).toBeGreaterThanOrEqual(2);
      // STRAM's count of the rotations it completed (owner, then its readers, then the retire command).
      expect(sample(metrics, `sluice_secret_rotations_total{container="${c.id}"}`)).toBeGreaterThanOrEqual(2);
      // Nothing was closed for a retired secret or an expired token, nothing refused, no publisher
      // lost: a buffer server's refusal would show at its client, as a failed subscribe, a
      // subscription closed under it, or a lost publisher.
      // Its buffer server's own tally of live connections it closed, by code, reported as counters.
      expect([n['servedClosedRetired'], n['servedClosedExpired']], run.log(c.id)).toEqual([0, 0]);
      expect([n['subscribeFailed'], n['upstreamReconnect'], n['publisherLost']], run.log(c.id)).toEqual([0, 0, 0]);
      // Retired only after the rotation's publishers re-registered with tokens of the new secret —
      // but for one: a process slow to start may read a file already rotated, its publishers then
      // begin with the new secret, and that rotation's retire needs no re-registration.
      if (c.id !== 'c4') expect(n['publisherRenewed']! + 1).toBeGreaterThanOrEqual(n['secretsRetired']!);
    }
    // The subscribers moved to tokens of the new secrets: c2, c3 (from c1) and c4 (from c2, c3) re-subscribed each rotation.
    for (const id of ['c2', 'c3', 'c4']) expect(summary[id]!['subscribeSwitched']).toBeGreaterThanOrEqual(2);
    // Each of those re-subscribes replaced its own older connection (4409): none counts as a takeover.
    expect(metrics).not.toMatch(/^sluice_subscriber_takeovers(_refused)?_total\{/m);
    // No umbilical session was closed by STRAM either (the containers moved theirs to renewed tokens themselves).
    expect(metrics).not.toMatch(/^sluice_umbilical_session_closes_total\{/m);
    console.log(`counters per container: ${JSON.stringify(summary)}`);
  }, 90_000);
});
