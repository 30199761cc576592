import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encode } from './codec.js';
import { codeOf } from './test-support.js';
import {
  computePassword,
  decodeIdentifier,
  encodeIdentifier,
  isBufferScope,
  isStramScope,
  safeEqual,
  tokenFromText,
  tokenToText,
  type TokenIdentifier,
} from './token.js';

const id: TokenIdentifier = {
  version: 1,
  kind: 'STRAM_DELEGATION',
  owner: 'alice',
  renewer: 'stram',
  realUser: 'root',
  issueDate: Date.UTC(2026, 10, 25, 10),
  maxDate: Date.UTC(2026, 11, 2, 10),
  sequenceNumber: 2 ** 40 + 7,
  keyId: 2 ** 33,
  scope: { app: 'app-1', container: 'c-1' },
};

/** Offset of the value after `n` leading fixstr/str8 fields, starting at `at`. */
function skipStrings(bytes: Buffer, at: number, n: number): number {
  let i = at;
  for (let k = 0; k < n; k++) {
    const b = bytes[i]!;
    if (b >= 0xa0 && b <= 0xbf) i += 1 + (b & 0x1f);
    else if (b === 0xd9) i += 2 + bytes[i + 1]!;
    else throw new Error(`expected a string at ${i}`);
  }
  return i;
}

describe('token identifier', () => {
  it('round-trips every field in DESIGN order', () => {
    const bytes = encodeIdentifier(id);
    expect(decodeIdentifier(bytes)).toEqual(id);
    expect(bytes[0]).toBe(0x9a); // array of 10
    expect(bytes[1]).toBe(1); // version
  });

  it('writes dates, sequence number and key id as MessagePack integers (no float64 marker)', () => {
    const bytes = encodeIdentifier(id);
    let at = skipStrings(bytes, 2, 4); // kind, owner, renewer, realUser
    for (const field of ['issueDate', 'maxDate', 'sequenceNumber', 'keyId']) {
      expect([field, bytes[at]]).toEqual([field, expect.toSatisfy((b: number) => b === 0xcf || b === 0xd3)]);
      at += 9;
    }
    expect(bytes[at]! & 0xf0).toBe(0x80); // then the scope map
  });

  it('rejects identifiers of the wrong shape as MALFORMED_TOKEN (4401)', () => {
    const fields = [1, 'K', 'o', 'r', 'u', 1, 2, 3, 4, {}];
    const variants: unknown[] = [
      fields.slice(0, 9),
      [...fields, 'extra'],
      [2, ...fields.slice(1)],
      ['1', ...fields.slice(1)],
      [1, 7, ...fields.slice(2)],
      [1, 'K', 'o', 'r', 'u', -1, 2, 3, 4, {}],
      [1, 'K', 'o', 'r', 'u', 1.5, 2, 3, 4, {}],
      [1, 'K', 'o', 'r', 'u', 1, 2, 3, 4, []],
      [1, 'K', 'o', 'r', 'u', 1, 2, 3, 4, null],
      { version: 1 },
      'text',
    ];
    for (const v of variants) {
      expect([v, codeOf(() => decodeIdentifier(encode(v)))]).toEqual([v, 'MALFORMED_TOKEN']);
    }
    // a sequence number past 2^53 cannot be held exactly
    const bytes = Buffer.from(encodeIdentifier({ ...id, sequenceNumber: 2 ** 40 }));
    const at = bytes.indexOf(Buffer.from([0xd3, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00]));
    bytes.set([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], at);
    expect(codeOf(() => decodeIdentifier(bytes))).toBe('MALFORMED_TOKEN');
    expect(codeOf(() => decodeIdentifier(encodeIdentifier(id).subarray(0, 20)))).toBe('MALFORMED_TOKEN');
    expect(codeOf(() => decodeIdentifier(new Uint8Array(0)))).toBe('MALFORMED_TOKEN');
    expect(codeOf(() => decodeIdentifier(Buffer.concat([encodeIdentifier(id), Buffer.from([0])])))).toBe('MALFORMED_TOKEN');
  });

  it('computes the password over the identifier bytes and compares in constant time', () => {
    const key = randomBytes(32);
    const bytes = encodeIdentifier(id);
    const pw = computePassword(key, bytes);
    expect(pw).toHaveLength(32);
    expect(safeEqual(pw, computePassword(key, bytes))).toBe(true);
    expect(safeEqual(pw, computePassword(randomBytes(32), bytes))).toBe(false);
    expect(safeEqual(pw, pw.subarray(0, 31))).toBe(false);
  });

  it('classifies scopes', () => {
    expect(isStramScope({ app: 'a', container: 'c' })).toBe(true);
    expect(isStramScope({ app: 'a' })).toBe(false);
    expect(isBufferScope({ bs: 'b', streams: ['s'], access: 'publish', container: null })).toBe(true);
    expect(isBufferScope({ bs: 'b', streams: ['s'], access: 'admin', container: null })).toBe(false);
    expect(isBufferScope({ bs: 'b', streams: [1], access: 'publish', container: null })).toBe(false);
  });
});

describe('token text form', () => {
  const token = { identifier: encodeIdentifier(id), password: randomBytes(32), kind: 'STRAM_DELEGATION', service: 'stram:app-1' };

  it('round-trips through base64url without padding', () => {
    const text = tokenToText(token);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    const back = tokenFromText(`  ${text}\n`);
    expect(Buffer.from(back.identifier).equals(Buffer.from(token.identifier))).toBe(true);
    expect(Buffer.from(back.password).equals(token.password)).toBe(true);
    expect(back.kind).toBe(token.kind);
    expect(back.service).toBe(token.service);
  });

  it('rejects truncated, non-base64url and wrongly shaped text', () => {
    const text = tokenToText(token);
    const bad = [
      text.slice(0, -1),
      text.slice(0, -20),
      text.slice(0, 10),
      '',
      `"${text}"`,
      text.replace(/.$/, '=='),
      encode([token.identifier, token.password, token.kind]).toString('base64url'),
      encode([token.identifier, token.password.subarray(0, 31), token.kind, token.service]).toString('base64url'),
      encode(['id', token.password, token.kind, token.service]).toString('base64url'),
      encode([Buffer.from([1, 2, 3]), token.password, token.kind, token.service]).toString('base64url'),
      encode({ a: 1 }).toString('base64url'),
    ];
    for (const b of bad) expect([b, codeOf(() => tokenFromText(b))]).toEqual([b, 'MALFORMED_TOKEN']);
  });
});
