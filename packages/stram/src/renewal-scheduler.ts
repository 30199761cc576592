import { decodeIdentifier, isoTime, type Clock, type Logger, type Token } from '@sluice/common';
import { RenewalAction, nextAction, remainingValidity, renewalPolicy, retryDelay, type RenewalPolicy, type TokenLife } from './renewal.js';

/**
 * Runs renewal.ts's policy for every container's STRAM token (docs/architecture.md "Token
 * lifetimes and rotation"): one timer, set for the earliest action due; renew through the token
 * store, reissue through the caller; a failure retries with backoff and jitter while the app keeps
 * running, and shows in status and metrics. Never two actions at once for one container.
 */

/** Counters the scheduler reports to (StramMetrics' token counters). */
export interface RenewalMetrics {
  tokenRenewals: { inc(labels: { result: 'success' | 'failure' }): void };
  tokenReissues: { inc(labels: { result: 'success' | 'failure' }): void };
}

export interface RenewalSchedulerOptions {
  clock: Clock;
  logger: Logger;
  /**
   * Renewal, when the token store supports it (the insecure one has no renewals: its tokens are
   * reissued instead). Also the seam through which a test makes the token store unavailable.
   */
  renew: ((token: Token, renewer: string) => Promise<number>) | undefined;
  renewer: string;
  /** When a token stops being accepted unless renewed, as the token store says. */
  expiryOf(token: Token): number | undefined;
  /** Reissues container `id`'s tokens; resolves with its new STRAM token. */
  reissue(id: string): Promise<Token>;
  metrics?: RenewalMetrics;
  policy?: Partial<RenewalPolicy>;
  /** [0, 1) source for the retry jitter. */
  random?: () => number;
}

/** How a renewed credential is doing, as status shows it (no secrets): the expiry, counts, the next action. */
export interface RenewalHealth {
  expiry: string | null;
  maxDate: string | null;
  renewals: number;
  reissues: number;
  /** Failed renewals and reissues over the app's life. */
  failures: number;
  /** Failures since the last success (0 = healthy). */
  consecutiveFailures: number;
  lastError: string | null;
  next: { action: RenewalAction; at: string } | null;
}

/** A container's token state as `sluice status` shows it (no secrets); event times to the millisecond. */
export interface TokenStatus extends RenewalHealth {
  lastRenewal: string | null;
  lastReissue: string | null;
}

interface Held {
  token: Token;
  life: TokenLife;
  /** When the next action is due; after a failure, the retry time. */
  nextAt: number;
  renewals: number;
  reissues: number;
  failures: number;
  consecutiveFailures: number;
  lastRenewal: number | undefined;
  lastReissue: number | undefined;
  lastError: string | undefined;
}

/** How long the timer sleeps at most before looking at the (possibly injected) clock again. */
const MAX_SLEEP_MS = 60_000;

export class RenewalScheduler {
  private readonly held = new Map<string, Held>();
  private readonly busy = new Set<string>();
  private readonly policy: RenewalPolicy;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | undefined;

  constructor(private readonly o: RenewalSchedulerOptions) {
    this.policy = renewalPolicy(o.policy);
  }

  /**
   * Container `id` holds (or is about to hold) `token`. Its counters carry on. The renewal time of
   * an adopted token is not known: its issue date makes the next renewal come early, never late.
   */
  track(id: string, token: Token): void {
    const identifier = decodeIdentifier(token.identifier);
    const expiry = this.o.expiryOf(token) ?? identifier.maxDate;
    // Subscribe tokens are minted just after the STRAM token with the same lifetime, so the STRAM
    // token's max date is the earliest of them.
    const life: TokenLife = { issueDate: identifier.issueDate, maxDate: identifier.maxDate, expiry, renewedAt: identifier.issueDate };
    const h = this.held.get(id) ?? { token, life, nextAt: 0, renewals: 0, reissues: 0, failures: 0, consecutiveFailures: 0, lastRenewal: undefined, lastReissue: undefined, lastError: undefined };
    h.token = token;
    h.life = life;
    h.nextAt = this.next(life).at;
    this.held.set(id, h);
    this.schedule();
  }

  /** When container `id`'s STRAM token stops being accepted unless renewed. */
  expiryOf(id: string): number | undefined {
    return this.held.get(id)?.life.expiry;
  }

  statusOf(id: string): TokenStatus | null {
    const h = this.held.get(id);
    if (!h) return null;
    const next = this.running ? this.next(h.life).action : undefined;
    return {
      expiry: isoTime(h.life.expiry),
      maxDate: isoTime(h.life.maxDate),
      lastRenewal: h.lastRenewal === undefined ? null : new Date(h.lastRenewal).toISOString(),
      lastReissue: h.lastReissue === undefined ? null : new Date(h.lastReissue).toISOString(),
      renewals: h.renewals,
      reissues: h.reissues,
      failures: h.failures,
      consecutiveFailures: h.consecutiveFailures,
      lastError: h.lastError ?? null,
      next: next ? { action: next, at: new Date(h.nextAt).toISOString() } : null,
    };
  }

  /** Renewals, reissues and failures over every container. */
  totals(): { renewals: number; reissues: number; failures: number; failing: number } {
    const t = { renewals: 0, reissues: 0, failures: 0, failing: 0 };
    for (const h of this.held.values()) {
      t.renewals += h.renewals;
      t.reissues += h.reissues;
      t.failures += h.failures;
      if (h.consecutiveFailures > 0) t.failing++;
    }
    return t;
  }

  /** Starts the timer that renews and reissues as each token falls due. */
  start(): void {
    this.running = true;
    this.schedule();
  }

  /** Stops the timer; resolves once an action under way has finished. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking?.catch(() => undefined);
  }

  /** Runs every action due at the clock's now. */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      const now = this.o.clock.now();
      const due = [...this.held].filter(([id, h]) => h.nextAt <= now && !this.busy.has(id));
      await Promise.all(due.map(([id, h]) => this.act(id, h, now)));
    })().finally(() => {
      this.ticking = undefined;
      this.schedule();
    });
    return this.ticking;
  }

  private schedule(): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    let due = Infinity;
    for (const [id, h] of this.held) if (!this.busy.has(id)) due = Math.min(due, h.nextAt);
    if (due === Infinity) return;
    const wait = Math.max(0, Math.min(MAX_SLEEP_MS, due - this.o.clock.now()));
    this.timer = setTimeout(() => void this.tick(), wait);
    this.timer.unref();
  }

  private next(life: TokenLife): { action: RenewalAction; at: number } {
    return nextAction(life, this.o.clock.now(), this.policy, this.o.renew !== undefined);
  }

  private async act(id: string, h: Held, now: number): Promise<void> {
    const action = this.next(h.life).action;
    this.busy.add(id);
    try {
      if (action === RenewalAction.reissue) {
        this.track(id, await this.o.reissue(id));
        h.reissues++;
        h.lastReissue = this.o.clock.now();
        this.o.metrics?.tokenReissues.inc({ result: 'success' });
        this.o.logger.info({ container: id, maxDate: isoTime(h.life.maxDate) }, 'tokens reissued; pushing them with the next heartbeat');
      } else {
        const expiry = await this.o.renew!(h.token, this.o.renewer);
        h.life = { ...h.life, expiry, renewedAt: this.o.clock.now() };
        h.renewals++;
        h.lastRenewal = h.life.renewedAt;
        this.o.metrics?.tokenRenewals.inc({ result: 'success' });
      }
      if (h.consecutiveFailures > 0) this.o.logger.info({ container: id, action, after: h.consecutiveFailures }, 'token renewal recovered');
      h.consecutiveFailures = 0;
      h.lastError = undefined;
      h.nextAt = this.next(h.life).at;
    } catch (err) {
      // The app keeps running while the token is valid; retry with backoff, capped by what is left.
      h.failures++;
      h.consecutiveFailures++;
      h.lastError = `${action} failed: ${(err as Error).message}`.slice(0, 500);
      const at = this.o.clock.now();
      const wait = retryDelay(h.consecutiveFailures, remainingValidity(h.life, at), this.policy, this.o.random);
      h.nextAt = at + wait;
      (action === RenewalAction.reissue ? this.o.metrics?.tokenReissues : this.o.metrics?.tokenRenewals)?.inc({ result: 'failure' });
      this.o.logger.warn(
        { container: id, action, attempt: h.consecutiveFailures, retryInMs: wait, validUntil: isoTime(Math.max(h.life.expiry, now)), err: (err as Error).message },
        'token renewal failed; will retry',
      );
    } finally {
      this.busy.delete(id);
    }
  }
}
