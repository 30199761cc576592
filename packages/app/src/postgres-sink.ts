import pg from 'pg';
import { Operator, SluiceError, createdMeanwhile, type OperatorContext } from '@sluice/common';

/**
 * An output operator that writes each window's tuples to a table in the app's PostgreSQL schema
 * (docs/stores.md), idempotently per window: one transaction deletes the window's rows and
 * inserts the new ones, so a window replayed after a failure replaces what an earlier attempt
 * wrote and the table ends exact. Declare it with `uses: ['postgres']`; it connects with the
 * app's store credential (OperatorContext.store), re-reading it on every connect and switching
 * when STRAM has replaced it. A write that fails (a revoked credential) fails the operator, which
 * is restarted from its checkpoint under the app's restart strategy.
 *
 * The table, `<schema>.<table>` (default `sluice_output`): `w bigint, n int, tuple jsonb`,
 * primary key `(w, n)`; created when missing.
 */
export class PostgresWindowSink<T = unknown> extends Operator {
  readonly in = this.input<T>((t) => this.pending.push(t));
  private pending: T[] = [];
  private ctx: OperatorContext | undefined;
  private client: pg.Client | undefined;
  private connectedAs = '';

  constructor(private readonly table = 'sluice_output') {
    super();
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) throw new SluiceError('BAD_CONFIG', `PostgresWindowSink: "${table}" is not a lowercase table name`);
  }

  setup(ctx: OperatorContext): void {
    this.ctx = ctx;
  }

  beginWindow(): void {
    this.pending = [];
  }

  async endWindow(w: number): Promise<void> {
    const tuples = this.pending;
    this.pending = [];
    const c = await this.connection();
    const t = `${pg.escapeIdentifier(this.schema())}.${pg.escapeIdentifier(this.table)}`;
    try {
      await c.query('BEGIN');
      await c.query(`DELETE FROM ${t} WHERE w = $1`, [w]);
      await c.query(`INSERT INTO ${t} (w, n, tuple) SELECT $1, x.n, x.v FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS x(v, n)`, [w, JSON.stringify(tuples)]);
      await c.query('COMMIT');
    } catch (err) {
      await this.drop();
      throw new SluiceError('STORE_UNAVAILABLE', `window ${w} could not be written to ${t}: ${(err as Error).message}`, { cause: err });
    }
  }

  async teardown(): Promise<void> {
    await this.drop();
  }

  private login(): Readonly<Record<string, string>> {
    const s = this.ctx?.store?.('postgres');
    if (!s) throw new SluiceError('BAD_CONFIG', `${this.ctx?.name ?? 'PostgresWindowSink'} holds no PostgreSQL credential: declare the operator with uses: ['postgres'] and launch with --postgres`);
    return s;
  }

  private schema(): string {
    return this.login()['schema']!;
  }

  /** The open connection, or a new one with the current credential (also when it has been replaced). */
  private async connection(): Promise<pg.Client> {
    const s = this.login();
    const as = `${s['user']}\n${s['password']}`;
    if (this.client && this.connectedAs === as) return this.client;
    await this.drop();
    const c = new pg.Client({ host: s['host'], port: Number(s['port']), database: s['database'], user: s['user'], password: s['password'], connectionTimeoutMillis: 10_000 });
    // A session ended by the server (revocation) surfaces on the next query; never as a crash.
    c.on('error', () => undefined);
    try {
      await c.connect();
      // Partitions of the sink starting together create it at once: the losers of the catalog race find it there.
      await c.query(`CREATE TABLE IF NOT EXISTS ${pg.escapeIdentifier(s['schema']!)}.${pg.escapeIdentifier(this.table)} (w bigint NOT NULL, n int NOT NULL, tuple jsonb NOT NULL, PRIMARY KEY (w, n))`).catch((err: unknown) => {
        if (!createdMeanwhile(err)) throw err;
      });
    } catch (err) {
      await c.end().catch(() => undefined);
      throw new SluiceError('STORE_UNAVAILABLE', `cannot connect to PostgreSQL as ${s['user']}: ${(err as Error).message}`, { cause: err });
    }
    this.client = c;
    this.connectedAs = as;
    return c;
  }

  private async drop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.connectedAs = '';
    await c?.end().catch(() => undefined);
  }
}
