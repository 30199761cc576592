import { decodeIdentifier, isoTime, sealCredentials, subscriptionsOf, writeCredentials, type Clock, type Command, type Credentials, type Logger, type PhysicalPlan, type Token } from '@sluice/common';
import type { AppDir } from './app-dir.js';
import { credentialsFor, type StramAuthority } from './authority.js';
import { RenewalAction, nextAction, remainingValidity, renewalPolicy, retryDelay, type RenewalPolicy, type TokenLife } from './renewal.js';

/**
 * Each container's credentials over the app's life (DESIGN.md "Token lifetime", issue 6): issued
 * and written (0600) before launch, renewed at 75% of the renew interval, reissued (STRAM token
 * and subscribe tokens) at 75% of their life and pushed sealed over the umbilical; a replaced token
 * is cancelled once the container has its successor, and every token is cancelled at shutdown.
 * A failed renewal or reissue retries with backoff and jitter (renewal.ts); the app keeps running
 * meanwhile, and the failure shows in status and metrics.
 */

/** Counters the keeper reports to (StramMetrics' token counters). */
export interface KeeperMetrics {
  tokenRenewals: { inc(labels: { result: 'success' | 'failure' }): void };
  tokenReissues: { inc(labels: { result: 'success' | 'failure' }): void };
}

export interface CredentialsKeeperOptions {
  app: string;
  plan: PhysicalPlan;
  dir: AppDir;
  authority: StramAuthority;
  logger: Logger;
  clock: Clock;
  /**
   * Renewal, when the token authority supports it (the insecure one has no renewals: its tokens
   * are reissued instead). Also the seam through which a test makes the token store unavailable.
   */
  renew: ((token: Token, renewer: string) => Promise<number>) | undefined;
  metrics?: KeeperMetrics;
  policy?: Partial<RenewalPolicy>;
  /** [0, 1) source for the retry jitter. */
  random?: () => number;
  /** Fixed content of every credentials file besides the tokens. */
  common: { stramUrl: string; appModule: string; appDir: string; settings: Credentials['settings']; config: Record<string, unknown> };
}

/** A container's token state as `sluice status` shows it (no secrets); event times to the millisecond. */
export interface TokenStatus {
  expiry: string | null;
  maxDate: string | null;
  lastRenewal: string | null;
  lastReissue: string | null;
  renewals: number;
  reissues: number;
  /** Failed renewals and reissues over the app's life. */
  failures: number;
  /** Failures since the last success (0 = healthy). */
  consecutiveFailures: number;
  lastError: string | null;
  next: { action: RenewalAction; at: string } | null;
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

/** How long the keeper's timer sleeps at most before looking at the (possibly injected) clock again. */
const MAX_SLEEP_MS = 60_000;

export class CredentialsKeeper {
  private readonly held = new Map<string, Held>();
  private readonly toPush = new Map<string, Credentials>();
  private readonly retiring = new Map<string, { token: Token; delivered: boolean }>();
  private readonly busy = new Set<string>();
  private readonly policy: RenewalPolicy;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | undefined;

  constructor(private readonly o: CredentialsKeeperOptions) {
    this.policy = renewalPolicy(o.policy);
  }

  /** (Re)issues container `id`'s tokens and writes its credentials file. */
  async issue(id: string): Promise<Credentials> {
    const bufferServer = this.o.plan.containers.find((c) => c.id === id)!.bufferServer;
    const grant = await this.o.authority.grant(id, bufferServer, subscriptionsOf(this.o.plan, id));
    const identifier = decodeIdentifier(grant.stramToken.identifier);
    const expiry = this.o.authority.expiryOf(grant.stramToken) ?? identifier.maxDate;
    const { config, ...common } = this.o.common;
    const credentials = credentialsFor(grant, { app: this.o.app, ...common });
    if (Object.keys(config).length > 0) credentials.config = config;
    writeCredentials(this.o.dir.credentials(id), credentials);
    const previous = this.held.get(id);
    const previousToken = previous?.token;
    // Subscribe tokens are minted just after the STRAM token with the same lifetime, so the STRAM
    // token's max date is the earliest of them.
    const life: TokenLife = { issueDate: identifier.issueDate, maxDate: identifier.maxDate, expiry, renewedAt: identifier.issueDate };
    const held: Held = previous ?? { token: grant.stramToken, life, nextAt: 0, renewals: 0, reissues: 0, failures: 0, consecutiveFailures: 0, lastRenewal: undefined, lastReissue: undefined, lastError: undefined };
    held.token = grant.stramToken;
    held.life = life;
    held.nextAt = nextAction(life, this.o.clock.now(), this.policy, this.o.renew !== undefined).at;
    this.held.set(id, held);
    if (previousToken) this.retire(id, previousToken);
    this.schedule();
    return credentials;
  }

  /**
   * Cancelling the replaced token now would lock out a container that reconnects before the push
   * reaches it: it is cancelled once the container has its successor (commandsFor).
   */
  private retire(id: string, previous: Token): void {
    const r = this.retiring.get(id);
    if (r && !r.delivered) {
      // `previous` was never pushed: the container still holds r.token, which stays retiring.
      void this.cancel(id, previous);
      return;
    }
    // r.token (if any) was replaced by `previous`, which the container was sent: r.token is done.
    if (r) void this.cancel(id, r.token);
    this.retiring.set(id, { token: previous, delivered: false });
  }

  /** When container `id`'s STRAM token stops being accepted unless renewed. */
  expiryOf(id: string): number | undefined {
    return this.held.get(id)?.life.expiry;
  }

  statusOf(id: string): TokenStatus | null {
    const h = this.held.get(id);
    if (!h) return null;
    const next = this.running ? this.planned(h) : undefined;
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

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
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

  /** Runs every action due at the clock's now; never two at once for one container. */
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

  private planned(h: Held): RenewalAction {
    return nextAction(h.life, this.o.clock.now(), this.policy, this.o.renew !== undefined).action;
  }

  private async act(id: string, h: Held, now: number): Promise<void> {
    const action = this.planned(h);
    this.busy.add(id);
    try {
      if (action === RenewalAction.reissue) {
        this.toPush.set(id, await this.issue(id));
        h.reissues++;
        h.lastReissue = this.o.clock.now();
        this.o.metrics?.tokenReissues.inc({ result: 'success' });
        this.o.logger.info({ container: id, maxDate: isoTime(h.life.maxDate) }, 'tokens reissued; pushing them with the next heartbeat');
      } else {
        const expiry = await this.o.renew!(h.token, this.o.authority.renewer);
        h.life = { ...h.life, expiry, renewedAt: this.o.clock.now() };
        h.renewals++;
        h.lastRenewal = h.life.renewedAt;
        this.o.metrics?.tokenRenewals.inc({ result: 'success' });
      }
      if (h.consecutiveFailures > 0) this.o.logger.info({ container: id, action, after: h.consecutiveFailures }, 'token renewal recovered');
      h.consecutiveFailures = 0;
      h.lastError = undefined;
      h.nextAt = nextAction(h.life, this.o.clock.now(), this.policy, this.o.renew !== undefined).at;
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

  /**
   * Commands for container `id`'s heartbeat-ack: new credentials sealed under this session's key.
   * Heartbeats never overlap, so the heartbeat after a push proves the container has it; the
   * replaced token is cancelled then.
   */
  commandsFor(id: string, sessionKey: Uint8Array): Command[] {
    const retiring = this.retiring.get(id);
    if (retiring?.delivered) {
      this.retiring.delete(id);
      void this.cancel(id, retiring.token);
    }
    const credentials = this.toPush.get(id);
    if (!credentials) return [];
    this.toPush.delete(id);
    const stillRetiring = this.retiring.get(id);
    if (stillRetiring) stillRetiring.delivered = true;
    return [{ c: 'credentials', box: sealCredentials(sessionKey, credentials) }];
  }

  /**
   * Recovery hook (issue 6): container `id` was replaced, so its credentials are reissued and its
   * old tokens cancelled at once — the process that held them is dead, nobody waits for a push.
   */
  async replace(id: string): Promise<Credentials> {
    const stale = new Set([this.held.get(id)?.token, this.retiring.get(id)?.token]);
    const credentials = await this.issue(id);
    this.retiring.delete(id);
    this.toPush.delete(id);
    for (const token of stale) if (token) await this.cancel(id, token);
    return credentials;
  }

  /** Recovery hook (issue 6, STRAM restart): container `id` still holds `token`; keep renewing it. */
  adopt(id: string, token: Token): void {
    const identifier = decodeIdentifier(token.identifier);
    const expiry = this.o.authority.expiryOf(token) ?? identifier.maxDate;
    // When it was last renewed is not known: the issue date makes the next renewal come early, never late.
    const life: TokenLife = { issueDate: identifier.issueDate, maxDate: identifier.maxDate, expiry, renewedAt: identifier.issueDate };
    const nextAt = nextAction(life, this.o.clock.now(), this.policy, this.o.renew !== undefined).at;
    this.held.set(id, { token, life, nextAt, renewals: 0, reissues: 0, failures: 0, consecutiveFailures: 0, lastRenewal: undefined, lastReissue: undefined, lastError: undefined });
    this.schedule();
  }

  /** Cancels every token this app issued (shutdown). */
  async cancelAll(): Promise<void> {
    this.stop();
    await this.ticking?.catch(() => undefined);
    const all = [...[...this.held].map(([id, h]) => [id, h.token] as const), ...[...this.retiring].map(([id, r]) => [id, r.token] as const)];
    this.held.clear();
    this.retiring.clear();
    for (const [id, token] of all) await this.cancel(id, token);
  }

  private async cancel(id: string, token: Token): Promise<void> {
    await this.o.authority.cancel(token).catch((err: unknown) => this.o.logger.warn({ container: id, err: (err as Error).message }, 'could not cancel a token'));
  }
}
