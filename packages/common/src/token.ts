import { createHmac, timingSafeEqual } from 'node:crypto';
import { decode, encode } from './codec.js';
import { SluiceError } from './errors.js';

/** docs/protocol.md "Tokens". */
export const TokenKind = {
  stram: 'STRAM_DELEGATION',
  bufferServer: 'BUFFER_SERVER',
} as const;
export type TokenKind = (typeof TokenKind)[keyof typeof TokenKind];

export type BufferAccess = 'publish' | 'subscribe' | 'control';

// Type aliases, not interfaces: a scope is one of TokenIdentifier's `scope` maps as it stands.
export type BufferScope = {
  bs: string;
  streams: string[];
  access: BufferAccess;
  container: string | null;
};

export type StramScope = {
  app: string;
  container: string;
};

export type TokenScope = BufferScope | StramScope;

export interface TokenIdentifier {
  version: 1;
  kind: string;
  owner: string;
  renewer: string;
  realUser: string;
  issueDate: number;
  maxDate: number;
  sequenceNumber: number;
  keyId: number;
  scope: Record<string, unknown>;
}

/** A token as held by its owner: identifier bytes exactly as issued, and the password. */
export interface Token {
  identifier: Uint8Array;
  password: Uint8Array;
  kind: string;
  service: string;
}

export const IDENTIFIER_VERSION = 1;

export function encodeIdentifier(id: TokenIdentifier): Buffer {
  return encode([
    id.version,
    id.kind,
    id.owner,
    id.renewer,
    id.realUser,
    id.issueDate,
    id.maxDate,
    id.sequenceNumber,
    id.keyId,
    id.scope,
  ]);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string';

/** Parses identifier bytes; any fault is MALFORMED_TOKEN (an authentication failure, 4401). */
export function decodeIdentifier(bytes: Uint8Array): TokenIdentifier {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (err) {
    throw new SluiceError('MALFORMED_TOKEN', 'token identifier is not MessagePack; the token is damaged, get a new one', { cause: err });
  }
  if (!Array.isArray(raw) || raw.length !== 10) {
    throw new SluiceError('MALFORMED_TOKEN', 'token identifier must be an array of 10 fields; the token is damaged or from another system');
  }
  const [version, kind, owner, renewer, realUser, issueDate, maxDate, sequenceNumber, keyId, scope] = raw as unknown[];
  if (version !== IDENTIFIER_VERSION) {
    throw new SluiceError('MALFORMED_TOKEN', `token identifier version ${String(version)} is not supported (expected ${IDENTIFIER_VERSION})`);
  }
  if (!isStr(kind) || !isStr(owner) || !isStr(renewer) || !isStr(realUser)) {
    throw new SluiceError('MALFORMED_TOKEN', 'token identifier has a kind, owner, renewer or realUser that is not a string');
  }
  if (!isInt(issueDate) || !isInt(maxDate) || !isInt(sequenceNumber) || !isInt(keyId)) {
    throw new SluiceError('MALFORMED_TOKEN', 'token identifier has a date, sequence number or key id that is not a non-negative integer');
  }
  if (scope === null || typeof scope !== 'object' || Array.isArray(scope)) {
    throw new SluiceError('MALFORMED_TOKEN', 'token identifier scope must be a map');
  }
  return { version, kind, owner, renewer, realUser, issueDate, maxDate, sequenceNumber, keyId, scope: scope as Record<string, unknown> };
}

export function hmac(key: Uint8Array, ...parts: (Uint8Array | string)[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** password = HMAC-SHA256(key, identifier bytes exactly as received). */
export function computePassword(key: Uint8Array, identifier: Uint8Array): Buffer {
  return hmac(key, identifier);
}

/** Constant-time equality with an explicit length check first. */
export function safeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Portable text form: base64url (no padding) of MessagePack [identifier, password, kind, service]. */
export function tokenToText(token: Token): string {
  return encode([Buffer.from(token.identifier), Buffer.from(token.password), token.kind, token.service]).toString('base64url');
}

export function tokenFromText(text: string): Token {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9_-]+$/.test(trimmed)) {
    throw new SluiceError('MALFORMED_TOKEN', 'token text is not base64url; copy the whole token, without quotes or line breaks');
  }
  let raw: unknown;
  try {
    raw = decode(Buffer.from(trimmed, 'base64url'));
  } catch (err) {
    throw new SluiceError('MALFORMED_TOKEN', 'token text does not decode; it may be truncated, copy the whole token', { cause: err });
  }
  if (!Array.isArray(raw) || raw.length !== 4) {
    throw new SluiceError('MALFORMED_TOKEN', 'token text must hold [identifier, password, kind, service]; it may be truncated');
  }
  const [identifier, password, kind, service] = raw as unknown[];
  if (!(identifier instanceof Uint8Array) || !(password instanceof Uint8Array) || !isStr(kind) || !isStr(service)) {
    throw new SluiceError('MALFORMED_TOKEN', 'token text has fields of the wrong type; it is damaged');
  }
  if (password.length !== 32) throw new SluiceError('MALFORMED_TOKEN', 'token password must be 32 bytes; the token is damaged');
  decodeIdentifier(identifier);
  return { identifier: Buffer.from(identifier), password: Buffer.from(password), kind, service };
}

export function isBufferScope(scope: Record<string, unknown>): scope is BufferScope & Record<string, unknown> {
  return (
    typeof scope['bs'] === 'string' &&
    Array.isArray(scope['streams']) &&
    (scope['streams'] as unknown[]).every(isStr) &&
    (scope['access'] === 'publish' || scope['access'] === 'subscribe' || scope['access'] === 'control') &&
    (scope['container'] === null || isStr(scope['container']))
  );
}

export function isStramScope(scope: Record<string, unknown>): scope is StramScope & Record<string, unknown> {
  return isStr(scope['app']) && isStr(scope['container']);
}
