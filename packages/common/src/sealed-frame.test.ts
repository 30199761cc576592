import { describe, expect, it } from 'vitest';
import { encode } from './codec.js';
import { parseFrame } from './protocol.js';
import { readSealed, writeSealed } from './sealed-frame.js';
import { rng } from './test-support.js';

const SEQS = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
const LENGTHS = [0, 1, 0xff, 0x100, 0xffff, 0x10000];
const mac = Buffer.alloc(32, 0xab);

/** What the full path makes of `bytes`: the parsed envelope, or the fault it names. */
function full(bytes: Uint8Array): unknown {
  try {
    return parseFrame(bytes, true, ['msg']);
  } catch (err) {
    return err;
  }
}

describe('the sealed envelope written and read by hand', () => {
  it('writes exactly the bytes encode writes, at every integer and bin width', () => {
    for (const seq of SEQS) {
      for (const n of LENGTHS) {
        const body = Buffer.alloc(n, n & 0xff);
        expect(writeSealed(seq, body, mac).equals(encode({ t: 'msg', seq, body, mac }))).toBe(true);
      }
    }
  });

  it('reads back what it wrote as the full path does', () => {
    for (const seq of SEQS) {
      for (const n of LENGTHS) {
        const bytes = writeSealed(seq, Buffer.alloc(n, 3), mac);
        const fast = readSealed(bytes)!;
        const slow = full(bytes) as typeof fast;
        expect([fast.t, fast.seq, fast.body.length]).toEqual([slow.t, seq, n]);
        expect(Buffer.from(fast.body).equals(slow.body) && Buffer.from(fast.mac).equals(slow.mac)).toBe(true);
      }
    }
    // Another encoder may write a large seq as uint64: the full path takes it, so does this one.
    const uint64 = writeSealed(2 ** 40 + 3, Buffer.alloc(4), mac);
    expect(uint64[11]).toBe(0xd3);
    uint64[11] = 0xcf;
    expect(readSealed(uint64)).toEqual(full(uint64));
    expect(readSealed(uint64)?.seq).toBe(2 ** 40 + 3);
  });

  it('leaves every other layout to the full path: keys in another order, extra keys, a mac of another size, trailing bytes', () => {
    const body = Buffer.alloc(10, 1);
    const others = [
      encode({ seq: 1, t: 'msg', body, mac }),
      encode({ t: 'msg', seq: 1, body, mac, extra: 1 }),
      encode({ t: 'msg', seq: 1, body, mac: Buffer.alloc(31) }),
      encode({ t: 'msg', seq: 1, body: 'text', mac }),
      encode({ t: 'msg', seq: -1, body, mac }),
      encode({ t: 'msg', seq: 1.5, body, mac }),
      Buffer.concat([writeSealed(1, body, mac), Buffer.from([0xc0])]),
      writeSealed(1, body, mac).subarray(0, 40),
      Buffer.alloc(0),
    ];
    for (const bytes of others) expect(readSealed(bytes)).toBeUndefined();
    // A uint64 past 2^53: the schema refuses it, so the fast path must not read it.
    const big = writeSealed(2 ** 53 - 1, body, mac);
    big.fill(0xff, 12, 20);
    expect(readSealed(big)).toBeUndefined();
    expect(full(big)).toBeInstanceOf(Error);
  });

  it('never accepts what the full path refuses, and returns what it returns, for fuzzed bytes', () => {
    const r = rng(11);
    let accepted = 0;
    for (let i = 0; i < 5_000; i++) {
      const bytes = writeSealed(Math.floor(r() * 2 ** (r() * 53)), Buffer.alloc(Math.floor(r() * 300), 5), mac);
      const flips = 1 + Math.floor(r() * 3);
      for (let k = 0; k < flips; k++) bytes[Math.floor(r() * Math.min(bytes.length, 40))] = Math.floor(r() * 256);
      const fast = readSealed(bytes);
      if (fast === undefined) continue;
      accepted++;
      expect(fast).toEqual(full(bytes));
    }
    // Mutations in the body leave the layout intact: many are read by the fast path.
    expect(accepted).toBeGreaterThan(250);
  });
});
