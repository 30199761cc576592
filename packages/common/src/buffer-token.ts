import { randomInt } from 'node:crypto';
import { SluiceError } from './errors.js';
import { isoTime } from './clock.js';
import {
  TokenKind,
  computePassword,
  decodeIdentifier,
  encodeIdentifier,
  isBufferScope,
  type BufferAccess,
  type BufferScope,
  type Token,
  type TokenIdentifier,
} from './token.js';

export interface MintBufferTokenOptions {
  secret: Uint8Array;
  bs: string;
  streams: string[];
  access: BufferAccess;
  container?: string | null;
  owner: string;
  renewer?: string;
  realUser?: string;
  now: number;
  /** Lifetime in ms: maxDate = now + ttl. */
  ttlMs: number;
  /** Default: a random integer below 2^48 (STRAM passes its own sequence). */
  sequenceNumber?: number;
}

/** Mints a buffer-server token from that server's secret (docs/protocol.md "Tokens": kind BUFFER_SERVER, keyId 0). */
export function mintBufferToken(o: MintBufferTokenOptions): Token {
  if (o.secret.length !== 32) throw new SluiceError('BAD_CONFIG', 'a buffer-server secret must be 32 bytes');
  if (o.streams.length === 0 && o.access !== 'control') throw new SluiceError('BAD_CONFIG', 'a publish or subscribe token must name at least one stream');
  const scope: BufferScope = { bs: o.bs, streams: [...o.streams], access: o.access, container: o.container ?? null };
  const identifier = encodeIdentifier({
    version: 1,
    kind: TokenKind.bufferServer,
    owner: o.owner,
    renewer: o.renewer ?? '',
    realUser: o.realUser ?? '',
    issueDate: o.now,
    maxDate: o.now + o.ttlMs,
    sequenceNumber: o.sequenceNumber ?? randomInt(0, 2 ** 48 - 1),
    keyId: 0,
    scope,
  });
  return { identifier, password: computePassword(o.secret, identifier), kind: TokenKind.bufferServer, service: o.bs };
}

export interface VerifiedBufferToken {
  identifier: TokenIdentifier;
  scope: BufferScope;
  password: Buffer;
}

/**
 * What a buffer server needs to know of a token before checking its proof: it is of the right
 * kind and parses. Returns the password this server's secret gives it. Stateless: the server
 * keeps no token list, only its secret and the revoked sequence numbers.
 */
export function bufferTokenPassword(secret: Uint8Array, idBytes: Uint8Array): VerifiedBufferToken {
  const identifier = decodeIdentifier(idBytes);
  return { identifier, scope: checkBufferTokenKind(identifier), password: computePassword(secret, idBytes) };
}

/**
 * The kind, key id and scope checks of `bufferTokenPassword`, on an identifier already decoded
 * (a handshake decodes it once, then computes one password per accepted secret). Returns its scope.
 */
export function checkBufferTokenKind(identifier: TokenIdentifier): BufferScope {
  if (identifier.kind !== TokenKind.bufferServer) {
    throw new SluiceError('TOKEN_WRONG_KIND', `token kind ${identifier.kind} is not accepted by a buffer server; present a ${TokenKind.bufferServer} token`);
  }
  if (identifier.keyId !== 0 || !isBufferScope(identifier.scope)) {
    throw new SluiceError('MALFORMED_TOKEN', 'buffer-server token has an invalid key id or scope');
  }
  return identifier.scope;
}

/** Expiry and revocation of a buffer-server token: 4401 when past maxDate or revoked. */
export function checkBufferTokenLive(identifier: TokenIdentifier, now: number, revoked: ReadonlySet<number>): void {
  if (now >= identifier.maxDate) {
    throw new SluiceError('TOKEN_EXPIRED', `token expired at ${isoTime(identifier.maxDate)}; ask STRAM (or sluice token buffer) for a new one`);
  }
  if (revoked.has(identifier.sequenceNumber)) {
    throw new SluiceError('TOKEN_REVOKED', `token ${identifier.sequenceNumber} was revoked; its holder must get new credentials`);
  }
}
