import { afterEach, describe, expect, it } from 'vitest';
import { RecoveryRun } from './helpers/recovery-wordcount.js';

/**
 * Publish tokens (docs/architecture.md "Token lifetimes and rotation"): a container mints the
 * publish token of each stream it publishes on its own buffer server with the app's max lifetime
 * (not a fixed 7 days), and at 75% of that life the publisher re-registers with a fresh one at a
 * window boundary. The word count runs with a 4 s max
 * lifetime for five lifetimes: every publisher re-registers again and again, none is
 * ever closed 4401 expired, no container is replaced, and the counts are exact.
 */

// Renew interval close to the max lifetime: a container slow to start on a busy host still finds its first token valid.
const LIFETIME = ['--renew-interval', '3s', '--max-lifetime', '4s'];

/** The recovery word count, launched with short token lifetimes and containers logging at info. */

describe('publish tokens follow the app max lifetime', () => {
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it('publishers re-register with fresh tokens before expiry across 5 lifetimes of 4 s; never closed 4401; counts exact', async () => {
    run = new RecoveryRun({ windows: 200, launchArgs: [...LIFETIME, '--heartbeat-timeout', '5s'], logLevel: 'info' });
    await run.launch();
    const counts = await run.finalCounts();
    console.log(`publish renewal: ${counts.windows.length} windows, ${counts.tuples} words, exact=${counts.exact}`);
    expect(counts, run.log('c4')).toMatchObject({ exact: true, tuples: 200 * 200 });
    expect(counts.actual).toEqual(counts.expected);
    // Nobody was replaced: the streams went on across every renewal.
    const containers = await run.containers();
    expect(containers.map((c) => [c.id, c.restarts])).toEqual([['c1', 0], ['c2', 0], ['c3', 0], ['c4', 0]]);
    // c1 (generator) and c2, c3 (counters) publish on their own buffer servers; c4 (output) does not.
    const renewals: Record<string, number> = {};
    for (const c of containers.filter((x) => x.id !== 'c4')) {
      renewals[c.id] = c.counters['publisherRenewed']!;
      // The generator ran 200 windows of 100 ms: 5 lifetimes of 4 s, a renewal every 3 s. Each
      // counts once its fresh publisher has been welcomed by the buffer server.
      expect(renewals[c.id], run.log(c.id)).toBeGreaterThanOrEqual(4);
      // Never closed for an expired token (its buffer server's tally of closes, by code), never lost.
      expect(c.counters['servedClosedExpired'], run.log(c.id)).toBe(0);
      expect(c.counters['publisherLost'], run.log(c.id)).toBe(0);
    }
    console.log(`publisher re-registrations: ${JSON.stringify(renewals)}`);
  }, 60_000);
});
