import { SluiceError } from '@sluice/common';

/**
 * When to renew, reissue and retry a container's tokens (docs/architecture.md "Token lifetimes and
 * rotation"). Pure: dates and `now` go in, the next action and its time come out; the caller owns
 * the timer, the clock and the token store.
 *
 *  - Renew at 75% of the current renewal period (issue or last renewal → renewal expiry).
 *  - Reissue at 75% of the token's whole life (issue → max date), early enough that the new
 *    credentials reach the container and it switches its connections before the old ones expire;
 *    a token that can no longer be renewed (past its renewal expiry) is reissued at once.
 *  - A failed attempt retries after an exponential backoff with jitter, each wait capped at a third
 *    of the validity left, so several attempts fit before the token stops being accepted.
 */

export const RenewalAction = { renew: 'renew', reissue: 'reissue' } as const;
export type RenewalAction = (typeof RenewalAction)[keyof typeof RenewalAction];

/** The dates of the token a container holds now (all ms since the epoch). */
export interface TokenLife {
  issueDate: number;
  /** The earliest max date among the container's tokens (STRAM and buffer-server tokens). */
  maxDate: number;
  /** When the STRAM token stops being accepted unless renewed (≤ maxDate). */
  expiry: number;
  /** When `expiry` was last set: the issue date, or the last successful renewal. */
  renewedAt: number;
}

export interface RenewalPolicy {
  /** Fraction of a period after which to act (75% by default). */
  fraction: number;
  /** First retry wait before jitter. */
  backoffInitialMs: number;
  /** Largest retry wait before the validity cap. */
  backoffMaxMs: number;
  /** Smallest wait between attempts (keeps a token at the edge of its validity from spinning). */
  minWaitMs: number;
}

export const defaultRenewalPolicy: RenewalPolicy = { fraction: 0.75, backoffInitialMs: 1_000, backoffMaxMs: 300_000, minWaitMs: 20 };

export function renewalPolicy(overrides: Partial<RenewalPolicy> = {}): RenewalPolicy {
  const p = { ...defaultRenewalPolicy, ...overrides };
  if (!(p.fraction > 0 && p.fraction < 1)) throw new SluiceError('BAD_CONFIG', `renewal fraction must be between 0 and 1, not ${p.fraction}`);
  for (const k of ['backoffInitialMs', 'backoffMaxMs', 'minWaitMs'] as const) {
    if (!Number.isFinite(p[k]) || p[k] <= 0) throw new SluiceError('BAD_CONFIG', `renewal option ${k} must be a positive number of milliseconds, not ${p[k]}`);
  }
  if (p.backoffMaxMs < p.backoffInitialMs) throw new SluiceError('BAD_CONFIG', `backoffMaxMs (${p.backoffMaxMs}) must not be below backoffInitialMs (${p.backoffInitialMs})`);
  return p;
}

/** The next scheduled action for a token, ignoring failures. `canRenew`: the store supports renewal. */
export function nextAction(life: TokenLife, now: number, p: RenewalPolicy, canRenew = true): { action: RenewalAction; at: number } {
  const reissueAt = Math.floor(life.issueDate + p.fraction * (life.maxDate - life.issueDate));
  // Past its renewal expiry a token is refused even by renew(): only a new one helps. Past its
  // reissue time (a retry that slipped beyond it) renewing would only postpone the reissue.
  if (!canRenew || now >= life.expiry || now >= reissueAt) return { action: RenewalAction.reissue, at: Math.min(reissueAt, life.expiry) };
  const renewAt = Math.floor(life.renewedAt + p.fraction * (life.expiry - life.renewedAt));
  return reissueAt <= renewAt ? { action: RenewalAction.reissue, at: reissueAt } : { action: RenewalAction.renew, at: renewAt };
}

/**
 * The wait before retry number `failures` (1 = after the first failure): exponential from
 * backoffInitialMs, at most backoffMaxMs, "equal jitter" (between half and all of it, so
 * containers that failed together do not retry together), then capped at a third of
 * `remainingMs` (the validity left) and floored at minWaitMs. `random` returns [0, 1).
 */
export function retryDelay(failures: number, remainingMs: number, p: RenewalPolicy, random: () => number = Math.random): number {
  const exp = Math.min(p.backoffMaxMs, p.backoffInitialMs * 2 ** Math.max(0, Math.min(failures - 1, 52)));
  const jittered = exp / 2 + (random() * exp) / 2;
  const capped = remainingMs > 0 ? Math.min(jittered, remainingMs / 3) : jittered;
  return Math.max(p.minWaitMs, Math.floor(capped));
}

/** What is left of a token's validity at `now` for the retry cap: until its renewal expiry, or, once past it, until max date. */
export function remainingValidity(life: TokenLife, now: number): number {
  return life.expiry > now ? life.expiry - now : life.maxDate - now;
}
