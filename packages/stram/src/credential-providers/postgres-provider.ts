import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { SluiceError, readPrivateFile } from '@sluice/common';
import type { CredentialProvider, StoreCredential } from './provider.js';

/**
 * The PostgreSQL provider (docs/stores.md). Per app: a NOLOGIN group role that owns the app's
 * schema and nothing else, and per issue a LOGIN role with a random password and `VALID UNTIL`,
 * a member of the group whose sessions switch to it (`SET role`), so every object the app creates
 * belongs to the group and a login role can be dropped at any time. Renew extends `VALID UNTIL`;
 * revoke sets NOLOGIN, terminates the role's sessions (PostgreSQL checks `VALID UNTIL` at login
 * only) and drops it. The privileged login is a SCRAM password in a 0600 file: npm `pg` has no
 * GSSAPI.
 */

export interface PostgresProviderOptions {
  /** The privileged connection: `postgres://user:password@host:port/db`, read from a 0600 file. */
  adminUrl: string;
  app: string;
  /** How long a credential is accepted after an issue or renewal. */
  lifetimeMs: number;
  /** How long after its issue a credential can be renewed at most. */
  maxLifetimeMs: number;
}

/**
 * The privileged connection URL: `url` (server, database and role, no password: argv is visible
 * to every user) with the password read from a 0600 file of ours (its first line).
 */
export function adminUrl(url: string, passwordFile: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL, but it may still hold a password after the role: that part is not echoed.
    throw new SluiceError('BAD_CONFIG', `"${url.replace(/^([^:/]*:\/\/[^:@/]*):.*@/, '$1:***@')}" is not a postgres://role@host:port/database URL`);
  }
  if (!/^postgres(ql)?:$/.test(u.protocol) || !u.username) throw new SluiceError('BAD_CONFIG', `"${u.protocol}//${u.host}${u.pathname}" must be a postgres://role@host:port/database URL naming the privileged role`);
  if (u.password) throw new SluiceError('BAD_CONFIG', 'the PostgreSQL URL must not hold a password (anyone can read a command line): put it in the password file');
  const text = readPrivateFile(passwordFile, { what: 'PostgreSQL password file', code: 'BAD_CONFIG' }).toString('utf8');
  const password = text.split('\n')[0]!.trim();
  if (!password) throw new SluiceError('BAD_CONFIG', `${passwordFile} is empty: it must hold the privileged role's password on its first line`);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** A PostgreSQL identifier for `app` plus `suffix`: lowercase, at most 63 bytes, unique per app. */
export function appIdentifier(app: string, suffix = ''): string {
  const clean = app.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const hash = createHash('sha256').update(app).digest('hex').slice(0, 8);
  return `sluice_${clean.slice(0, 40)}_${hash}${suffix}`;
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, PostgreSQL's
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`): the role is created with it, so
 * the password itself never reaches the server, nor its statement log.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export class PostgresProvider implements CredentialProvider {
  readonly system = 'postgres';
  readonly schema: string;
  private readonly group: string;
  private generation = 0;
  private readonly issued = new Map<number, string>();
  private ready: Promise<void> | undefined;

  constructor(private readonly o: PostgresProviderOptions) {
    this.schema = appIdentifier(o.app);
    this.group = this.schema;
  }

  /** The role a credential logs in as. */
  roleOf(c: StoreCredential): string {
    return c.secret['user']!;
  }

  async obtain(now: number): Promise<StoreCredential> {
    await (this.ready ??= this.setUp());
    const generation = ++this.generation;
    const role = `${this.group}_g${generation}`;
    const password = randomBytes(24).toString('base64url');
    const expiry = now + this.o.lifetimeMs;
    await this.admin(async (c) => {
      const r = c.escapeIdentifier(role);
      await c.query(`DROP ROLE IF EXISTS ${r}`);
      await c.query(`CREATE ROLE ${r} LOGIN NOINHERIT PASSWORD ${c.escapeLiteral(scramVerifier(password))} VALID UNTIL ${c.escapeLiteral(new Date(expiry).toISOString())} IN ROLE ${c.escapeIdentifier(this.group)}`);
      await c.query(`ALTER ROLE ${r} SET role = ${c.escapeLiteral(this.group)}`);
      await c.query(`ALTER ROLE ${r} SET search_path = ${c.escapeIdentifier(this.schema)}`);
    });
    this.issued.set(generation, role);
    const u = new URL(this.o.adminUrl);
    return {
      system: this.system,
      generation,
      secret: { host: u.hostname, port: u.port || '5432', database: decodeURIComponent(u.pathname.slice(1)) || 'postgres', user: role, password, schema: this.schema },
      issueDate: now,
      expiry,
      maxDate: now + this.o.maxLifetimeMs,
    };
  }

  async renew(credential: StoreCredential, now: number): Promise<number> {
    const expiry = Math.min(credential.maxDate, now + this.o.lifetimeMs);
    const role = this.roleOf(credential);
    await this.admin(async (c) => {
      const res = await c.query('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [role]);
      if (res.rows[0]?.rolcanlogin !== true) throw new SluiceError('STORE_REVOKED', `role ${role} no longer exists or cannot log in; a new credential is needed`);
      await c.query(`ALTER ROLE ${c.escapeIdentifier(role)} VALID UNTIL ${c.escapeLiteral(new Date(expiry).toISOString())}`);
    });
    return expiry;
  }

  async revoke(credential: StoreCredential): Promise<void> {
    await this.admin((c) => this.drop(c, this.roleOf(credential)));
    this.issued.delete(credential.generation);
  }

  async cancel(): Promise<void> {
    await this.admin(async (c) => {
      // Every login role of the app, also those of an earlier STRAM of the same app.
      const res = await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE $1 || '\\_g%'", [this.group]);
      for (const { rolname } of res.rows) await this.drop(c, rolname);
    });
    this.issued.clear();
  }

  private async drop(c: pg.Client, role: string): Promise<void> {
    const r = c.escapeIdentifier(role);
    const exists = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    if (exists.rowCount === 0) return;
    await c.query(`ALTER ROLE ${r} NOLOGIN`);
    await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
    await c.query(`DROP ROLE ${r}`);
  }

  /** The group role and schema, once per app; a later STRAM of the same app finds them. */
  private async setUp(): Promise<void> {
    await this.admin(async (c) => {
      const g = c.escapeIdentifier(this.group);
      const has = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [this.group]);
      if (has.rowCount === 0) await c.query(`CREATE ROLE ${g} NOLOGIN`);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${c.escapeIdentifier(this.schema)} AUTHORIZATION ${g}`);
      const existing = await c.query<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE $1 || '\\_g%'", [this.group]);
      for (const { rolname } of existing.rows) this.generation = Math.max(this.generation, Number(rolname.slice(this.group.length + 2)) || 0);
    });
  }

  private async admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: this.o.adminUrl, connectionTimeoutMillis: 10_000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
    } catch (err) {
      throw new SluiceError('STORE_UNAVAILABLE', `cannot reach PostgreSQL as the provider's admin: ${(err as Error).message}`, { cause: err });
    }
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  }
}
