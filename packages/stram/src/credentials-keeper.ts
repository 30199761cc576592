import { decodeIdentifier, tokenFromText, type Clock, type Logger, type Token } from '@sluice/common';
import type { AgentTable } from './agent-table.js';
import type { StramAuthority } from './authority.js';
import type { ContainerAgent } from './container-agent.js';
import type { CredentialsIssuer } from './credentials-issuer.js';
import { RenewalScheduler, type RenewalMetrics, type TokenStatus } from './renewal-scheduler.js';
import type { RenewalPolicy } from './renewal.js';
import { RotationPhase, startRotation, stepRotation, type Rotation, type RotationEffect, type RotationEvent } from './secret-rotation.js';
import { TokenRetirement } from './token-retirement.js';
import type { StoreCredentials, StoreStatus } from './credential-providers/store-credentials.js';

/**
 * Every container's credentials over the app's life (docs/architecture.md "Token lifetimes and
 * rotation"). Three units do the work: the renewal scheduler (renew at 75% of the renew interval,
 * reissue at 75% of the max lifetime, retry with backoff), token retirement (a replaced STRAM
 * token is cancelled once the container holds its successor), and one secret rotation per buffer
 * server at each reissue of its owner's tokens (secret-rotation.ts). This module wires them to
 * the containers' agents: every change goes into an agent, which writes it through and pushes it.
 */

export interface KeeperMetrics extends RenewalMetrics {
  secretRotations: { inc(labels: { container: string }): void };
  secretRotationsResumed: { inc(labels: { container: string }): void };
}

export interface CredentialsKeeperOptions {
  agents: AgentTable;
  issuer: CredentialsIssuer;
  authority: StramAuthority;
  logger: Logger;
  clock: Clock;
  /** Renewal through the token store, when it supports it (renewal-scheduler.ts). */
  renew: ((token: Token, renewer: string) => Promise<number>) | undefined;
  metrics?: KeeperMetrics;
  /** The app's store credentials (docs/stores.md), renewed and cancelled with its tokens. */
  stores?: StoreCredentials;
  policy?: Partial<RenewalPolicy>;
  /** [0, 1) source for the retry jitter. */
  random?: () => number;
}

export type { TokenStatus } from './renewal-scheduler.js';

export class CredentialsKeeper {
  private readonly renewals: RenewalScheduler;
  private readonly retirement: TokenRetirement;
  /** The rotation under way per owner container (one per buffer server at a time). */
  private readonly rotations = new Map<string, Rotation>();

  /** Takes over the tokens the agents' credentials hold now (just issued, or adopted after a STRAM restart). */
  constructor(private readonly o: CredentialsKeeperOptions) {
    this.retirement = new TokenRetirement((id, token) => this.cancel(id, token));
    this.renewals = new RenewalScheduler({
      clock: o.clock,
      logger: o.logger,
      renew: o.renew,
      renewer: o.authority.renewer,
      expiryOf: (t) => o.authority.expiryOf(t),
      reissue: (id) => this.reissue(id),
      ...(o.metrics ? { metrics: o.metrics } : {}),
      ...(o.policy ? { policy: o.policy } : {}),
      ...(o.random ? { random: o.random } : {}),
    });
    for (const a of o.agents) {
      const token = tokenFromText(a.credentials.stramToken);
      this.renewals.track(a.id, token);
      this.retirement.issued(a.id, token, a.held, a.sent);
      // A recovered STRAM: tokens its predecessor replaced but had not cancelled go once the container holds what is pushed now.
      for (const stale of o.authority.staleTokensOf(a.id, token)) this.retirement.replaced(a.id, stale, a.credentials.revision ?? 0);
      if (a.credentials.bufferServer.previous?.length && o.authority.canRotate) this.resume(a);
    }
  }

  /**
   * STRAM restart: `agent`'s credentials still list previous secrets, a rotation its predecessor
   * did not finish (recover.ts reads that from the file). It starts over at the owner phase with
   * the revision the recovered STRAM pushes everything under: once the owner holds it (the new
   * secret among it), downstream subscribe tokens are minted from the new secret again and the
   * old one is retired once they hold them — conservative, and exact whatever phase it was in.
   */
  private resume(agent: ContainerAgent): void {
    const bs = agent.record.bufferServer;
    this.rotations.set(agent.id, startRotation(agent.id, bs, agent.credentials.revision ?? 0));
    this.o.metrics?.secretRotationsResumed.inc({ container: agent.id });
    this.o.logger.info({ container: agent.id, bufferServer: bs }, 'buffer-server secret rotation resumed after the STRAM restart');
  }

  start(): void {
    this.renewals.start();
    this.o.stores?.start();
  }

  /** Each store credential's expiry and renewal health (no secrets). */
  storeStatus(): StoreStatus[] {
    return this.o.stores?.statusOf() ?? [];
  }

  /** Runs every renewal and reissue due now (the scheduler's timer does this by itself). */
  tick(): Promise<void> {
    return this.renewals.tick();
  }

  expiryOf(id: string): number | undefined {
    return this.renewals.expiryOf(id);
  }

  /** Every container's token expiry that is known (ms since the epoch). */
  *expiries(): Iterable<readonly [string, number]> {
    for (const a of this.o.agents) {
      const e = this.expiryOf(a.id);
      if (e !== undefined) yield [a.id, e];
    }
  }

  statusOf(id: string): TokenStatus | null {
    return this.renewals.statusOf(id);
  }

  totals(): ReturnType<RenewalScheduler['totals']> {
    return this.renewals.totals();
  }

  /** A heartbeat from `agent`'s container: what it is now known to hold retires tokens and moves rotations on. */
  onHeartbeat(agent: ContainerAgent): void {
    this.retirement.held(agent.id, agent.held);
    this.feed({ type: 'held', container: agent.id, revision: agent.held });
  }

  /**
   * A scheduled reissue: a new STRAM token and subscribe tokens, pushed with the next ack. The
   * buffer-server secret changes only by rotation: one starts now unless one is under way.
   */
  private async reissue(id: string): Promise<Token> {
    const agent = this.o.agents.get(id)!;
    const bs = agent.record.bufferServer;
    const { credentials, token } = await this.o.issuer.issue(id);
    const rotate = !this.rotations.has(id) && this.o.authority.canRotate;
    if (rotate) {
      const old = this.o.authority.bufferSecret(bs);
      credentials.bufferServer = { id: bs, secret: this.o.authority.nextSecret(bs).toString('hex'), previous: [old.toString('hex')] };
    } else {
      credentials.bufferServer = { ...agent.credentials.bufferServer };
    }
    const sent = agent.sent;
    const revision = agent.change(credentials);
    this.retirement.issued(id, token, revision, sent);
    if (rotate) {
      this.rotations.set(id, startRotation(id, bs, revision));
      this.o.logger.info({ container: id, bufferServer: bs }, 'buffer-server secret rotation started; new secret goes to its owner');
    }
    return token;
  }

  /**
   * Container `agent` is being replaced (docs/architecture.md "Recovery"): its subscribe tokens are
   * revoked at the upstream buffer servers, its own buffer server gets a new secret (so every
   * token for the dead one's server dies with it) and its readers subscribe tokens of that secret;
   * then fresh credentials for the new process, and every token the dead one held is cancelled.
   */
  async replace(agent: ContainerAgent): Promise<void> {
    const id = agent.id;
    const bs = agent.record.bufferServer;
    for (const [upstream, text] of Object.entries(agent.credentials.subscribe)) {
      this.o.agents.ofBufferServer(upstream)?.send({ c: 'revoke', seqs: [decodeIdentifier(tokenFromText(text).identifier).sequenceNumber] });
    }
    this.o.authority.rotateSecret(bs);
    this.feed({ type: 'replaced', container: id });
    for (const reader of this.o.agents.downstreamOf(id)) this.mintSubscribe(reader, bs);
    const { credentials, token } = await this.o.issuer.issue(id);
    agent.restart(credentials);
    this.renewals.track(id, token);
    await this.retirement.restarted(id, token, agent.held);
  }

  /** Shutdown: stops renewing and cancels every token this app issued. */
  async cancelAll(): Promise<void> {
    await this.renewals.stop();
    await this.retirement.cancelAll();
    await this.o.stores?.cancelAll();
  }

  private feed(e: RotationEvent): void {
    // Fed every heartbeat: with no rotation under way there is nothing to copy or step.
    if (this.rotations.size === 0) return;
    for (const r of [...this.rotations.values()]) this.advance(r, e);
  }

  private advance(r: Rotation, e: RotationEvent): void {
    const { next, effects } = stepRotation(r, e);
    if (next.phase === RotationPhase.done) this.rotations.delete(r.owner);
    else this.rotations.set(r.owner, next);
    for (const fx of effects) {
      if (fx.type === 'confirm') this.advance(next, { type: 'minted', waiting: this.confirm(fx) });
      else this.retire(fx);
    }
  }

  /** The owner holds the new secret: tokens for its server are minted from it, starting with its readers' subscribe tokens. */
  private confirm(fx: RotationEffect): Map<string, number> {
    this.o.authority.confirmSecret(fx.bs);
    const waiting = new Map<string, number>();
    for (const reader of this.o.agents.downstreamOf(fx.owner)) waiting.set(reader.id, this.mintSubscribe(reader, fx.bs));
    this.o.logger.info({ container: fx.owner, bufferServer: fx.bs, downstream: [...waiting.keys()] }, 'owner holds the new buffer-server secret; downstream subscribe tokens minted from it');
    return waiting;
  }

  /** Every reader holds a token of the new secret: the owner retires the old one (docs/protocol.md "Secret rotation"). */
  private retire(fx: RotationEffect): void {
    const owner = this.o.agents.get(fx.owner)!;
    owner.note({ bufferServer: { id: owner.credentials.bufferServer.id, secret: owner.credentials.bufferServer.secret } });
    owner.send({ c: 'retire-secrets' });
    this.o.metrics?.secretRotations.inc({ container: fx.owner });
    this.o.logger.info({ container: fx.owner, bufferServer: fx.bs }, 'downstream containers hold the new tokens; the owner retires the old buffer-server secret');
  }

  /** A new subscribe token for `reader` at buffer server `bs`; returns the revision that carries it. */
  private mintSubscribe(reader: ContainerAgent, bs: string): number {
    return reader.change({ subscribe: { ...reader.credentials.subscribe, [bs]: this.o.issuer.subscribeToken(reader.id, bs) } });
  }

  private async cancel(id: string, token: Token): Promise<void> {
    await this.o.authority.cancel(token).catch((err: unknown) => this.o.logger.warn({ container: id, err: (err as Error).message }, 'could not cancel a token'));
  }
}
