import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresWindowSink } from '@sluice/app';
import { SluiceError, createLogger, readCredentials } from '@sluice/common';
import { TestPostgres } from '@sluice/common/testing';
import { PostgresProvider, type ContainerView } from '@sluice/stram';
import { PER_WINDOW, WINDOWS } from './helpers/postgres-sink-app.js';
import { ROOT, pidAlive, startCli, tempDir, until, type CliProcess } from './helpers/runtime-cli.js';

/**
 * A PostgreSQL sink under `sluice launch` (docs/stores.md): only the container running the
 * operator that declares `uses: ['postgres']` holds the store credential; the sink writes each
 * window idempotently, so after a kill -9 of its container the table holds every number exactly
 * once, through credential renewals and reissues.
 */
const skip = TestPostgres.unavailable();
const APP = join(ROOT, 'test', 'dist', 'helpers', 'postgres-sink-app.js');
const TIMING = ['--window', '100ms', '--checkpoint-windows', '10', '--heartbeat-interval', '250ms', '--heartbeat-timeout', '3s', '--log-level', 'warn'];

describe.skipIf(skip !== undefined)(`a PostgreSQL sink${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let db: TestPostgres;
  const tmp = tempDir('sluice-pg-sink-');
  const appDir = join(tmp.path, 'app');
  let cli: CliProcess | undefined;
  const pids = new Set<number>();
  beforeAll(async () => {
    db = await TestPostgres.start();
  }, 120_000);
  afterAll(async () => {
    if (cli && cli.child.exitCode === null) {
      cli.kill('SIGTERM');
      await Promise.race([cli.exited, new Promise((r) => setTimeout(r, 20_000))]);
    }
    for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    tmp.remove();
    await db?.stop();
  });

  async function containers(): Promise<ContainerView[]> {
    const { rest } = JSON.parse(readFileSync(join(appDir, 'stram.json'), 'utf8')) as { rest: string };
    const token = readFileSync(join(appDir, 'web-token'), 'utf8').trim();
    const res = await fetch(`${rest}/ws/v1/containers`, { headers: { authorization: `Bearer ${token}` } });
    const cs = ((await res.json()) as { containers: ContainerView[] }).containers;
    for (const c of cs) if (c.pid) pids.add(c.pid);
    return cs;
  }

  async function written(): Promise<{ windows: number; rows: number; sum: number }> {
    const c = new pg.Client({ connectionString: db.url() });
    await c.connect();
    try {
      const t = await c.query("SELECT schemaname FROM pg_tables WHERE tablename = 'numbers'");
      if (t.rowCount === 0) return { windows: 0, rows: 0, sum: 0 };
      const r = await c.query(`SELECT count(DISTINCT w)::int AS windows, count(*)::int AS rows, coalesce(sum((tuple)::bigint), 0)::bigint AS sum FROM ${c.escapeIdentifier(t.rows[0].schemaname)}.numbers WHERE tuple <> 'null'`);
      return { windows: r.rows[0].windows, rows: r.rows[0].rows, sum: Number(r.rows[0].sum) };
    } finally {
      await c.end();
    }
  }

  it('only the sink container holds the credential; after kill -9 of it every number is in the table exactly once', async () => {
    const passwordFile = join(tmp.path, 'pg-admin');
    writeFileSync(passwordFile, `${db.password}\n`, { mode: 0o600 });
    const store = ['--postgres', `postgres://${db.superuser}@${db.host}:${db.port}/postgres`, '--postgres-password-file', passwordFile, '--store-lifetime', '2s', '--store-max-lifetime', '6s'];
    cli = startCli(['launch', APP, '--app-dir', appDir, ...TIMING, ...store, '--restart', 'fixed:attempts=20,delay=500ms'], tmp.path);
    await cli.waitFor(/launched \S+/);
    await until(async () => (await containers().catch(() => [])).filter((c) => c.state === 'running' && c.deployed).length === 2, 200);
    expect(readCredentials(join(appDir, 'containers', 'c1', 'credentials')).stores).toBeUndefined();
    expect(readCredentials(join(appDir, 'containers', 'c2', 'credentials')).stores?.['postgres']?.['user']).toMatch(/^sluice_/);
    await until(async () => (await written()).windows >= 15, 200);
    const c2 = (await containers()).find((c) => c.id === 'c2')!;
    process.kill(c2.pid!, 'SIGKILL');
    await until(async () => (await containers().catch(() => [])).some((c) => c.id === 'c2' && c.restarts === c2.restarts + 1 && c.state === 'running'), 200);
    const expected = { windows: WINDOWS, rows: WINDOWS * PER_WINDOW, sum: Array.from({ length: WINDOWS }, (_, i) => (i + 1) * 1000 * PER_WINDOW + (PER_WINDOW * (PER_WINDOW - 1)) / 2).reduce((a, b) => a + b, 0) };
    await until(async () => (await written()).windows >= WINDOWS, 200);
    expect(await written()).toEqual(expected);
    // Still only the sink's container: the replacement got it, the generator never did.
    expect(readCredentials(join(appDir, 'containers', 'c1', 'credentials')).stores).toBeUndefined();
  }, 180_000);

  it('partitions of the sink creating its table at once all write their window: the losers of the catalog race find it there', async () => {
    // Each round a fresh schema and eight partitions whose first window creates the table together.
    for (let round = 0; round < 30; round++) {
      const provider = new PostgresProvider({ adminUrl: db.url(), app: `sink-race-${round}`, lifetimeMs: 60_000, maxLifetimeMs: 600_000 });
      const secret = (await provider.obtain(Date.now())).secret;
      const sinks = Array.from({ length: 8 }, (_, i) => {
        const sink = new PostgresWindowSink<number>('numbers');
        sink.setup({ id: `sink#${i}`, name: 'sink', partition: i, partitions: 8, appDir: tmp.path, logger: createLogger({ name: 'test', level: 'silent' }), store: () => secret });
        return sink;
      });
      try {
        const outcomes = await Promise.all(sinks.map((s) => s.endWindow(1).then(() => 'written', (e: unknown) => (e as SluiceError).code)));
        expect(outcomes, `round ${round}`).toEqual(Array(8).fill('written'));
      } finally {
        await Promise.all(sinks.map((s) => s.teardown()));
        await provider.cancel();
      }
    }
  }, 60_000);
});
