import { describe, expect, it } from 'vitest';
import { NONCE_BYTES, randomNonce } from './nonce.js';

describe('handshake nonces', () => {
  it('are 32 bytes each, distinct, and never change once taken, across many pools', () => {
    const nonces = Array.from({ length: 1000 }, () => randomNonce());
    const copies = nonces.map((n) => Buffer.from(n));
    // More nonces after them: later pools must not write over earlier slices.
    for (let i = 0; i < 1000; i++) randomNonce();
    expect(nonces.every((n) => n.length === NONCE_BYTES)).toBe(true);
    expect(new Set(nonces.map((n) => n.toString('hex'))).size).toBe(nonces.length);
    nonces.forEach((n, i) => expect(n.equals(copies[i]!)).toBe(true));
  });
});
