import {
  SluiceError,
  bufferTokenPassword,
  checkBufferTokenLive,
  isBufferScope,
  type AuthRequest,
  type BufferScope,
  type Clock,
  type TokenAuthority,
  type TokenIdentifier,
} from '@sluice/common';

/**
 * How a buffer server judges tokens (DESIGN.md "Tokens", "Authenticated connection"): the
 * password comes from this server's own secret; the token must be live and not revoked; its
 * scope must name this server, the access the role needs and, for publish and subscribe, the
 * stream. Stateless apart from the revoked sequence numbers.
 */
export class BufferTokenAuthority implements TokenAuthority {
  readonly revoked = new Set<number>();

  constructor(
    private readonly id: string,
    private readonly secret: Uint8Array,
    private readonly clock: Clock,
  ) {}

  password(idBytes: Uint8Array): Buffer {
    return bufferTokenPassword(this.secret, idBytes).password;
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
