import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bufferTokenPassword, checkBufferTokenLive, mintBufferToken } from './buffer-token.js';
import { computePassword, decodeIdentifier, encodeIdentifier, safeEqual, tokenFromText, tokenToText } from './token.js';
import { codeOf } from './test-support.js';

const secret = randomBytes(32);
const now = Date.UTC(2026, 10, 25, 10);
const base = { secret, bs: 'bs-1', streams: ['orders'], access: 'publish' as const, owner: 'alice', now, ttlMs: 60_000 };

describe('buffer-server tokens', () => {
  it('mints a token that verifies against the secret and carries its scope', () => {
    const t = mintBufferToken({ ...base, container: 'c-1', sequenceNumber: 5 });
    expect(t.kind).toBe('BUFFER_SERVER');
    expect(t.service).toBe('bs-1');
    const v = bufferTokenPassword(secret, tokenFromText(tokenToText(t)).identifier);
    expect(safeEqual(v.password, t.password)).toBe(true);
    expect(v.scope).toEqual({ bs: 'bs-1', streams: ['orders'], access: 'publish', container: 'c-1' });
    expect(v.identifier).toMatchObject({ kind: 'BUFFER_SERVER', owner: 'alice', renewer: '', realUser: '', issueDate: now, maxDate: now + 60_000, sequenceNumber: 5, keyId: 0 });
    checkBufferTokenLive(v.identifier, now, new Set());
  });

  it('gives another secret a different password', () => {
    const t = mintBufferToken(base);
    expect(safeEqual(bufferTokenPassword(randomBytes(32), t.identifier).password, t.password)).toBe(false);
  });

  it('picks a random sequence number below 2^53 by default', () => {
    const a = decodeIdentifier(mintBufferToken(base).identifier).sequenceNumber;
    const b = decodeIdentifier(mintBufferToken(base).identifier).sequenceNumber;
    expect(a).not.toBe(b);
    expect(a).toBeLessThan(2 ** 53);
  });

  it('is expired at its max date, not before', () => {
    const id = decodeIdentifier(mintBufferToken(base).identifier);
    checkBufferTokenLive(id, now + 59_999, new Set());
    expect(codeOf(() => checkBufferTokenLive(id, now + 60_000, new Set()))).toBe('TOKEN_EXPIRED');
  });

  it('is refused once its sequence number is revoked', () => {
    const id = decodeIdentifier(mintBufferToken({ ...base, sequenceNumber: 77 }).identifier);
    expect(codeOf(() => checkBufferTokenLive(id, now, new Set([77])))).toBe('TOKEN_REVOKED');
    checkBufferTokenLive(id, now, new Set([78]));
  });

  it('refuses a STRAM token as the wrong kind, and a bad key id or scope as malformed', () => {
    const stram = encodeIdentifier({ ...decodeIdentifier(mintBufferToken(base).identifier), kind: 'STRAM_DELEGATION', scope: { app: 'a', container: 'c' } });
    expect(codeOf(() => bufferTokenPassword(secret, stram))).toBe('TOKEN_WRONG_KIND');
    const keyed = encodeIdentifier({ ...decodeIdentifier(mintBufferToken(base).identifier), keyId: 3 });
    expect(codeOf(() => bufferTokenPassword(secret, keyed))).toBe('MALFORMED_TOKEN');
    const scoped = encodeIdentifier({ ...decodeIdentifier(mintBufferToken(base).identifier), scope: { bs: 'bs-1', streams: 'orders', access: 'publish', container: null } });
    expect(codeOf(() => bufferTokenPassword(secret, scoped))).toBe('MALFORMED_TOKEN');
    expect(computePassword(secret, keyed)).toHaveLength(32);
  });

  it('refuses a bad secret and a stream-less publish or subscribe token', () => {
    expect(codeOf(() => mintBufferToken({ ...base, secret: randomBytes(16) }))).toBe('BAD_CONFIG');
    expect(codeOf(() => mintBufferToken({ ...base, streams: [] }))).toBe('BAD_CONFIG');
    expect(codeOf(() => mintBufferToken({ ...base, access: 'subscribe', streams: [] }))).toBe('BAD_CONFIG');
    expect(decodeIdentifier(mintBufferToken({ ...base, access: 'control', streams: [] }).identifier).scope).toMatchObject({ access: 'control' });
  });
});
