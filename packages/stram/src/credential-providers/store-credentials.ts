import { SluiceError, isoTime, type Clock, type Logger } from '@sluice/common';
import { RenewalAction, nextAction, remainingValidity, renewalPolicy, retryDelay, type RenewalPolicy, type TokenLife } from '../renewal.js';
import type { RenewalHealth } from '../renewal-scheduler.js';
import type { CredentialProvider, StoreCredential } from './provider.js';

/**
 * The app's store credentials over its life (docs/stores.md): one per provider, obtained at
 * launch, renewed at 75% of its renewal period and reissued at 75% of its whole life by
 * renewal.ts's policy (so no action is ever scheduled past the credential's expiry), retried with
 * backoff and jitter on failure. A credential the store no longer knows (revoked behind STRAM's
 * back) is reissued at once. Every new credential is handed to `deliver`, which pushes it sealed
 * to the containers that use the system; the one it replaces is renewed once more and revoked when
 * that expires, so the containers have a whole renewal period (never past its max date) to
 * switch. `cancelAll` revokes everything.
 */

export interface StoreMetrics {
  storeRenewals: { inc(labels: { system: string; result: 'success' | 'failure' }): void };
  storeReissues: { inc(labels: { system: string; result: 'success' | 'failure' }): void };
}

export interface StoreCredentialsOptions {
  providers: CredentialProvider[];
  clock: Clock;
  logger: Logger;
  /** A new credential for `system` (at launch and on every reissue): its secret, for the containers that use it. */
  deliver(system: string, secret: Record<string, string>): void;
  metrics?: StoreMetrics;
  policy?: Partial<RenewalPolicy>;
  random?: () => number;
}

/** A store credential as status, REST and /metrics show it: dates and health, never the secret. */
export interface StoreStatus extends RenewalHealth {
  system: string;
  generation: number;
}

interface Held {
  provider: CredentialProvider;
  credential: StoreCredential;
  renewedAt: number;
  nextAt: number;
  renewals: number;
  reissues: number;
  failures: number;
  consecutiveFailures: number;
  lastError: string | undefined;
  timer: NodeJS.Timeout | undefined;
  busy: Promise<void> | undefined;
}

const MAX_SLEEP_MS = 60_000;

export class StoreCredentials {
  private readonly held = new Map<string, Held>();
  /** Replaced credentials, revoked once they expire. */
  private retiring: { provider: CredentialProvider; credential: StoreCredential }[] = [];
  private readonly policy: RenewalPolicy;
  private running = false;

  constructor(private readonly o: StoreCredentialsOptions) {
    this.policy = renewalPolicy(o.policy);
  }

  get systems(): string[] {
    return [...this.held.keys()];
  }

  /** At launch, before any container's credentials are written: one credential per provider. */
  async obtainAll(): Promise<void> {
    for (const provider of this.o.providers) {
      const credential = await provider.obtain(this.o.clock.now());
      this.held.set(provider.system, { provider, credential, renewedAt: credential.issueDate, nextAt: 0, renewals: 0, reissues: 0, failures: 0, consecutiveFailures: 0, lastError: undefined, timer: undefined, busy: undefined });
      this.o.logger.info({ system: provider.system, generation: credential.generation, expiry: isoTime(credential.expiry) }, 'store credential issued');
    }
  }

  /** The current secret for `system` (what a container's credentials carry), if the app has one. */
  secretOf(system: string): Record<string, string> | undefined {
    return this.held.get(system)?.credential.secret;
  }

  start(): void {
    this.running = true;
    for (const h of this.held.values()) this.schedule(h);
  }

  statusOf(): StoreStatus[] {
    return [...this.held.values()].map((h) => {
      const c = h.credential;
      return {
        system: c.system,
        generation: c.generation,
        expiry: isoTime(c.expiry),
        maxDate: isoTime(c.maxDate),
        renewals: h.renewals,
        reissues: h.reissues,
        failures: h.failures,
        consecutiveFailures: h.consecutiveFailures,
        lastError: h.lastError ?? null,
        next: this.running ? { action: this.next(h).action, at: new Date(h.nextAt).toISOString() } : null,
      };
    });
  }

  /** Runs what is due for `system` now (the timers do this by themselves). */
  async tick(system: string): Promise<void> {
    const h = this.held.get(system);
    if (h) await (h.busy ??= this.act(h).finally(() => (h.busy = undefined)));
  }

  /** App end: no more renewals; every credential issued (current and replaced) is revoked. */
  async cancelAll(): Promise<void> {
    this.running = false;
    for (const h of this.held.values()) clearTimeout(h.timer);
    await Promise.all([...this.held.values()].map((h) => h.busy?.catch(() => undefined)));
    for (const h of this.held.values()) {
      await h.provider.cancel().catch((err: unknown) => this.o.logger.warn({ system: h.provider.system, err: (err as Error).message }, 'could not cancel the store credentials'));
    }
    this.retiring = [];
  }

  private life(h: Held): TokenLife {
    const c = h.credential;
    return { issueDate: c.issueDate, maxDate: c.maxDate, expiry: c.expiry, renewedAt: h.renewedAt };
  }

  private next(h: Held): { action: RenewalAction; at: number } {
    return nextAction(this.life(h), this.o.clock.now(), this.policy);
  }

  private schedule(h: Held): void {
    if (!this.running) return;
    clearTimeout(h.timer);
    if (h.consecutiveFailures === 0) h.nextAt = this.next(h).at;
    const retireAt = Math.min(...this.retiring.filter((r) => r.provider === h.provider).map((r) => r.credential.expiry));
    const wait = Math.max(0, Math.min(MAX_SLEEP_MS, Math.min(h.nextAt, retireAt) - this.o.clock.now()));
    h.timer = setTimeout(() => void this.tick(h.provider.system), wait);
    h.timer.unref();
  }

  private async act(h: Held): Promise<void> {
    const now = this.o.clock.now();
    await this.retireExpired(h.provider, now);
    if (now < h.nextAt) return this.schedule(h);
    const system = h.provider.system;
    const action = this.next(h).action;
    try {
      if (action === RenewalAction.reissue) {
        const old = h.credential;
        h.credential = await h.provider.obtain(now);
        h.renewedAt = h.credential.issueDate;
        h.reissues++;
        this.retiring.push({ provider: h.provider, credential: await this.keepForSwitch(h.provider, old, now) });
        this.o.deliver(system, h.credential.secret);
        this.o.metrics?.storeReissues.inc({ system, result: 'success' });
        this.o.logger.info({ system, generation: h.credential.generation, maxDate: isoTime(h.credential.maxDate) }, 'store credential reissued; pushing it to the containers that use it');
      } else {
        h.credential = { ...h.credential, expiry: await h.provider.renew(h.credential, now) };
        h.renewedAt = now;
        h.renewals++;
        this.o.metrics?.storeRenewals.inc({ system, result: 'success' });
      }
      if (h.consecutiveFailures > 0) this.o.logger.info({ system, action, after: h.consecutiveFailures }, 'store credential renewal recovered');
      h.consecutiveFailures = 0;
      h.lastError = undefined;
    } catch (err) {
      h.failures++;
      h.consecutiveFailures++;
      h.lastError = `${action} failed: ${(err as Error).message}`.slice(0, 500);
      (action === RenewalAction.reissue ? this.o.metrics?.storeReissues : this.o.metrics?.storeRenewals)?.inc({ system, result: 'failure' });
      // Revoked behind our back: renewing cannot help, a new credential can, at once.
      if (err instanceof SluiceError && err.code === 'STORE_REVOKED') h.credential = { ...h.credential, expiry: now };
      const at = this.o.clock.now();
      const wait = retryDelay(h.consecutiveFailures, remainingValidity(this.life(h), at), this.policy, this.o.random);
      h.nextAt = err instanceof SluiceError && err.code === 'STORE_REVOKED' ? at : at + wait;
      this.o.logger.warn({ system, action, attempt: h.consecutiveFailures, retryInMs: h.nextAt - at, err: (err as Error).message }, 'store credential renewal failed; will retry');
    }
    this.schedule(h);
  }

  /**
   * The replaced credential, renewed once more so that it stays valid a whole renewal period
   * after its replacement is pushed (never past its max date): containers hear of the new one
   * with their next heartbeat ack, and its last renewal may have left it only moments. One that
   * has already expired (or was revoked behind STRAM's back) is not brought back.
   */
  private async keepForSwitch(provider: CredentialProvider, old: StoreCredential, now: number): Promise<StoreCredential> {
    if (now >= old.expiry) return old;
    try {
      return { ...old, expiry: await provider.renew(old, now) };
    } catch (err) {
      this.o.logger.warn({ system: provider.system, err: (err as Error).message }, 'could not extend the replaced store credential; it is revoked at its expiry');
      return old;
    }
  }

  private async retireExpired(provider: CredentialProvider, now: number): Promise<void> {
    const due = this.retiring.filter((r) => r.provider === provider && r.credential.expiry <= now);
    this.retiring = this.retiring.filter((r) => !due.includes(r));
    for (const r of due) {
      const generation = r.credential.generation;
      await provider.revoke(r.credential).then(
        () => this.o.logger.info({ system: provider.system, generation }, 'replaced store credential revoked'),
        (err: unknown) => this.o.logger.warn({ system: provider.system, generation, err: (err as Error).message }, 'could not revoke a replaced store credential'),
      );
    }
  }
}
