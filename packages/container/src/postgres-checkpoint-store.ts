import pg from 'pg';
import { SluiceError, createdMeanwhile, decode, encode } from '@sluice/common';
import { checkOperatorId, type CheckpointStore } from './checkpoint-store.js';

/**
 * Operator checkpoints in the app's PostgreSQL schema (docs/stores.md): one row per operator and
 * window in `<schema>.sluice_checkpoints`, the same MessagePack of `{ w, state }` the file store
 * writes. A save is one upsert, durable when it resolves, so a crash leaves the previous
 * checkpoint intact as with files. It connects with the app's expiring store credential; a new
 * one (pushed sealed over the umbilical) replaces the pool, and a revoked one makes every call
 * fail with STORE_UNAVAILABLE at once, so the operator stops instead of writing past it.
 */

/** The connection fields of a PostgreSQL store credential (the provider's `secret`). */
export interface PostgresLogin {
  host: string;
  port: string;
  database: string;
  user: string;
  password: string;
  schema: string;
}

const TABLE = 'sluice_checkpoints';

export class PostgresCheckpointStore implements CheckpointStore {
  private pool: pg.Pool;
  private login: PostgresLogin;
  private ready: Promise<void> | undefined;
  /** Queries started and not yet settled, per pool: a replaced pool ends once its count is 0. */
  private readonly busy = new Map<pg.Pool, number>();

  constructor(login: PostgresLogin) {
    this.login = login;
    this.pool = this.open(login);
  }

  /**
   * A renewed or reissued credential: queries from now on use it. The old pool ends once the
   * queries already given to it settle — those waiting there for a connection too: a pool that is
   * ending never serves its queue, so they would fail at the connection timeout (the old login
   * stays valid a whole renewal period after the push, docs/stores.md).
   */
  useLogin(login: PostgresLogin): void {
    if (login.user === this.login.user && login.password === this.login.password) return;
    const old = this.pool;
    this.login = login;
    this.pool = this.open(login);
    this.ready = undefined;
    if (!this.busy.has(old)) void old.end().catch(() => undefined);
  }

  async save(operatorId: string, w: number, state: unknown): Promise<void> {
    const bytes = encode({ w, state: state === undefined ? null : state });
    await this.query(`INSERT INTO ${this.table()} (operator, w, state) VALUES ($1, $2, $3) ON CONFLICT (operator, w) DO UPDATE SET state = EXCLUDED.state`, [checkOperatorId(operatorId), w, bytes]);
  }

  async load(operatorId: string, w: number): Promise<unknown> {
    const res = await this.query<{ state: Buffer }>(`SELECT state FROM ${this.table()} WHERE operator = $1 AND w = $2`, [checkOperatorId(operatorId), w]);
    const row = res.rows[0];
    if (!row) throw new SluiceError('STATE_IO', `checkpoint ${w} of ${operatorId} is not in ${this.login.schema}.${TABLE}`);
    const value = decode(row.state) as { w?: unknown; state?: unknown } | null;
    if (value === null || typeof value !== 'object' || value.w !== w) throw new SluiceError('STATE_CORRUPT', `checkpoint ${w} of ${operatorId} in ${this.login.schema}.${TABLE} is damaged`);
    return value.state;
  }

  async windows(operatorId: string): Promise<number[]> {
    const res = await this.query<{ w: string }>(`SELECT w FROM ${this.table()} WHERE operator = $1 ORDER BY w`, [checkOperatorId(operatorId)]);
    return res.rows.map((r) => Number(r.w));
  }

  async prune(operatorId: string, committed: number): Promise<void> {
    await this.query(`DELETE FROM ${this.table()} WHERE operator = $1 AND w < $2`, [checkOperatorId(operatorId), committed]);
  }

  async close(): Promise<void> {
    const pools = new Set([this.pool, ...this.busy.keys()]);
    await Promise.all([...pools].map((pool) => pool.end().catch(() => undefined)));
  }

  private open(login: PostgresLogin): pg.Pool {
    const pool = new pg.Pool({ host: login.host, port: Number(login.port), database: login.database, user: login.user, password: login.password, max: 2, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 5_000 });
    // A terminated idle session (revocation) surfaces on the next query; an idle error must not crash.
    pool.on('error', () => undefined);
    return pool;
  }

  private table(): string {
    return `${pg.escapeIdentifier(this.login.schema)}.${TABLE}`;
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      await (this.ready ??= this.createTable());
      return await this.using(this.pool, (pool) => pool.query<R>(text, values));
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      this.ready = undefined;
      // PostgreSQL's words only (never the connection string, which holds the password).
      throw new SluiceError('STORE_UNAVAILABLE', `checkpoint store ${this.login.schema} as ${this.login.user}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Runs `fn` on `pool`, counted in `busy`; the last query of a replaced pool ends it. */
  private async using<T>(pool: pg.Pool, fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
    this.busy.set(pool, (this.busy.get(pool) ?? 0) + 1);
    try {
      return await fn(pool);
    } finally {
      const left = this.busy.get(pool)! - 1;
      if (left > 0) this.busy.set(pool, left);
      else {
        this.busy.delete(pool);
        if (pool !== this.pool) void pool.end().catch(() => undefined);
      }
    }
  }

  private async createTable(): Promise<void> {
    const sql = `CREATE TABLE IF NOT EXISTS ${this.table()} (operator text NOT NULL, w bigint NOT NULL, state bytea NOT NULL, PRIMARY KEY (operator, w))`;
    try {
      await this.using(this.pool, (pool) => pool.query(sql));
    } catch (err) {
      // Containers starting together create it at once: the losers of the catalog race find it there.
      if (!createdMeanwhile(err)) throw err;
    }
  }
}
