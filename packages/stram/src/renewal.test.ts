import { describe, expect, it } from 'vitest';
import { ManualClock } from '@sluice/common';
import { RenewalAction, nextAction, remainingValidity, renewalPolicy, retryDelay, type TokenLife } from './renewal.js';

const S = 1_000;
const p = renewalPolicy();

/** A token as the secret manager issues it: renew interval 3 s, max lifetime 10 s. */
function issued(clock: ManualClock, renewMs = 3 * S, maxMs = 10 * S): TokenLife {
  const now = clock.now();
  return { issueDate: now, maxDate: now + maxMs, expiry: Math.min(now + renewMs, now + maxMs), renewedAt: now };
}

/** What the secret manager's renew() does to the dates. */
function renewed(life: TokenLife, now: number, renewMs = 3 * S): TokenLife {
  return { ...life, expiry: Math.min(now + renewMs, life.maxDate), renewedAt: now };
}

describe('renewal schedule', () => {
  it('renews at 75% of the renew interval, then reissues at 75% of the max lifetime', () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    let life = issued(clock);
    const seen: [RenewalAction, number][] = [];
    for (let i = 0; i < 5; i++) {
      const next = nextAction(life, clock.now(), p);
      seen.push([next.action, next.at - t0]);
      if (next.action === RenewalAction.reissue) break;
      clock.set(next.at);
      life = renewed(life, clock.now());
    }
    expect(seen).toEqual([
      ['renew', 2_250],
      ['renew', 4_500],
      ['renew', 6_750],
      ['reissue', 7_500],
    ]);
  });

  it('keeps a token valid until its reissue: every renewal lands before the expiry it extends', () => {
    const clock = new ManualClock();
    let life = issued(clock, 1 * S, 7 * S);
    for (;;) {
      const next = nextAction(life, clock.now(), p);
      expect(next.at).toBeLessThan(life.expiry);
      if (next.action === RenewalAction.reissue) break;
      clock.set(next.at);
      life = renewed(life, clock.now(), 1 * S);
    }
  });

  it('reissues at once a token past its renewal expiry (renew() would refuse it)', () => {
    const clock = new ManualClock();
    const life = issued(clock);
    clock.advance(3 * S + 1);
    const next = nextAction(life, clock.now(), p);
    expect(next.action).toBe(RenewalAction.reissue);
    expect(next.at).toBeLessThanOrEqual(clock.now());
  });

  it('reissues rather than renews once the reissue time has passed (a retry that slipped beyond it)', () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const life = renewed(issued(clock), t0 + 6_750);
    clock.set(t0 + 7_600);
    expect(nextAction(life, clock.now(), p).action).toBe(RenewalAction.reissue);
  });

  it('only reissues when the store cannot renew (insecure mode)', () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    expect(nextAction(issued(clock), t0, p, false)).toEqual({ action: RenewalAction.reissue, at: t0 + 3_000 });
  });
});

describe('retry backoff', () => {
  it('doubles from the initial wait up to the maximum, with jitter between half and all of it', () => {
    const policy = renewalPolicy({ backoffInitialMs: 100, backoffMaxMs: 1_000 });
    const far = 1_000_000_000;
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, far, policy, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, far, policy, () => 0))).toEqual([50, 100, 200, 400, 500, 500]);
    const waits = Array.from({ length: 200 }, () => retryDelay(3, far, policy));
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(200), expect(w).toBeLessThan(400);
    expect(new Set(waits).size).toBeGreaterThan(10);
  });

  it('caps each wait at a third of the validity left, so several retries fit before expiry', () => {
    const clock = new ManualClock();
    const life = issued(clock);
    clock.set(life.issueDate + 2_250); // the first renewal falls due ... and fails
    const attempts: number[] = [];
    for (let n = 1; clock.now() < life.expiry && n < 100; n++) {
      const left = remainingValidity(life, clock.now());
      const wait = retryDelay(n, left, p, () => 0.5);
      expect(wait <= left / 3 || wait === p.minWaitMs).toBe(true);
      clock.advance(wait);
      attempts.push(clock.now() - life.issueDate);
    }
    // 750 ms left, default 1 s initial backoff: 250, 167, 111 ... ms, each a third of what is left.
    expect(attempts.slice(0, 3)).toEqual([2_500, 2_666, 2_777]);
    expect(attempts.filter((t) => t < 3_000).length).toBeGreaterThanOrEqual(5);
  });

  it('once the STRAM token is past its renewal expiry, caps by what is left until max date', () => {
    const clock = new ManualClock();
    const life = issued(clock);
    clock.set(life.expiry + 1_000);
    expect(remainingValidity(life, clock.now())).toBe(life.maxDate - clock.now());
    expect(retryDelay(20, remainingValidity(life, clock.now()), p, () => 0.5)).toBe(2_000);
    clock.set(life.maxDate + 1);
    expect(retryDelay(1, remainingValidity(life, clock.now()), p, () => 0)).toBe(500);
  });

  it('refuses a policy that cannot work, naming the option', () => {
    expect(() => renewalPolicy({ backoffInitialMs: 0 })).toThrow(/backoffInitialMs/);
    expect(() => renewalPolicy({ fraction: 1 })).toThrow(/fraction/);
    expect(() => renewalPolicy({ backoffInitialMs: 10, backoffMaxMs: 5 })).toThrow(/backoffMaxMs/);
  });
});
