import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCredentials } from '@sluice/common';
import { TestPostgres } from '@sluice/common/testing';
import { API_PREFIX, RefusalCode, type AppDetail } from '@sluice/gateway';
import { TestRealm, gatewayCommand } from '@sluice/gateway/testing';
import { appIdentifier } from '@sluice/stram';
import { loginOutcome } from '@sluice/stram/testing';
import { GATEWAY_PRINCIPAL, GatewayClient, startGateway, writeLaunchPolicy, type GatewayRun } from './helpers/gateway-process.js';
import { admin as adminOf } from './helpers/store-db.js';
import { WORDCOUNT, pidAlive, procFile, runCli, tempDir, until } from './helpers/runtime-cli.js';

/**
 * A store through the gateway (docs/stores.md "Through a gateway"): the gateway is started with a
 * named PostgreSQL store (URL and 0600 password file), alice launches the demo asking for it by
 * name, its checkpoints land in the app's schema, counts end exact, the app's login roles are gone
 * after shutdown, and the privileged password is nowhere but its file: not in the app directory,
 * an argv or environment, a log, or an answer. An unknown store is refused by name.
 */
const skip = TestPostgres.unavailable() ?? (TestRealm.unavailable() ? 'no MIT KDC' : undefined);
const CONFIG = { seed: 11, tuplesPerWindow: 40, windows: 60 };

interface WordcountModule {
  expectedCounts(config: Record<string, unknown>, windows: number[]): Record<string, number>;
  readActualCounts(appDir: string): { windows: number[]; counts: Record<string, number> };
}

/** Every file under `dir`, as text (what an attacker who can read the app directory sees). */
function allText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)).toString('latin1'))
    .join('\n');
}

describe.skipIf(skip !== undefined)(`a store through the gateway${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const tmp = tempDir('sluice-gateway-store-');
  const stateDir = join(tmp.path, 'state');
  const passwordFile = join(tmp.path, 'pg-admin');
  let db: TestPostgres;
  let realm: TestRealm;
  let gw: GatewayRun;
  let client: GatewayClient;
  let storeUrl: string;
  let app: string | undefined;
  const pids = new Set<number>();
  const appDir = (id: string) => join(stateDir, 'apps', id);
  const admin = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => adminOf(db, fn);

  beforeAll(async () => {
    db = await TestPostgres.start();
    writeFileSync(passwordFile, `${db.password}\n`, { mode: 0o600 });
    storeUrl = `postgres://${db.superuser}@${db.host}:${db.port}/postgres`;
    realm = await TestRealm.start({ dir: tmp.path, principals: ['alice', GATEWAY_PRINCIPAL] });
    Object.assign(process.env, realm.env());
    const alice = join(tmp.path, 'alice.ccache');
    await realm.kinit('alice', alice);
    const args = ['--policy', writeLaunchPolicy(join(tmp.path, 'policy.yaml')), '--store', `pg=${storeUrl}`, '--store-password-file', `pg=${passwordFile}`];
    gw = await startGateway(realm, stateDir, tmp.path, args);
    client = new GatewayClient(gw.url, { alice });
  }, 120_000);

  afterAll(async () => {
    gw?.cli.kill('SIGKILL');
    await gw?.cli.exited;
    if (app && existsSync(join(appDir(app), 'stram.json'))) {
      const { pid } = JSON.parse(readFileSync(join(appDir(app), 'stram.json'), 'utf8')) as { pid: number };
      if (pidAlive(pid)) process.kill(pid, 'SIGTERM');
      await until(() => !pidAlive(pid));
    }
    for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    for (const k of ['KRB5CCNAME', 'KRB5_CONFIG', 'KRB5_KDC_PROFILE']) delete process.env[k];
    await realm?.stop();
    await db?.stop();
    tmp.remove();
  });

  it('refuses a store name the gateway does not have with 400 BAD_REQUEST naming the ones it has, and postgres checkpoints without a store', async () => {
    const unknown = await client.call('POST', `${API_PREFIX}/apps`, { user: 'alice' }, { app: 'demo', store: 'warehouse', settings: { checkpointStore: 'postgres' } });
    expect([unknown.status, unknown.body.error]).toEqual([400, RefusalCode.badRequest]);
    expect(unknown.body.reason).toBe(`store "warehouse" is not one of this gateway's stores: pg`);
    const none = await client.call('POST', `${API_PREFIX}/apps`, { user: 'alice' }, { app: 'demo', settings: { checkpointStore: 'postgres' } });
    expect([none.status, none.body.error]).toEqual([400, RefusalCode.badRequest]);
    expect(none.body.reason).toMatch(/checkpointStore "postgres" needs a store: name one of this gateway's \(pg\) in "store"/);
    // A server of the caller's choosing cannot be slipped in through the setting.
    const url = await client.call('POST', `${API_PREFIX}/apps`, { user: 'alice' }, { app: 'demo', store: 'pg', settings: { checkpointStore: 'postgres://evil@203.0.113.1/x' } });
    expect([url.status, url.body.error]).toEqual([400, RefusalCode.badRequest]);
    expect(url.body.reason).toMatch(/^setting checkpointStore must be "file" or "postgres"/);
    // From the command line: the gateway's refusal in one line, exit 2.
    const cli = await runCli(['launch', 'demo', '--gateway', gw.url, '--store', 'warehouse', '--checkpoint-store', 'postgres'], tmp.path, { ...realm.env(), KRB5CCNAME: join(tmp.path, 'alice.ccache') });
    expect(cli.code, cli.stderr).toBe(2);
    expect(cli.stderr).toMatch(/^sluice launch: the gateway refused \(400 BAD_REQUEST\): store "warehouse" is not one of this gateway's stores: pg \[GATEWAY_REFUSED\]$/m);
    const local = await runCli(['launch', 'demo', '--store', 'pg'], tmp.path);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/--store names a store of a gateway: it applies with --gateway <url> only/);
    expect(existsSync(join(stateDir, 'apps')) ? readdirSync(join(stateDir, 'apps')) : []).toEqual([]);
  });

  it("launches alice's demo with the gateway's store: checkpoints in the app's schema, exact counts, no role left after shutdown, the admin password nowhere", async () => {
    const launched = await client.call<{ id: string }>('POST', `${API_PREFIX}/apps`, { user: 'alice' }, {
      app: 'demo',
      store: 'pg',
      config: CONFIG,
      settings: { window: '100ms', checkpointWindows: 10, checkpointStore: 'postgres', storeLifetimeMs: 3_000, storeMaxLifetimeMs: 9_000 },
    });
    expect(launched.status, launched.text).toBe(201);
    const id = (app = launched.body.id);
    const dir = appDir(id);
    const detail = async () => (await client.call<AppDetail>('GET', `${API_PREFIX}/apps/${id}`, { user: 'alice' })).body;
    await until(async () => (await detail()).status?.containers.every((c) => (c as { state: string }).state === 'running') ?? false);

    // Every window written, with the generator's exact counts.
    const wordcount = (await import(pathToFileURL(WORDCOUNT).href)) as WordcountModule;
    const all = Array.from({ length: CONFIG.windows }, (_, i) => i + 1);
    await until(() => new Set(wordcount.readActualCounts(dir).windows).size >= CONFIG.windows, 200);
    const { windows, counts } = wordcount.readActualCounts(dir);
    expect(windows).toEqual(all);
    expect(counts).toEqual(wordcount.expectedCounts(CONFIG, all));

    // Checkpoints went to the app's schema, not to files.
    const schema = appIdentifier(id);
    await until(async () => (await admin(async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${c.escapeIdentifier(schema)}.sluice_checkpoints`)).rows[0].n as number)) > 0, 200);
    const files = existsSync(join(dir, 'checkpoints')) ? readdirSync(join(dir, 'checkpoints'), { recursive: true }) : [];
    expect(files).toEqual([]);

    // The store credential is the app's own and STRAM renews it; the status shows no password.
    const status = await detail();
    const stores = (status.status!.app as { stores: { system: string; consecutiveFailures: number }[] }).stores;
    expect(stores).toEqual([expect.objectContaining({ system: 'postgres', consecutiveFailures: 0 })]);
    const held = readdirSync(join(dir, 'containers')).map((c) => readCredentials(join(dir, 'containers', c, 'credentials')).stores?.['postgres']);
    const logins = held.map((s) => ({ user: s!['user']!, password: s!['password']! }));
    // Each holds a login of the app's own (one per generation: a reissue every few seconds may sit between two files).
    for (const l of logins) expect(l.user.startsWith(`${schema}_g`), l.user).toBe(true);

    // The admin password: not in the app directory, an argv or environment, a log or an answer.
    const stram = JSON.parse(readFileSync(join(dir, 'stram.json'), 'utf8')) as { pid: number };
    const containerPids = (status.status!.containers as { pid: number | null }[]).flatMap((c) => (c.pid ? [c.pid] : []));
    for (const pid of [stram.pid, ...containerPids]) pids.add(pid);
    const procs = [stram.pid, ...containerPids].map((pid) => `${procFile(pid, 'cmdline')}\n${procFile(pid, 'environ')}`).join('\n');
    expect(procFile(stram.pid, 'cmdline')).toContain(`--postgres-password-file=${passwordFile}`);
    const seen = { appDir: allText(dir), procs, gatewayLog: gw.cli.stderr, launchLog: readFileSync(join(stateDir, 'launches', `${id}.log`), 'utf8'), answers: client.bodies.join('\n') + JSON.stringify(status) };
    for (const [where, text] of Object.entries(seen)) expect(text.includes(db.password), where).toBe(false);
    expect(statSync(join(dir, 'stram', 'state.json')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(dir, 'stram', 'state.json'), 'utf8'))).toMatchObject({ postgres: { url: storeUrl, passwordFile } });

    // After shutdown the app's login role cannot log in: dropped, so PostgreSQL refuses the password.
    const stop = await client.call('POST', `${API_PREFIX}/apps/${id}/shutdown`, { user: 'alice' });
    expect(stop.status).toBe(202);
    await until(() => !pidAlive(stram.pid), 200);
    const left = await admin(async (c) => (await c.query("SELECT rolname FROM pg_roles WHERE rolname LIKE $1 AND rolcanlogin", [`${schema}\\_g%`])).rows);
    expect(left).toEqual([]);
    for (const l of logins) expect(['28P01', '28000']).toContain(await loginOutcome({ host: db.host, port: db.port, ...l }));
    // The data stays with the app's group role and schema.
    expect(await admin(async (c) => (await c.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema])).rows[0].n)).toBe(1);
  }, 240_000);

  it('refuses to start with a store whose password file others can read, in one line and exit 2', async () => {
    const loose = join(tmp.path, 'pg-loose');
    writeFileSync(loose, `${db.password}\n`, { mode: 0o644 });
    const command = gatewayCommand(realm, join(tmp.path, 'state-loose'), ['--store', `pg=${storeUrl}`, '--store-password-file', `pg=${loose}`]);
    const res = await runCli(command.args, tmp.path, command.env);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(/^sluice gateway: store pg: .*pg-loose.* \[BAD_CONFIG\]$/m);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.stderr.includes(db.password)).toBe(false);
    // Refused before the gateway writes anything or gets a ticket: no state directory, no credential cache.
    expect(existsSync(join(tmp.path, 'state-loose'))).toBe(false);
    const half = gatewayCommand(realm, join(tmp.path, 'state-half'), ['--store', `pg=${storeUrl}`]);
    const missing = await runCli(half.args, tmp.path, half.env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--store pg needs --store-password-file pg=FILE .*\[BAD_USAGE\]/);
  });
});
