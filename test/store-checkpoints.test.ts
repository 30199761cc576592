import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceError } from '@sluice/common';
import { TestPostgres } from '@sluice/common/testing';
import { PostgresCheckpointStore, type PostgresLogin } from '@sluice/container';
import { PostgresProvider, type StoreCredential } from '@sluice/stram';

/**
 * Checkpoints in PostgreSQL (docs/stores.md) against a real cluster, with the login the
 * PostgreSQL provider issues: the same behaviour as the file store, a revoked credential stops
 * writes at once, and a reissued one carries on from the checkpoints already there.
 */
const skip = TestPostgres.unavailable();

const loginOf = (c: StoreCredential): PostgresLogin => c.secret as unknown as PostgresLogin;

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (err === undefined) return 'resolved';
  if (err instanceof SluiceError) return err.code;
  throw err;
}

/** How many sessions `role` has open, once the ones closing have gone (up to 2 s). */
async function sessionsOf(role: string): Promise<number> {
  const c = new pg.Client({ connectionString: db.url() });
  await c.connect();
  try {
    let n = -1;
    for (let i = 0; i < 20 && n !== 0; i++) {
      if (i > 0) await sleep(100);
      n = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE usename = $1', [role])).rows[0]!.n);
    }
    return n;
  } finally {
    await c.end();
  }
}

let db: TestPostgres;

describe.skipIf(skip !== undefined)(`checkpoints in PostgreSQL${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    db = await TestPostgres.start();
  }, 120_000);
  afterAll(async () => {
    await db?.stop();
  });

  const provider = (app: string): PostgresProvider => new PostgresProvider({ adminUrl: db.url(), app, lifetimeMs: 60_000, maxLifetimeMs: 600_000 });

  it('saves, loads, lists and prunes per operator and window like the file store', async () => {
    const p = provider('ckpt-basic');
    const store = new PostgresCheckpointStore(loginOf(await p.obtain(Date.now())));
    try {
      await store.save('count#1', 60, { counts: { a: 3 }, big: 2 ** 40 });
      await store.save('count#1', 120, { counts: { a: 9 } });
      await store.save('count#2', 60, 'other partition');
      expect(await store.load('count#1', 60)).toEqual({ counts: { a: 3 }, big: 2 ** 40 });
      expect(await store.windows('count#1')).toEqual([60, 120]);
      // A window saved twice (a replacement redoing it) keeps the last state.
      await store.save('count#1', 120, { counts: { a: 10 } });
      expect(await store.load('count#1', 120)).toEqual({ counts: { a: 10 } });
      await store.save('gen#0', 1, undefined);
      expect(await store.load('gen#0', 1)).toBeNull();
      await store.prune('count#1', 120);
      expect(await store.windows('count#1')).toEqual([120]);
      expect(await store.windows('count#2')).toEqual([60]);
      expect(await codeOf(store.load('count#1', 60))).toBe('STATE_IO');
      expect(await codeOf(store.save('../evil', 1, 1))).toBe('BAD_CONFIG');
    } finally {
      await store.close();
      await p.cancel();
    }
  });

  it('a checkpoint changed behind the store is refused as damaged', async () => {
    const p = provider('ckpt-damaged');
    const cred = await p.obtain(Date.now());
    const store = new PostgresCheckpointStore(loginOf(cred));
    const admin = new pg.Client({ connectionString: db.url() });
    try {
      await store.save('a#0', 5, 1);
      await admin.connect();
      await admin.query(`UPDATE ${p.schema}.sluice_checkpoints SET state = '\\x920102'::bytea`);
      expect(await codeOf(store.load('a#0', 5))).toBe('STATE_CORRUPT');
    } finally {
      await admin.end();
      await store.close();
      await p.cancel();
    }
  });

  it('a revoked credential stops writes at once, without its password in the error; a reissued one resumes from the checkpoints there', async () => {
    const p = provider('ckpt-revoke');
    const first = await p.obtain(Date.now());
    const store = new PostgresCheckpointStore(loginOf(first));
    try {
      await store.save('counter#0', 10, { n: 10 });
      await p.revoke(first);
      const err = await store.save('counter#0', 20, { n: 20 }).then(() => undefined, (e: unknown) => e as SluiceError);
      expect(err?.code).toBe('STORE_UNAVAILABLE');
      expect(err?.message).not.toContain(first.secret['password']!);
      const second = await p.obtain(Date.now());
      store.useLogin(loginOf(second));
      expect(await store.windows('counter#0')).toEqual([10]);
      expect(await store.load('counter#0', 10)).toEqual({ n: 10 });
      await store.save('counter#0', 20, { n: 20 });
      expect(await store.windows('counter#0')).toEqual([10, 20]);
    } finally {
      await store.close();
      await p.cancel();
    }
  });

  it('a new login while writes wait for a connection: every write lands, none waits for the connection timeout', async () => {
    const p = provider('ckpt-switch');
    const first = await p.obtain(Date.now());
    const store = new PostgresCheckpointStore(loginOf(first));
    try {
      await store.save('counter#0', 1, { n: 1 });
      // More writes than the pool's connections: some wait in its queue when the new login arrives.
      const second = await p.obtain(Date.now());
      const writes = Array.from({ length: 6 }, (_, i) => store.save(`counter#${i}`, 2, { n: i }));
      // The first write done: the pool's two connections serve others, the rest wait in its queue.
      await writes[0];
      store.useLogin(loginOf(second));
      const started = Date.now();
      expect(await Promise.all(writes.map(codeOf))).toEqual(Array(6).fill('resolved'));
      expect(Date.now() - started, 'a queued write waited for the connection timeout').toBeLessThan(5_000);
      for (let i = 0; i < 6; i++) expect(await store.load(`counter#${i}`, 2)).toEqual({ n: i });
      // The replaced pool has ended: no session of the old login is left open.
      expect(await sessionsOf(first.secret['user']!)).toBe(0);
      await p.revoke(first);
      await store.save('counter#0', 3, { n: 3 });
    } finally {
      await store.close();
      await p.cancel();
    }
  }, 30_000);

  it('containers creating the checkpoint table at once all start: the losers of the catalog race find it there', async () => {
    // Each round a fresh schema, and eight stores (the containers of an app) whose first write creates the table together.
    for (let round = 0; round < 30; round++) {
      const p = provider(`ckpt-race-${round}`);
      const login = loginOf(await p.obtain(Date.now()));
      const stores = Array.from({ length: 8 }, () => new PostgresCheckpointStore(login));
      try {
        expect(await Promise.all(stores.map((s, i) => codeOf(s.save(`op#${i}`, 1, { i }))))).toEqual(Array(8).fill('resolved'));
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await p.cancel();
      }
    }
  }, 60_000);
});
