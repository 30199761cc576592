import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceError } from '@sluice/common';
import { TestPostgres } from '@sluice/common/testing';
import { loginOutcome } from '../testing/store-login.js';
import { PostgresProvider, adminUrl } from './postgres-provider.js';
import type { StoreCredential } from './provider.js';

const skip = TestPostgres.unavailable();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Connects as a credential; resolves with the client, or rejects with PostgreSQL's refusal. */
async function login(c: StoreCredential): Promise<pg.Client> {
  const s = c.secret;
  const client = new pg.Client({ host: s['host'], port: Number(s['port']), database: s['database'], user: s['user'], password: s['password'] });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

const refusal = (c: StoreCredential): Promise<string> => loginOutcome(c.secret);

describe.skipIf(skip !== undefined)(`PostgresProvider on a real PostgreSQL${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await TestPostgres.start();
  }, 120_000);
  afterAll(async () => {
    await db?.stop();
  });

  const provider = (app: string, lifetimeMs = 60_000, maxLifetimeMs = 600_000): PostgresProvider =>
    new PostgresProvider({ adminUrl: db.url(), app, lifetimeMs, maxLifetimeMs });

  it('issues a login that reaches only the app schema, where the tables it creates belong to the app', async () => {
    const p = provider('wordcount-1');
    const cred = await p.obtain(Date.now());
    const c = await login(cred);
    await c.query('CREATE TABLE t (n int)');
    await c.query('INSERT INTO t VALUES (1)');
    const owner = await c.query("SELECT tableowner FROM pg_tables WHERE tablename = 't'");
    expect(owner.rows[0].tableowner).toBe(p.schema);
    const where = await c.query("SELECT schemaname FROM pg_tables WHERE tablename = 't'");
    expect(where.rows[0].schemaname).toBe(p.schema);
    // Nothing outside it: not the public schema, not another app's schema.
    await expect(c.query('CREATE TABLE public.x (n int)')).rejects.toMatchObject({ code: '42501' });
    const other = provider('other-app');
    const otherCred = await other.obtain(Date.now());
    const oc = await login(otherCred);
    await oc.query('CREATE TABLE secret (n int)');
    await oc.end();
    await expect(c.query(`SELECT * FROM ${other.schema}.secret`)).rejects.toMatchObject({ code: '42501' });
    await c.end();
    await p.cancel();
    await other.cancel();
  });

  it('creates the role with a SCRAM verifier: the password is not in the server\'s statement log', async () => {
    const admin = new pg.Client({ connectionString: db.url() });
    await admin.connect();
    await admin.query("ALTER SYSTEM SET log_statement = 'all'");
    await admin.query('SELECT pg_reload_conf()');
    const p = provider('verifier-app');
    const cred = await p.obtain(Date.now());
    await admin.query('ALTER SYSTEM RESET log_statement');
    await admin.query('SELECT pg_reload_conf()');
    await admin.end();
    const log = readFileSync(join(db.dir, 'log'), 'utf8');
    expect(log).toContain(`CREATE ROLE "${cred.secret['user']}"`);
    expect(log).toContain('SCRAM-SHA-256$4096:');
    expect(log).not.toContain(cred.secret['password']);
    expect(await refusal(cred)).toBe('accepted');
    await p.cancel();
  });

  it('a credential past its VALID UNTIL is refused at login; a renewal extends it, capped at its max date', async () => {
    const p = provider('expiry-app', 2_000, 8_000);
    const cred = await p.obtain(Date.now());
    expect(await refusal(cred)).toBe('accepted');
    await sleep(1_200);
    const renewed = await p.renew(cred, Date.now());
    expect(renewed).toBeLessThanOrEqual(cred.maxDate);
    // Past the first expiry: accepted because renewed.
    await sleep(Math.max(0, cred.expiry + 200 - Date.now()));
    expect(await refusal(cred)).toBe('accepted');
    // Past the renewed expiry: refused by PostgreSQL itself.
    await sleep(Math.max(0, renewed + 200 - Date.now()));
    expect(await refusal(cred)).toBe('28P01');
    // Renewal never goes past the max date, however late it is asked for.
    expect(await p.renew(cred, cred.maxDate + 60_000)).toBe(cred.maxDate);
    await p.cancel();
  });

  it('revoking ends live sessions at once and the role cannot log in again; renewing it is refused', async () => {
    const p = provider('revoke-app');
    const cred = await p.obtain(Date.now());
    const live = await login(cred);
    await live.query('CREATE TABLE w (n int)');
    await p.revoke(cred);
    await expect(live.query('INSERT INTO w VALUES (1)')).rejects.toBeDefined();
    expect(await refusal(cred)).toBe('28P01');
    const err = await p.renew(cred, Date.now()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('STORE_REVOKED');
    // A reissue works, and finds the app's data.
    const next = await p.obtain(Date.now());
    expect(next.generation).toBeGreaterThan(cred.generation);
    const c = await login(next);
    expect((await c.query('SELECT count(*)::int AS n FROM w')).rows[0].n).toBe(0);
    await c.end();
    await p.cancel();
  });

  it('after cancel (app end) no role of the app can log in, old generations included', async () => {
    const p = provider('ended-app');
    const first = await p.obtain(Date.now());
    const second = await p.obtain(Date.now());
    await p.cancel();
    expect(await refusal(first)).toBe('28P01');
    expect(await refusal(second)).toBe('28P01');
    const admin = new pg.Client({ connectionString: db.url() });
    await admin.connect();
    const left = await admin.query("SELECT rolname FROM pg_roles WHERE rolname LIKE $1 || '\\_g%'", [p.schema]);
    await admin.end();
    expect(left.rows).toEqual([]);
  });

  it('a wrong admin password is one STORE_UNAVAILABLE line, and the admin file must be private', async () => {
    const p = new PostgresProvider({ adminUrl: db.url(db.superuser, 'wrong'), app: 'x', lifetimeMs: 1000, maxLifetimeMs: 2000 });
    const err = await p.obtain(Date.now()).catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('STORE_UNAVAILABLE');
    expect((err as Error).message).not.toContain('wrong');
    const dir = mkdtempSync(join(tmpdir(), 'sluice-pgadmin-'));
    try {
      const file = join(dir, 'pw');
      writeFileSync(file, db.password + '\n', { mode: 0o644 });
      chmodSync(file, 0o644);
      const bare = `postgres://${db.superuser}@${db.host}:${db.port}/postgres`;
      expect(() => adminUrl(bare, file)).toThrow(/PostgreSQL password file/);
      chmodSync(file, 0o600);
      const url = adminUrl(bare, file);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.end();
      // A password on the command line is refused, without echoing it.
      const err = (() => {
        try {
          adminUrl(db.url(), file);
        } catch (e) {
          return e as SluiceError;
        }
        return undefined;
      })();
      expect(err?.code).toBe('BAD_CONFIG');
      expect(err?.message).not.toContain(db.password);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the privileged URL', () => {
  it('refuses a URL it cannot parse without echoing a password in it (BAD_CONFIG)', () => {
    let err: SluiceError | undefined;
    try {
      adminUrl('postgres://admin:s3cr/et@[::1:5432/apps', '/nonexistent');
    } catch (e) {
      err = e as SluiceError;
    }
    expect(err?.code).toBe('BAD_CONFIG');
    expect(err?.message).toBe('"postgres://admin:***@[::1:5432/apps" is not a postgres://role@host:port/database URL');
  });
});
