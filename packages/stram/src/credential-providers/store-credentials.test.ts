import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock, SluiceError, createLogger } from '@sluice/common';
import type { CredentialProvider, StoreCredential } from './provider.js';
import { StoreCredentials } from './store-credentials.js';

/**
 * The store credentials' schedule (docs/stores.md) on a manual clock, with a provider that can be
 * told to fail: renew at 75% of the renewal period, reissue at 75% of the whole life, retries with
 * backoff that never wait past the expiry, a revoked credential reissued at once, the one a
 * reissue replaces kept a renewal period more (never past its max date) and then revoked,
 * everything cancelled at the end.
 */
class FakeProvider implements CredentialProvider {
  readonly system = 'postgres';
  generation = 0;
  fail: Error | undefined;
  readonly revoked: number[] = [];
  cancelled = false;
  constructor(private readonly clock: ManualClock) {}
  obtain(now: number): Promise<StoreCredential> {
    if (this.fail) return Promise.reject(this.fail);
    const generation = ++this.generation;
    return Promise.resolve({ system: this.system, generation, secret: { password: `pw${generation}` }, issueDate: now, expiry: now + 1_000, maxDate: now + 4_000 });
  }
  renew(c: StoreCredential, now: number): Promise<number> {
    return this.fail ? Promise.reject(this.fail) : Promise.resolve(Math.min(c.maxDate, now + 1_000));
  }
  revoke(c: StoreCredential): Promise<void> {
    this.revoked.push(c.generation);
    return Promise.resolve();
  }
  cancel(): Promise<void> {
    this.cancelled = true;
    return Promise.resolve();
  }
}

const running: StoreCredentials[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.cancelAll();
});

async function setUp(o: { random?: () => number; policy?: { backoffInitialMs: number } } = {}): Promise<{ clock: ManualClock; p: FakeProvider; s: StoreCredentials; delivered: string[]; t0: number }> {
  const clock = new ManualClock();
  const p = new FakeProvider(clock);
  const delivered: string[] = [];
  const s = new StoreCredentials({
    providers: [p],
    clock,
    logger: createLogger({ name: 'test', level: 'silent' }),
    deliver: (_system, secret) => delivered.push(secret['password']!),
    random: o.random ?? (() => 0.5),
    ...(o.policy ? { policy: o.policy } : {}),
  });
  running.push(s);
  await s.obtainAll();
  s.start();
  return { clock, p, s, delivered, t0: clock.now() };
}

const at = (s: StoreCredentials): number => Date.parse(s.statusOf()[0]!.next!.at);

describe('StoreCredentials', () => {
  it('renews at 75% of the renewal period and reissues at 75% of the max lifetime, delivering each new credential', async () => {
    const { clock, s, delivered, t0, p } = await setUp();
    expect(s.secretOf('postgres')).toEqual({ password: 'pw1' });
    expect(s.statusOf()[0]!.next).toMatchObject({ action: 'renew' });
    expect(at(s)).toBe(t0 + 750);
    clock.set(t0 + 750);
    await s.tick('postgres');
    expect(s.statusOf()[0]).toMatchObject({ renewals: 1, reissues: 0, expiry: new Date(t0 + 1_750).toISOString().replace(/\.\d+Z$/, 'Z') });
    for (let i = 0; i < 10 && s.statusOf()[0]!.reissues === 0; i++) {
      clock.set(at(s));
      await s.tick('postgres');
    }
    // Reissued at 3 s (75% of 4 s): the new one is delivered; the old one is revoked once it has expired.
    expect(s.statusOf()[0]).toMatchObject({ generation: 2, reissues: 1 });
    expect(s.statusOf()[0]!.renewals).toBeGreaterThanOrEqual(3);
    expect(delivered).toEqual(['pw2']);
    expect(p.revoked).toEqual([]);
    // Its last renewal (at 2.25 s) left it until 3.25 s: renewed once more at the reissue, it stays
    // valid a whole renewal period for the containers to switch, capped at its max date (4 s).
    clock.set(t0 + 3_500);
    await s.tick('postgres');
    expect(p.revoked).toEqual([]);
    clock.set(t0 + 4_000);
    await s.tick('postgres');
    expect(p.revoked).toEqual([1]);
  });

  it('a replaced credential that had already expired is not extended: it is revoked at once', async () => {
    const { clock, s, p, t0 } = await setUp();
    // Renewals fail until the credential is past its expiry (1 s): then only a reissue helps.
    p.fail = new SluiceError('STORE_UNAVAILABLE', 'cannot reach PostgreSQL');
    for (let i = 0; i < 20 && clock.now() < t0 + 1_000; i++) {
      clock.set(Math.max(at(s), clock.now() + 1));
      await s.tick('postgres');
    }
    p.fail = undefined;
    clock.set(Math.max(at(s), clock.now()));
    expect(clock.now()).toBeGreaterThanOrEqual(t0 + 1_000);
    await s.tick('postgres');
    expect(s.statusOf()[0]).toMatchObject({ generation: 2, reissues: 1 });
    // Same instant, next pass: the old one was not renewed back to life, so it is already due.
    await s.tick('postgres');
    expect(p.revoked).toEqual([1]);
  });

  it('a failing renewal retries with backoff, never scheduled past the expiry, and shows in status', async () => {
    const { clock, s, p, t0 } = await setUp();
    p.fail = new SluiceError('STORE_UNAVAILABLE', 'cannot reach PostgreSQL');
    clock.set(t0 + 750);
    for (let i = 0; i < 5; i++) {
      await s.tick('postgres');
      const st = s.statusOf()[0]!;
      const expiry = t0 + 1_000;
      expect(st.consecutiveFailures).toBe(i + 1);
      expect(st.lastError).toMatch(/cannot reach PostgreSQL/);
      expect(at(s)).toBeGreaterThan(clock.now());
      expect(at(s)).toBeLessThanOrEqual(expiry);
      clock.set(at(s));
    }
    p.fail = undefined;
    await s.tick('postgres');
    expect(s.statusOf()[0]).toMatchObject({ consecutiveFailures: 0, failures: 5, lastError: null });
  });

  it('backs off with jitter: stores failing together retry apart, each wait between half and all of the doubling backoff, capped by the validity left', async () => {
    const waits = async (random: () => number): Promise<number[]> => {
      const { clock, s, p, t0 } = await setUp({ random, policy: { backoffInitialMs: 40 } });
      p.fail = new SluiceError('STORE_UNAVAILABLE', 'cannot reach PostgreSQL');
      clock.set(t0 + 750);
      const out: number[] = [];
      for (let i = 0; i < 3; i++) {
        await s.tick('postgres');
        out.push(at(s) - clock.now());
        clock.set(at(s));
      }
      return out;
    };
    // Expiry at +1000 ms, first attempt at +750: 250 ms left, so no wait may exceed a third of what is left.
    expect(await waits(() => 0)).toEqual([20, 40, 63]);
    expect(await waits(() => 0.999)).toEqual([39, 70, 47]);
  });

  it('a credential revoked behind its back is reissued at once, and everything is cancelled at the end', async () => {
    const { clock, s, p, delivered, t0 } = await setUp();
    p.fail = new SluiceError('STORE_REVOKED', 'role no longer exists');
    clock.set(t0 + 750);
    await s.tick('postgres');
    expect(s.statusOf()[0]!.next).toMatchObject({ action: 'reissue' });
    expect(at(s)).toBe(clock.now());
    p.fail = undefined;
    await s.tick('postgres');
    expect(s.statusOf()[0]).toMatchObject({ generation: 2, reissues: 1, consecutiveFailures: 0 });
    expect(delivered).toEqual(['pw2']);
    await s.cancelAll();
    expect(p.cancelled).toBe(true);
  });
});
