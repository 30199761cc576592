import { afterEach, describe, expect, it } from 'vitest';
import { RecoveryRun } from './helpers/recovery-wordcount.js';

/**
 * Issue 6, live buffer-server secret rotation: at each reissue of a container's tokens STRAM sends
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

    const summary: Record<string, { rotated: number; retired: number; resubscribed: number }> = {};
    for (const id of ['c1', 'c2', 'c3', 'c4']) {
      const lines = run.lines(id);
      const rotated = lines.filter((l) => l['msg'] === 'buffer-server secret rotated');
      const retired = lines.filter((l) => l['msg'] === 'publishers re-registered; previous buffer-server secrets retired');
      // The buffer server itself says so too, once per retirement.
      expect(lines.filter((l) => l['component'] === 'buffer-server' && l['msg'] === 'previous buffer-server secrets retired').length).toBe(retired.length);
      const resubscribed = lines.filter((l) => l['msg'] === 'subscribe token reissued; re-subscribing with it');
      summary[id] = { rotated: rotated.length, retired: retired.length, resubscribed: resubscribed.length };
      // c1 (generator), c2 and c3 (counters) serve downstream subscribers; c4 (output) serves none but rotates all the same.
      expect(rotated.length, run.log(id)).toBeGreaterThanOrEqual(2);
      expect(retired.length, run.log(id)).toBeGreaterThanOrEqual(2);
      // Nothing was closed for a retired secret or an expired token, nothing refused, no publisher lost.
      expect(lines.filter((l) => l['code'] === 'SECRET_RETIRED' || l['code'] === 'TOKEN_EXPIRED')).toEqual([]);
      expect(lines.filter((l) => l['msg'] === 'auth refused')).toEqual([]);
      expect(lines.filter((l) => l['msg'] === 'upstream connection closed; reconnecting' || l['msg'] === 'subscribe failed; retrying')).toEqual([]);
      expect(lines.filter((l) => l['msg'] === 'publisher closed by the buffer server; the stream cannot go on')).toEqual([]);
      // Retired only after the rotation's publishers re-registered with tokens of the new secret.
      if (id !== 'c4') {
        const reregistered = lines.filter((l) => l['msg'] === 'publish token renewed; publisher re-registered');
        expect(reregistered.length).toBeGreaterThanOrEqual(retired.length);
      }
    }
    // The subscribers moved to tokens of the new secrets: c2, c3 (from c1) and c4 (from c2, c3) re-subscribed each rotation.
    for (const id of ['c2', 'c3', 'c4']) expect(summary[id]!.resubscribed).toBeGreaterThanOrEqual(2);
    // Each of those re-subscribes replaced its own older connection (4409): none counts as a takeover.
    expect((await run.rest('/metrics')).text).not.toMatch(/^sluice_subscriber_takeovers(_refused)?_total\{/m);
    console.log(`rotations per container: ${JSON.stringify(summary)}`);
  }, 90_000);
});
