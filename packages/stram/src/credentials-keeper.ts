import { decodeIdentifier, sealCredentials, subscriptionsOf, writeCredentials, type Command, type Credentials, type Logger, type PhysicalPlan, type Token } from '@sluice/common';
import type { AppDir } from './app-dir.js';
import { credentialsFor, type StramAuthority } from './authority.js';

/**
 * Each container's credentials over the app's life (DESIGN.md "Token lifetime"): issued and
 * written (0600) before launch, renewed at 75% of the renew interval, reissued before max date and
 * pushed sealed over the umbilical; a replaced token is cancelled once the container has its
 * successor, and every token is cancelled at shutdown.
 */
export interface CredentialsKeeperOptions {
  app: string;
  plan: PhysicalPlan;
  dir: AppDir;
  authority: StramAuthority;
  logger: Logger;
  /** Renewal, when the token authority supports it (the insecure one has no renewals). */
  renew: ((token: Token, renewer: string) => Promise<number>) | undefined;
  renewIntervalMs: number;
  /** Fixed content of every credentials file besides the tokens. */
  common: { stramUrl: string; appModule: string; appDir: string; settings: Credentials['settings']; config: Record<string, unknown> };
}

export class CredentialsKeeper {
  private readonly tokens = new Map<string, Token>();
  private readonly expiry = new Map<string, number>();
  private readonly toPush = new Map<string, Credentials>();
  private readonly retiring = new Map<string, { token: Token; delivered: boolean }>();

  constructor(private readonly o: CredentialsKeeperOptions) {}

  /** (Re)issues container `id`'s tokens and writes its credentials file. */
  async issue(id: string): Promise<Credentials> {
    const bufferServer = this.o.plan.containers.find((c) => c.id === id)!.bufferServer;
    const grant = await this.o.authority.grant(id, bufferServer, subscriptionsOf(this.o.plan, id));
    const previous = this.tokens.get(id);
    this.tokens.set(id, grant.stramToken);
    const expiry = this.o.authority.expiryOf(grant.stramToken);
    if (expiry !== undefined) this.expiry.set(id, expiry);
    const { config, ...common } = this.o.common;
    const credentials = credentialsFor(grant, { app: this.o.app, ...common });
    if (Object.keys(config).length > 0) credentials.config = config;
    writeCredentials(this.o.dir.credentials(id), credentials);
    // Cancelling now would lock out a container that reconnects before the push reaches it.
    if (previous) this.retiring.set(id, { token: previous, delivered: false });
    return credentials;
  }

  /** When container `id`'s STRAM token stops being accepted unless renewed. */
  expiryOf(id: string): number | undefined {
    return this.expiry.get(id);
  }

  /** Renews every token, or reissues (and queues a push of) those near their max date. */
  async renewAll(now: number): Promise<void> {
    for (const [id, token] of this.tokens) {
      try {
        if (decodeIdentifier(token.identifier).maxDate - now < this.o.renewIntervalMs) {
          this.toPush.set(id, await this.issue(id));
        } else if (this.o.renew) {
          this.expiry.set(id, await this.o.renew(token, this.o.authority.renewer));
        }
      } catch (err) {
        // The app keeps running while the token is valid; the next round retries.
        this.o.logger.warn({ container: id, err: (err as Error).message }, 'token renewal failed; will retry');
      }
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
    if (retiring) retiring.delivered = true;
    return [{ c: 'credentials', box: sealCredentials(sessionKey, credentials) }];
  }

  /** Cancels every token this app issued (shutdown). */
  async cancelAll(): Promise<void> {
    const all = [...this.tokens, ...[...this.retiring].map(([id, r]) => [id, r.token] as const)];
    this.tokens.clear();
    this.retiring.clear();
    for (const [id, token] of all) await this.cancel(id, token);
  }

  private async cancel(id: string, token: Token): Promise<void> {
    await this.o.authority.cancel(token).catch((err: unknown) => this.o.logger.warn({ container: id, err: (err as Error).message }, 'could not cancel a token'));
  }
}
