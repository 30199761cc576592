import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { TestPostgres } from '@sluice/common/testing';

/** The PostgreSQL store tests' common parts (docs/stores.md "Tests"): a throwaway cluster, its privileged login, the store status STRAM shows. */

/** A store credential as `/ws/v1/app` (`stores`) shows it. */
export interface StoreStatus {
  system: string;
  generation: number;
  renewals: number;
  reissues: number;
  failures: number;
  consecutiveFailures: number;
  lastError: string | null;
}

export interface StoreDb {
  db: TestPostgres;
  /** The superuser's password in a 0600 file: the privileged login the tests give STRAM or the gateway. */
  passwordFile: string;
}

/** A cluster for the describe block it is called in: started before its tests, stopped after them. */
export function useStoreDb(): StoreDb {
  const s = {} as StoreDb;
  beforeAll(async () => {
    s.db = await TestPostgres.start();
    s.passwordFile = join(s.db.dir, 'admin-password');
    writeFileSync(s.passwordFile, `${s.db.password}\n`, { mode: 0o600 });
  }, 120_000);
  afterAll(async () => {
    await s.db?.stop();
  });
  return s;
}

/** Runs `fn` on a connection of the cluster's superuser. */
export async function admin<T>(db: TestPostgres, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: db.url() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
