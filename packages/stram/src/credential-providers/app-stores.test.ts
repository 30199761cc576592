import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, readCredentials } from '@sluice/common';
import { TestPostgres } from '@sluice/common/testing';
import { Stram } from '../stram.js';
import type { StramOptions } from '../stram-options.js';
import { NoopLauncher, loginOutcome, writeTestApp } from '../testing/index.js';
import type { StoreStatus } from './store-credentials.js';

/**
 * Which containers hold a store credential (docs/stores.md), on a real PostgreSQL: only the one
 * whose operator declares `uses: ['postgres']`, at launch and after every reissue; the app's
 * roles are gone at shutdown. The containers are not started (NoopLauncher): the credentials
 * files STRAM writes are what a container would get.
 */
const skip = TestPostgres.unavailable();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip !== undefined)(`store credentials in a launch${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let db: TestPostgres;
  let dir: string;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    db = await TestPostgres.start();
  }, 120_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await db?.stop();
  });

  async function launch(kind: 'store-pipeline' | 'pipeline', extra: Partial<StramOptions> = {}, withAdmin = true): Promise<Stram> {
    dir = mkdtempSync(join(tmpdir(), 'sluice-stores-'));
    const passwordFile = join(dir, 'pw');
    writeFileSync(passwordFile, `${db.password}\n`, { mode: 0o600 });
    const stram = await Stram.launch({
      appModule: writeTestApp(dir, kind),
      appDir: join(dir, 'app'),
      launcher: new NoopLauncher(),
      logger: createLogger({ name: 'stores-test', level: 'silent' }),
      shutdownGraceMs: 100,
      ...(withAdmin ? { postgres: { url: `postgres://${db.superuser}@${db.host}:${db.port}/postgres`, passwordFile } } : {}),
      ...extra,
    });
    cleanups.push(() => stram.shutdown('test over'));
    return stram;
  }

  const storesIn = (stram: Stram, id: string): Record<string, Record<string, string>> | undefined => readCredentials(stram.dir.credentials(id)).stores;

  const login = (s: Record<string, string>): Promise<string> => loginOutcome(s);

  it('only the container whose operator uses PostgreSQL holds its credential, at launch and after reissues; none can log in after shutdown', async () => {
    const stram = await launch('store-pipeline', { storeLifetimeMs: 1_000, storeMaxLifetimeMs: 2_000 });
    const first = storesIn(stram, 'c4')?.['postgres'];
    expect(first).toBeDefined();
    expect(await login(first!)).toBe('accepted');
    for (const id of ['c1', 'c2', 'c3']) expect(storesIn(stram, id)).toBeUndefined();
    // Reissued at 75% of the 2 s max lifetime: the new one goes to c4 (written through to its file), still to no one else.
    let status: StoreStatus | undefined;
    for (let i = 0; i < 100 && !(status && status.reissues >= 2); i++) {
      await sleep(100);
      status = (stram.appView()['stores'] as StoreStatus[])[0];
    }
    expect(status).toMatchObject({ system: 'postgres', consecutiveFailures: 0 });
    expect(status!.reissues).toBeGreaterThanOrEqual(2);
    const now = storesIn(stram, 'c4')?.['postgres'];
    expect(now!['user']).not.toBe(first!['user']);
    expect(await login(now!)).toBe('accepted');
    for (const id of ['c1', 'c2', 'c3']) expect(storesIn(stram, id)).toBeUndefined();
    await stram.shutdown('test over');
    expect(await login(now!)).toBe('28P01');
    expect(await login(first!)).toBe('28P01');
  }, 60_000);

  it('an operator that uses PostgreSQL without --postgres is one BAD_CONFIG naming it', async () => {
    const err = await launch('store-pipeline', {}, false).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(err?.code).toBe('BAD_CONFIG');
    expect(err?.message).toMatch(/operator\(s\) sink use PostgreSQL/);
  });

  it('an app that uses no store gets no store credential even with --postgres given', async () => {
    const stram = await launch('pipeline');
    for (const id of ['c1', 'c2', 'c3', 'c4']) expect(storesIn(stram, id)).toBeUndefined();
    expect(stram.appView()['stores']).toEqual([]);
  });
});
