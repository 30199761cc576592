import {
  SluiceError,
  checkBufferTokenKind,
  checkBufferTokenLive,
  computePassword,
  isBufferScope,
  type AuthRequest,
  type BufferScope,
  type Clock,
  type TokenAuthority,
  type TokenIdentifier,
} from '@sluice/common';

/** Most secrets a buffer server accepts at once: the current one and a few still being switched from. */
export const MAX_ACCEPTED_SECRETS = 4;

/**
 * How a buffer server judges tokens (docs/protocol.md "Tokens", "Authenticated connection"): the
 * password comes from this server's own secret; the token must be live and not revoked; its
 * scope must name this server, the access the role needs and, for publish and subscribe, the
 * stream. Stateless apart from the revoked sequence numbers and the accepted secrets, both of
 * which change only through its methods.
 *
 * Secret rotation (docs/protocol.md "Secret rotation"): `secrets[0]` is the current secret (new
 * tokens are minted from it); the others are previous secrets still accepted while their holders
 * switch. Each handshake tries every accepted secret (a handful at most), so a token minted from
 * any of them is welcome until its secret is retired.
 */
export class BufferTokenAuthority implements TokenAuthority {
  private readonly revoked = new Set<number>();
  private accepted: Buffer[];

  constructor(
    private readonly id: string,
    secrets: readonly Uint8Array[],
    private readonly clock: Clock,
  ) {
    this.accepted = secrets.map((s) => Buffer.from(s));
  }

  /** Refuses tokens with these sequence numbers from now on (the control message `revoke`). */
  revoke(seqs: readonly number[]): void {
    for (const s of seqs) this.revoked.add(s);
  }

  /** The accepted secrets, current first. */
  get secrets(): readonly Buffer[] {
    return this.accepted;
  }

  /** Makes `secret` current; the previous ones stay accepted (the oldest beyond the limit are dropped and returned). */
  rotate(secret: Uint8Array): Buffer[] {
    const s = Buffer.from(secret);
    const rest = this.accepted.filter((a) => !a.equals(s));
    this.accepted = [s, ...rest];
    return this.accepted.length > MAX_ACCEPTED_SECRETS ? this.accepted.splice(MAX_ACCEPTED_SECRETS) : [];
  }

  /** Keeps the current secret and those of `keep`; returns the secrets no longer accepted. */
  retire(keep: readonly Uint8Array[]): Buffer[] {
    const kept = (a: Buffer, i: number) => i === 0 || keep.some((k) => a.equals(k));
    const retired = this.accepted.filter((a, i) => !kept(a, i));
    this.accepted = this.accepted.filter(kept);
    return retired;
  }

  /** The handshake decoded `identifier` from `idBytes`: checked here, not decoded again for each secret. */
  password(idBytes: Uint8Array, identifier: TokenIdentifier): Buffer[] {
    checkBufferTokenKind(identifier);
    return this.accepted.map((s) => computePassword(s, idBytes));
  }

  checkLive(identifier: TokenIdentifier): void {
    checkBufferTokenLive(identifier, this.clock.now(), this.revoked);
  }

  authorize(identifier: TokenIdentifier, request: AuthRequest): void {
    const scope = identifier.scope;
    if (!isBufferScope(scope)) throw new SluiceError('NOT_ALLOWED', 'token has no buffer-server scope');
    if (scope.bs !== this.id) {
      throw new SluiceError('WRONG_BUFFER_SERVER', `token is for buffer server "${scope.bs.slice(0, 40)}", this is "${this.id}"`);
    }
    switch (request.role) {
      case 'publish':
      case 'subscribe':
        if (scope.access !== request.role) {
          throw new SluiceError('OUT_OF_SCOPE', `a ${scope.access} token may not ${request.role}; ask for a ${request.role} token`);
        }
        if (!scope.streams.includes(request.stream)) {
          throw new SluiceError('OUT_OF_SCOPE', `stream "${request.stream.slice(0, 40)}" is not in the token's scope`);
        }
        return;
      case 'control':
        if (scope.access !== 'control') throw new SluiceError('OUT_OF_SCOPE', `a ${scope.access} token may not connect as control`);
        return;
      default:
        throw new SluiceError('NOT_ALLOWED', `a buffer server does not serve role "${request.role}"`);
    }
  }
}

/** A control token with an empty stream list may act on every stream; otherwise only on those listed. */
export function controlCovers(scope: BufferScope, stream: string): boolean {
  return scope.streams.length === 0 || scope.streams.includes(stream);
}
