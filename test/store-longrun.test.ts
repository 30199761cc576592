import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readCredentials } from '@sluice/common';
import { TestPostgres } from '@sluice/common/testing';
import { loginOutcome } from '@sluice/stram/testing';
import { RecoveryRun, sample } from './helpers/recovery-wordcount.js';
import { useStoreDb, type StoreStatus } from './helpers/store-db.js';

/**
 * A minute of the demo word count with its checkpoints in PostgreSQL and store credentials of a
 * few seconds (docs/stores.md "Lifetimes, renewal and expiry"): STRAM renews the app's login many
 * times and replaces it with a new one several times while the stream runs; no renewal fails, no
 * container loses its store session (none restarts), the counts end exact, and once the app has
 * stopped none of the logins it held can connect.
 */
const skip = TestPostgres.unavailable();

/** A log's warning and error lines (pino level 40 and up), for a failure message. */
function warnings(path: string): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => /"level":(4|5|6)\d/.test(line))
    .slice(-12)
    .join('\n');
}

/** 600 windows of 100 ms: the generator emits for a minute. */
const WINDOWS = 600;

describe.skipIf(skip !== undefined)(`a minute of store credentials renewed and reissued${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const store = useStoreDb();
  let run: RecoveryRun | undefined;
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  it('renews the store credential many times and reissues it several times in 60 s with no failure and no restart; counts exact; no login works after shutdown', async () => {
    const { db, passwordFile } = store;
    const url = `postgres://${db.superuser}@${db.host}:${db.port}/postgres`;
    run = new RecoveryRun({ windows: WINDOWS, tuplesPerWindow: 20, launchArgs: ['--checkpoint-store', url, '--postgres-password-file', passwordFile, '--store-lifetime', '2s', '--store-max-lifetime', '6s'] });
    await run.launch();
    const r = run;
    // Every login the containers were handed over the minute, as their credentials files show it.
    const logins = new Map<string, string>();
    const collect = (): void => {
      for (const id of readdirSync(join(r.appDir, 'containers'))) {
        const s = readCredentials(join(r.appDir, 'containers', id, 'credentials')).stores?.['postgres'];
        if (s) logins.set(s['user']!, s['password']!);
      }
    };
    const watcher = setInterval(collect, 500);
    let counts: Awaited<ReturnType<RecoveryRun['finalCounts']>>;
    try {
      counts = await run.finalCounts();
    } finally {
      clearInterval(watcher);
    }
    collect();
    expect(counts, run.log('c2')).toMatchObject({ exact: true, tuples: WINDOWS * 20 });

    // Renewed at 75% of 2 s and reissued at 75% of 6 s: over a minute about 30 renewals and 13 reissues.
    const [status] = (JSON.parse((await run.rest('/ws/v1/app')).text) as { stores: StoreStatus[] }).stores;
    console.log(`store credential after the run: ${JSON.stringify(status)}; logins seen: ${logins.size}`);
    expect(status).toMatchObject({ system: 'postgres', failures: 0, consecutiveFailures: 0 });
    expect(status!.renewals).toBeGreaterThanOrEqual(15);
    expect(status!.reissues).toBeGreaterThanOrEqual(6);
    expect(status!.generation).toBe(status!.reissues + 1);
    const metrics = (await run.rest('/metrics')).text;
    expect(sample(metrics, 'sluice_store_credential_renewals_total{system="postgres",result="success"}')).toBe(status!.renewals);
    expect(sample(metrics, 'sluice_store_credential_renewals_total{system="postgres",result="failure"}')).toBe(0);
    expect(sample(metrics, 'sluice_store_credential_reissues_total{system="postgres",result="failure"}')).toBe(0);
    // No container lost its store session: a checkpoint write refused for an expired login fails the operator, and it would restart.
    const containers = await run.containers();
    const restarted = containers.filter((c) => c.restarts > 0).map((c) => `${c.id}:\n${warnings(join(r.appDir, 'containers', c.id, 'container.log'))}`);
    restarted.push(`stram:\n${warnings(join(r.appDir, 'stram.log'))}`);
    expect(containers.map((c) => [c.id, c.restarts]), restarted.join('\n')).toEqual([
      ['c1', 0],
      ['c2', 0],
      ['c3', 0],
      ['c4', 0],
    ]);
    expect(logins.size).toBeGreaterThanOrEqual(3);

    await run.cleanup();
    run = undefined;
    for (const [user, password] of logins) expect(['28P01', '28000'], user).toContain(await loginOutcome({ host: db.host, port: db.port, user, password }));
  }, 240_000);
});
