import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCredentials } from '@sluice/common';
import { TestPostgres } from '@sluice/common/testing';
import { loginOutcome } from '@sluice/stram/testing';
import { RecoveryRun, sample } from './helpers/recovery-wordcount.js';
import { runCli } from './helpers/runtime-cli.js';
import { admin, useStoreDb, type StoreStatus } from './helpers/store-db.js';

/**
 * The demo word count with its checkpoints in PostgreSQL (docs/stores.md), under `sluice launch`
 * against a real cluster: the PostgreSQL provider issues the app a login role with lifetimes of
 * seconds, so it is renewed and reissued many times in one run. Counts stay exact through a kill
 * -9 of a container and through the role being revoked behind STRAM's back; the role cannot log
 * in once the app has stopped; its password is nowhere a user or a log reader can see.
 */
const skip = TestPostgres.unavailable();

const canLogIn = (db: TestPostgres, user: string, password: string): Promise<string> => loginOutcome({ host: db.host, port: db.port, user, password });

/** Every store password a container's credentials file holds now. */
function storePasswords(appDir: string): string[] {
  const dir = join(appDir, 'containers');
  return readdirSync(dir).flatMap((id) => {
    const file = join(dir, id, 'credentials');
    if (!existsSync(file)) return [];
    const pw = readCredentials(file).stores?.['postgres']?.['password'];
    return pw ? [pw] : [];
  });
}

describe.skipIf(skip !== undefined)(`checkpoints in PostgreSQL under sluice launch${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const store = useStoreDb();
  let run: RecoveryRun | undefined;
  let db: TestPostgres;
  let passwordFile: string;
  beforeAll(() => {
    ({ db, passwordFile } = store);
  });
  afterEach(async () => {
    await run?.cleanup();
    run = undefined;
  });

  const launchArgs = (lifetime: string, max: string): string[] => [
    '--checkpoint-store',
    `postgres://${db.superuser}@${db.host}:${db.port}/postgres`,
    '--postgres-password-file',
    passwordFile,
    '--store-lifetime',
    lifetime,
    '--store-max-lifetime',
    max,
  ];

  const stores = async (r: RecoveryRun): Promise<StoreStatus[]> => (JSON.parse((await r.rest('/ws/v1/app')).text) as { stores: StoreStatus[] }).stores;

  it('recovers from kill -9 of a container with exact counts while the store credential is renewed and reissued; the role is gone after shutdown and its password was never shown', async () => {
    run = new RecoveryRun({ launchArgs: launchArgs('2s', '6s'), logLevel: 'info' });
    await run.launch();
    await run.untilOutputHas(30);
    const seen = new Set(storePasswords(run.appDir));
    const c2 = await run.container('c2');
    process.kill(c2.pid!, 'SIGKILL');
    await run.untilContainers((cs) => cs.find((c) => c.id === 'c2')!.restarts === c2.restarts + 1 && cs.every((c) => c.state === 'running' && c.deployed));
    for (const p of storePasswords(run.appDir)) seen.add(p);
    const counts = await run.finalCounts();
    expect(counts, run.log('c2')).toMatchObject({ exact: true, tuples: 150 * 200 });
    for (const p of storePasswords(run.appDir)) seen.add(p);

    // Checkpoints went to the app's schema, not to files.
    const files = existsSync(join(run.appDir, 'checkpoints')) ? readdirSync(join(run.appDir, 'checkpoints'), { recursive: true }) : [];
    expect(files).toEqual([]);
    const rows = await admin(db, async (c) => (await c.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'sluice_checkpoints'")).rows[0].n as number);
    expect(rows).toBe(1);

    // Many renewals and reissues, all healthy; expiry and health on /metrics.
    const [status] = await stores(run);
    console.log(`store credential: ${JSON.stringify(status)}`);
    expect(status).toMatchObject({ system: 'postgres', consecutiveFailures: 0 });
    expect(status!.renewals).toBeGreaterThanOrEqual(3);
    expect(status!.reissues).toBeGreaterThanOrEqual(2);
    const metrics = (await run.rest('/metrics')).text;
    expect(sample(metrics, 'sluice_store_credential_expiry_seconds{system="postgres"}')).toBeGreaterThan(Date.now() / 1000 - 10);
    expect(sample(metrics, 'sluice_store_credential_consecutive_failures{system="postgres"}')).toBe(0);
    expect(sample(metrics, 'sluice_store_credential_reissues_total{system="postgres",result="success"}')).toBe(status!.reissues);

    // No store password in REST, logs, argv or environment of the running processes.
    const app = (await run.rest('/ws/v1/app')).text + (await run.rest('/ws/v1/containers')).text + metrics;
    const pids = (await run.containers()).map((c) => c.pid!).filter(Boolean);
    const procs = [...pids, run.stram.child.pid!].map((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8') + readFileSync(`/proc/${pid}/environ`, 'utf8')).join('\n');
    const logs = [readFileSync(join(run.appDir, 'stram.log'), 'utf8'), ...['c1', 'c2', 'c3', 'c4'].map((id) => readFileSync(join(run!.appDir, 'containers', id, 'container.log'), 'utf8'))].join('\n');
    expect(seen.size).toBeGreaterThan(0);
    for (const p of [...seen, db.password]) {
      expect(app.includes(p), 'REST').toBe(false);
      expect(procs.includes(p), 'argv/env').toBe(false);
      expect(logs.includes(p), 'logs').toBe(false);
    }

    // After shutdown no role of the app can log in.
    const roles = await admin(db, async (c) => (await c.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'sluice\\_%\\_g%'")).rows.map((r) => r.rolname as string));
    expect(roles.length).toBeGreaterThan(0);
    await run.cleanup();
    run = undefined;
    const left = await admin(db, async (c) => (await c.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'sluice\\_%\\_g%' AND rolcanlogin")).rows);
    expect(left).toEqual([]);
    for (const role of roles) for (const p of seen) expect(await canLogIn(db, role, p)).not.toBe('accepted');
  }, 240_000);

  it('a STRAM killed with SIGKILL and recovered without the store flags (they are saved) issues a new credential to the adopted containers; counts stay exact', async () => {
    run = new RecoveryRun({ launchArgs: launchArgs('30s', '1h') });
    await run.launch();
    await run.untilOutputHas(30);
    const [before] = await stores(run);
    process.kill(run.stram.child.pid!, 'SIGKILL');
    await run.stram.exited;

    // The app dir keeps where the store is and the password file's path, never the password.
    const state = readFileSync(join(run.appDir, 'stram', 'state.json'), 'utf8');
    expect(JSON.parse(state)).toMatchObject({ postgres: { url: `postgres://${db.superuser}@${db.host}:${db.port}/postgres`, passwordFile }, options: { checkpointStore: 'postgres', storeLifetimeMs: 30_000 } });
    expect(statSync(join(run.appDir, 'stram', 'state.json')).mode & 0o777).toBe(0o600);
    expect(state.includes(db.password)).toBe(false);

    // Store flags that disagree with the saved ones are refused in one line, exit 2, nothing started.
    for (const [flags, why] of [
      [['--checkpoint-store', 'file'], /launched with checkpoints in postgres; --recover cannot move them to file/],
      [['--postgres', `postgres://${db.superuser}@${db.host}:${db.port}/other`], /was launched with PostgreSQL .*\/postgres, not .*\/other; --recover keeps its store/],
    ] as const) {
      const refused = await runCli(['launch', '--recover', run.appDir, ...flags], run.tmp.path);
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(why);
      expect(refused.stderr).toMatch(/\[BAD_USAGE\]$/m);
      expect(refused.stderr).not.toMatch(/\n\s+at /);
    }

    await run.recover();
    await run.untilContainers((cs) => cs.every((c) => c.state === 'running' && c.heartbeats > 0));
    const [status] = await stores(run);
    expect(status!.generation, JSON.stringify({ before, status })).toBeGreaterThan(before!.generation);
    // The adopted containers connect as the new login: the old STRAM's, renewed by nobody now, keeps no session.
    const current = new RegExp(`_g${status!.generation}$`);
    let sessions: string[] = [];
    for (let i = 0; i < 100 && !(sessions.length > 0 && sessions.every((u) => current.test(u))); i++) {
      if (i > 0) await sleep(100);
      sessions = await admin(db, async (c) => (await c.query<{ usename: string }>("SELECT usename FROM pg_stat_activity WHERE usename LIKE 'sluice\\_%\\_g%'")).rows.map((r) => r.usename));
    }
    expect(sessions.length, 'no container session in PostgreSQL').toBeGreaterThan(0);
    expect(sessions.filter((u) => !current.test(u)), `sessions of a role other than generation ${status!.generation}`).toEqual([]);
    const counts = await run.finalCounts();
    expect(counts, run.log('c2')).toMatchObject({ exact: true, tuples: 150 * 200 });
    // The adopted containers hold the recovered STRAM's credential.
    const users = new Set(['c1', 'c2', 'c3', 'c4'].map((id) => readCredentials(join(run!.appDir, 'containers', id, 'credentials')).stores?.['postgres']?.['user']));
    const now = (await stores(run))[0]!;
    expect([...users], JSON.stringify(now)).toEqual([expect.stringMatching(new RegExp(`_g${now.generation}$`))]);
  }, 240_000);

  it('revoking the role mid-run stops writes, shows in status and /metrics, and after the reissue the app resumes from its last checkpoint with exact counts', async () => {
    run = new RecoveryRun({ launchArgs: [...launchArgs('3s', '1h'), '--restart', 'fixed:attempts=50,delay=500ms'] });
    await run.launch();
    await run.untilOutputHas(20);
    const [before] = await stores(run);
    // The administrator revokes the app's login behind STRAM's back, live sessions included.
    await admin(db, async (c) => {
      const roles = (await c.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'sluice\\_%\\_g%' AND rolcanlogin")).rows.map((r) => r.rolname as string);
      for (const r of roles) {
        await c.query(`ALTER ROLE ${c.escapeIdentifier(r)} NOLOGIN`);
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [r]);
      }
    });
    // The next renewal finds the role gone: a failure in status and /metrics, then a reissue.
    const r = run;
    await r.untilContainers(() => true);
    const after = await (async () => {
      for (;;) {
        const [s] = await stores(r);
        if (s!.generation > before!.generation) return s!;
        await new Promise((res) => setTimeout(res, 200));
      }
    })();
    expect(after.failures).toBeGreaterThanOrEqual(1);
    const metrics = (await run.rest('/metrics')).text;
    expect(sample(metrics, 'sluice_store_credential_renewals_total{system="postgres",result="failure"}')).toBeGreaterThanOrEqual(1);
    const counts = await run.finalCounts();
    expect(counts, run.log('c2') + run.log('c3')).toMatchObject({ exact: true, tuples: 150 * 200 });
  }, 240_000);
});
