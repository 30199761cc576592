import { decodeIdentifier, isoTime, readCredentials, sealCredentials, subscriptionsOf, writeCredentials, type Clock, type Command, type Credentials, type Logger, type PhysicalPlan, type Token } from '@sluice/common';
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
 *
 * Live buffer-server secret rotation (issue 6), at each reissue of a container's tokens:
 *  1. a new secret for its buffer server goes to the owner (sealed credentials: `secret` = new,
 *     `previous` = [old]); its server accepts both;
 *  2. the owner's next heartbeat after that push proves it has it: tokens for that server are
 *     minted from the new secret from then on, and every downstream container is pushed
 *     subscribe tokens minted from it (it re-subscribes with them at once);
 *  3. once every downstream container has heartbeated after its push, the owner is pushed its
 *     credentials without `previous`: it retires the old secret once its own publishers have
 *     re-registered, closing (4401) whatever still uses it — nothing, in a normal run.
 * One rotation per buffer server at a time; a reissue during one keeps it going.
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

/** A buffer server's secret rotation in progress (see the class comment). */
interface Rotation {
  owner: string;
  bs: string;
  old: Buffer;
  next: Buffer;
  phase: 'owner' | 'downstream';
  /** The owner was pushed the new secret (its next heartbeat confirms it). */
  ownerDelivered: boolean;
  /** Downstream containers still to confirm their new subscribe tokens: pushed yet? */
  waiting: Map<string, boolean>;
}

/** How long the keeper's timer sleeps at most before looking at the (possibly injected) clock again. */
const MAX_SLEEP_MS = 60_000;

export class CredentialsKeeper {
  private readonly held = new Map<string, Held>();
  private readonly toPush = new Map<string, Partial<Credentials>>();
  private readonly rotations = new Map<string, Rotation>();
  /** Completed secret rotations per owner container. */
  private readonly rotated = new Map<string, number>();
  private readonly retiring = new Map<string, { token: Token; delivered: boolean }>();
  private readonly busy = new Set<string>();
  private readonly policy: RenewalPolicy;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | undefined;

  constructor(private readonly o: CredentialsKeeperOptions) {
    this.policy = renewalPolicy(o.policy);
  }

  /**
   * (Re)issues container `id`'s tokens and writes its credentials file. `rotate` (a scheduled
   * reissue): also start rotating its buffer server's secret, unless a rotation is under way.
   */
  async issue(id: string, rotate = false): Promise<Credentials> {
    const bufferServer = this.o.plan.containers.find((c) => c.id === id)!.bufferServer;
    const grant = await this.o.authority.grant(id, bufferServer, subscriptionsOf(this.o.plan, id));
    const identifier = decodeIdentifier(grant.stramToken.identifier);
    const expiry = this.o.authority.expiryOf(grant.stramToken) ?? identifier.maxDate;
    const { config, ...common } = this.o.common;
    const credentials = credentialsFor(grant, { app: this.o.app, ...common });
    if (Object.keys(config).length > 0) credentials.config = config;
    let rotation = this.rotations.get(id);
    if (!rotation && rotate && this.o.authority.canRotate) {
      const old = this.o.authority.bufferSecret(bufferServer);
      rotation = { owner: id, bs: bufferServer, old, next: this.o.authority.nextSecret(bufferServer), phase: 'owner', ownerDelivered: false, waiting: new Map() };
      this.rotations.set(id, rotation);
      this.o.logger.info({ container: id, bufferServer }, 'buffer-server secret rotation started; new secret goes to its owner');
    }
    if (rotation) credentials.bufferServer = { id: bufferServer, secret: rotation.next.toString('hex'), previous: [rotation.old.toString('hex')] };
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
        this.queuePush(id, await this.issue(id, true));
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
    const own = this.rotations.get(id);
    if (own?.phase === 'owner' && own.ownerDelivered) this.ownerHasSecret(own);
    for (const r of [...this.rotations.values()]) {
      if (r.waiting.get(id) === true) {
        r.waiting.delete(id);
        this.retireIfDone(r);
      }
    }
    const credentials = this.toPush.get(id);
    if (!credentials) return [];
    this.toPush.delete(id);
    const stillRetiring = this.retiring.get(id);
    if (stillRetiring) stillRetiring.delivered = true;
    // Every push carries what the container's credentials file says now, rotation included.
    const rotation = this.rotations.get(id);
    if (rotation?.phase === 'owner') rotation.ownerDelivered = true;
    for (const r of this.rotations.values()) if (r.waiting.has(id)) r.waiting.set(id, true);
    return [{ c: 'credentials', box: sealCredentials(sessionKey, credentials) }];
  }

  /** Secret rotations container `id`'s buffer server has completed. */
  secretRotationsOf(id: string): number {
    return this.rotated.get(id) ?? 0;
  }

  /** Pushes merge: what is queued for a container reflects its credentials file at the latest change. */
  private queuePush(id: string, fields: Partial<Credentials>): void {
    this.toPush.set(id, { ...this.toPush.get(id), ...fields });
  }

  /** Rotation step two: the owner has the new secret; downstream containers get subscribe tokens minted from it. */
  private ownerHasSecret(r: Rotation): void {
    this.o.authority.confirmSecret(r.bs);
    r.phase = 'downstream';
    for (const c of this.o.plan.containers) {
      if (c.id === r.owner) continue;
      const streams = subscriptionsOf(this.o.plan, c.id).get(r.bs);
      if (!streams || streams.length === 0) continue;
      const path = this.o.dir.credentials(c.id);
      let held: Credentials;
      try {
        held = readCredentials(path);
      } catch {
        continue; // being replaced: its new credentials are minted from the new secret
      }
      const subscribe = { ...held.subscribe, [r.bs]: this.o.authority.subscribeToken(c.id, r.bs, streams) };
      writeCredentials(path, { ...held, subscribe });
      this.queuePush(c.id, { subscribe });
      r.waiting.set(c.id, false);
    }
    this.o.logger.info({ container: r.owner, bufferServer: r.bs, downstream: [...r.waiting.keys()] }, 'owner holds the new buffer-server secret; downstream subscribe tokens minted from it');
    this.retireIfDone(r);
  }

  /** Rotation step three: every downstream container has its new tokens; the owner retires the old secret. */
  private retireIfDone(r: Rotation): void {
    if (r.phase !== 'downstream' || r.waiting.size > 0) return;
    this.rotations.delete(r.owner);
    const path = this.o.dir.credentials(r.owner);
    let held: Credentials;
    try {
      held = readCredentials(path);
    } catch {
      return;
    }
    const bufferServer = { id: held.bufferServer.id, secret: held.bufferServer.secret };
    writeCredentials(path, { ...held, bufferServer });
    this.queuePush(r.owner, { bufferServer });
    this.rotated.set(r.owner, (this.rotated.get(r.owner) ?? 0) + 1);
    this.o.logger.info({ container: r.owner, bufferServer: r.bs, rotations: this.rotated.get(r.owner) }, 'downstream containers hold the new tokens; the owner retires the old buffer-server secret');
  }

  /**
   * Recovery hook (issue 6): container `id` was replaced, so its credentials are reissued and its
   * old tokens cancelled at once — the process that held them is dead, nobody waits for a push.
   */
  async replace(id: string): Promise<Credentials> {
    const stale = new Set([this.held.get(id)?.token, this.retiring.get(id)?.token]);
    // Its server restarts with a fresh secret (stram.ts rotated it): no rotation of the old one goes on.
    this.rotations.delete(id);
    for (const r of [...this.rotations.values()]) {
      // A replaced downstream container gets subscribe tokens of the current secrets in its new credentials.
      if (r.waiting.delete(id)) this.retireIfDone(r);
    }
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
