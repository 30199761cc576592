import { randomInt } from 'node:crypto';
import {
  SluiceError,
  TokenKind,
  authorizeUmbilical,
  computePassword,
  decodeIdentifier,
  encodeIdentifier,
  generateSecret,
  isoTime,
  mintBufferToken,
  tokenToText,
  type AuthRequest,
  type Clock,
  type Credentials,
  type Token,
  type TokenAuthority,
  type TokenIdentifier,
} from '@sluice/common';

/**
 * STRAM's token authority (docs/protocol.md "Tokens"): a STRAM delegation token per container scoped to
 * that container, a distinct 32-byte secret per buffer server, and subscribe tokens naming exactly
 * the streams a container reads from each upstream buffer server.
 */

/** The part of common's StramSecretManager that STRAM uses; the insecure mode swaps in a zero-key one. */
export interface DelegationTokens {
  issue(o: { owner: string; renewer: string; realUser?: string; app: string; container: string }): Promise<Token>;
  password(idBytes: Uint8Array, identifier: TokenIdentifier): Buffer;
  checkLive(identifier: TokenIdentifier): void;
  cancel(token: Token, canceller: string): Promise<unknown>;
  /** When the token stops being accepted (its renewal expiry), or undefined if unknown. */
  expiryOf(identifier: TokenIdentifier): number | undefined;
  /**
   * Recovery of an in-memory authority (insecure mode): accept again a token it issued before
   * STRAM restarted. A persistent authority reloads its records from disk instead.
   */
  adopt?(token: Token): void;
  /** Recovery of a persistent authority: the live tokens of `container` (secret-manager.ts). */
  liveTokensOf?(container: string): Token[];
}

/** The well-known key of `--insecure` mode: anybody can compute it, which is the point of the warning. */
export const INSECURE_KEY: Buffer = Buffer.alloc(32);

/**
 * Delegation tokens under the all-zero key, for `--insecure` benchmarks: the same identifiers,
 * proofs and MACs as secure mode (so a benchmark measures only the cost of real keys), but any
 * process on the machine can mint a token that STRAM accepts.
 */
export class InsecureDelegationTokens implements DelegationTokens {
  private readonly live = new Map<number, { maxDate: number; cancelled: boolean }>();

  constructor(
    private readonly clock: Clock,
    private readonly maxLifetimeMs: number,
  ) {}

  async issue(o: { owner: string; renewer: string; realUser?: string; app: string; container: string }): Promise<Token> {
    const now = this.clock.now();
    const sequenceNumber = randomInt(1, 2 ** 47);
    const identifier = encodeIdentifier({
      version: 1,
      kind: TokenKind.stram,
      owner: o.owner,
      renewer: o.renewer,
      realUser: o.realUser ?? '',
      issueDate: now,
      maxDate: now + this.maxLifetimeMs,
      sequenceNumber,
      keyId: 0,
      scope: { app: o.app, container: o.container },
    });
    this.live.set(sequenceNumber, { maxDate: now + this.maxLifetimeMs, cancelled: false });
    return { identifier, password: computePassword(INSECURE_KEY, identifier), kind: TokenKind.stram, service: `stram:${o.app}` };
  }

  password(idBytes: Uint8Array, identifier: TokenIdentifier): Buffer {
    if (identifier.kind !== TokenKind.stram) {
      throw new SluiceError('TOKEN_WRONG_KIND', `token kind ${identifier.kind} is not accepted by STRAM; present a ${TokenKind.stram} token`);
    }
    return computePassword(INSECURE_KEY, idBytes);
  }

  checkLive(identifier: TokenIdentifier): void {
    const entry = this.live.get(identifier.sequenceNumber);
    if (!entry) throw new SluiceError('TOKEN_UNKNOWN', `token ${identifier.sequenceNumber} was not issued by this STRAM`);
    if (entry.cancelled) throw new SluiceError('TOKEN_CANCELLED', `token ${identifier.sequenceNumber} was cancelled`);
    if (this.clock.now() >= entry.maxDate) throw new SluiceError('TOKEN_EXPIRED', `token expired at ${isoTime(entry.maxDate)}`);
  }

  async cancel(token: Token, _canceller: string): Promise<void> {
    const entry = this.live.get(decodeIdentifier(token.identifier).sequenceNumber);
    if (entry) entry.cancelled = true;
  }

  expiryOf(identifier: TokenIdentifier): number | undefined {
    return this.live.get(identifier.sequenceNumber)?.maxDate;
  }

  adopt(token: Token): void {
    const id = decodeIdentifier(token.identifier);
    if (!this.live.has(id.sequenceNumber)) this.live.set(id.sequenceNumber, { maxDate: id.maxDate, cancelled: false });
  }
}

export interface ContainerGrant {
  container: string;
  bufferServer: { id: string; secret: Buffer };
  stramToken: Token;
  /** Subscribe tokens (text form) by upstream buffer server id. */
  subscribe: Record<string, string>;
}

export interface StramAuthorityOptions {
  app: string;
  tokens: DelegationTokens;
  clock: Clock;
  /** The launching user: owner of every token STRAM issues for this app. */
  owner: string;
  /** Who launched it for the owner (a gateway), realUser of every token; empty when the owner did. */
  realUser: string;
  /** Lifetime of subscribe tokens (buffer-server tokens are stateless: they last until maxDate). */
  bufferTokenTtlMs: number;
  insecure: boolean;
}

export class StramAuthority implements TokenAuthority {
  /** Per buffer server, the secret tokens are minted from: one its owner is known to hold. */
  private readonly secrets = new Map<string, Buffer>();
  /** Per buffer server, a new secret sent to its owner and not yet confirmed (a live rotation). */
  private readonly pending = new Map<string, Buffer>();
  readonly renewer: string;

  constructor(private readonly o: StramAuthorityOptions) {
    this.renewer = `stram:${o.app}`;
  }

  /** Who every token STRAM issues speaks for: owner, realUser (the one acting for them) and this STRAM as renewer. */
  private get issuedBy(): { owner: string; realUser: string; renewer: string } {
    return { owner: this.o.owner, realUser: this.o.realUser, renewer: this.renewer };
  }

  get service(): string {
    return `stram:${this.o.app}`;
  }

  // ---- TokenAuthority (the umbilical handshake) -----------------------------------------------
  password(idBytes: Uint8Array, identifier: TokenIdentifier): Buffer {
    return this.o.tokens.password(idBytes, identifier);
  }

  checkLive(identifier: TokenIdentifier): void {
    this.o.tokens.checkLive(identifier);
  }

  /**
   * A STRAM token speaks for one container of one app (Apex checked none of this): role hello
   * only, for the container named in its scope, of this app.
   */
  authorize(identifier: TokenIdentifier, request: AuthRequest): void {
    authorizeUmbilical(this.o.app, identifier, request);
  }

  // ---- issuing ---------------------------------------------------------------------------------
  /** The secret of a buffer server, made on first use: one per server, never shared. */
  bufferSecret(bs: string): Buffer {
    let s = this.secrets.get(bs);
    if (!s) {
      s = this.o.insecure ? INSECURE_KEY : generateSecret();
      this.secrets.set(bs, s);
    }
    return s;
  }

  /**
   * Everything container `container` is entitled to: its STRAM token, its own buffer server's
   * secret, and one subscribe token per upstream buffer server naming exactly the streams it reads
   * there (`reads`: buffer server id → streams).
   */
  async grant(container: string, bufferServer: string, reads: ReadonlyMap<string, string[]>): Promise<ContainerGrant> {
    const stramToken = await this.o.tokens.issue({ ...this.issuedBy, app: this.o.app, container });
    const subscribe: Record<string, string> = {};
    for (const [bs, streams] of reads) {
      if (streams.length === 0) continue;
      subscribe[bs] = this.subscribeToken(container, bs, streams);
    }
    return { container, bufferServer: { id: bufferServer, secret: this.bufferSecret(bufferServer) }, stramToken, subscribe };
  }

  /** A subscribe token (text form) for `container` naming exactly `streams` at buffer server `bs`. */
  subscribeToken(container: string, bs: string, streams: readonly string[]): string {
    return tokenToText(
      mintBufferToken({
        secret: this.bufferSecret(bs),
        bs,
        streams: [...streams].sort(),
        access: 'subscribe',
        container,
        ...this.issuedBy,
        now: this.o.clock.now(),
        ttlMs: this.o.bufferTokenTtlMs,
      }),
    );
  }

  /**
   * A replacement container's buffer server gets a new secret (docs/architecture.md
   * "Recovery"): every token of the dead one's server, wherever it leaked, stops working.
   */
  rotateSecret(bs: string): Buffer {
    const s = this.o.insecure ? INSECURE_KEY : generateSecret();
    this.secrets.set(bs, s);
    this.pending.delete(bs);
    return s;
  }

  /** Live rotation is pointless under the insecure mode's well-known key. */
  get canRotate(): boolean {
    return !this.o.insecure;
  }

  /**
   * Live rotation (docs/protocol.md "Secret rotation"), step one: a new secret for buffer server `bs`, to be sent to its
   * owner. Tokens are still minted from the current one until `confirmSecret` (the owner's
   * server accepts both from the moment it has the new one).
   */
  nextSecret(bs: string): Buffer {
    const s = this.o.insecure ? INSECURE_KEY : generateSecret();
    this.pending.set(bs, s);
    return s;
  }

  /** Step two: the owner holds the pending secret; tokens for `bs` are minted from it from now on. */
  confirmSecret(bs: string): void {
    const s = this.pending.get(bs);
    if (!s) return;
    this.pending.delete(bs);
    this.secrets.set(bs, s);
  }

  /**
   * STRAM restart: the secret a running buffer server holds (read back from its container's 0600
   * credentials) and, when a rotation was under way, the new one it was being given — pending
   * again until its owner is known to hold it (confirmSecret).
   */
  adoptSecret(bs: string, secret: Buffer, pending?: Buffer): void {
    this.secrets.set(bs, secret);
    if (pending) this.pending.set(bs, pending);
    else this.pending.delete(bs);
  }

  /** Recovery of an insecure (in-memory) token authority: accept this token again. */
  adopt(token: Token): void {
    this.o.tokens.adopt?.(token);
  }

  /** A control token for a buffer server (STRAM's own use: purge, revoke). */
  controlToken(bs: string): Token {
    return mintBufferToken({ secret: this.bufferSecret(bs), bs, streams: [], access: 'control', container: null, ...this.issuedBy, now: this.o.clock.now(), ttlMs: this.o.bufferTokenTtlMs });
  }

  expiryOf(token: Token): number | undefined {
    return this.o.tokens.expiryOf(decodeIdentifier(token.identifier));
  }

  /** Recovery: live tokens of `container` other than `held` (the one its file names), left uncancelled by the previous STRAM. */
  staleTokensOf(container: string, held: Token): Token[] {
    const seq = decodeIdentifier(held.identifier).sequenceNumber;
    return (this.o.tokens.liveTokensOf?.(container) ?? []).filter((t) => decodeIdentifier(t.identifier).sequenceNumber !== seq);
  }

  async cancel(token: Token): Promise<void> {
    await this.o.tokens.cancel(token, this.renewer);
  }
}

/** The credentials file of one container (docs/architecture.md "State on disk"). */
export function credentialsFor(
  grant: ContainerGrant,
  o: { app: string; stramUrl: string; appModule: string; appDir: string; settings: Credentials['settings'] },
): Credentials {
  return {
    version: 1,
    app: o.app,
    container: grant.container,
    stram: o.stramUrl,
    stramToken: tokenToText(grant.stramToken),
    bufferServer: { id: grant.bufferServer.id, secret: grant.bufferServer.secret.toString('hex') },
    subscribe: grant.subscribe,
    appModule: o.appModule,
    appDir: o.appDir,
    settings: o.settings,
  };
}
