import { describe, expect, it } from 'vitest';
import { mintBufferToken, type Token } from '@sluice/common';
import { TokenRetirement } from './token-retirement.js';

const t = (seq: number): Token => mintBufferToken({ secret: Buffer.alloc(32, 1), bs: 'bs', streams: ['s'], access: 'subscribe', owner: 'a', now: 0, ttlMs: 1, sequenceNumber: seq });

function setup() {
  const cancelled: number[] = [];
  const seqOf = (token: Token) => [...Array(100).keys()].find((n) => Buffer.from(t(n).identifier).equals(Buffer.from(token.identifier)))!;
  const r = new TokenRetirement(async (_id, token) => void cancelled.push(seqOf(token)));
  return { r, cancelled };
}

describe('token retirement', () => {
  it('cancels a replaced token once the container holds the revision that carries its successor', async () => {
    const { r, cancelled } = setup();
    r.issued('c1', t(1), 1, 1); // launched: its file is the delivery
    r.issued('c1', t(2), 2, 1); // reissued, pushed later
    r.held('c1', 1);
    expect(cancelled).toEqual([]);
    r.held('c1', 2);
    await Promise.resolve();
    expect(cancelled).toEqual([1]);
  });

  it('cancels at once a token replaced before it ever left STRAM', async () => {
    const { r, cancelled } = setup();
    r.issued('c1', t(1), 1, 1);
    r.issued('c1', t(2), 2, 1);
    r.issued('c1', t(3), 3, 1); // t(2) was never pushed: nobody holds it
    await Promise.resolve();
    expect(cancelled).toEqual([2]);
    r.held('c1', 3);
    await Promise.resolve();
    expect(cancelled).toEqual([2, 1]);
  });

  it('cancels every token of a replaced container at once, and every token at shutdown', async () => {
    const { r, cancelled } = setup();
    r.issued('c1', t(1), 1, 1);
    r.issued('c1', t(2), 2, 2);
    await r.restarted('c1', t(3), 3);
    expect(cancelled.sort()).toEqual([1, 2]);
    r.issued('c2', t(4), 1, 1);
    await r.cancelAll();
    expect(cancelled.sort()).toEqual([1, 2, 3, 4]);
  });
});
