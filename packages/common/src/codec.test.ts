import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_FRAME, decode, encode, toWire } from './codec.js';
import { SluiceError } from './errors.js';
import { codeOf } from './test-support.js';

describe('codec', () => {
  it('packs integers of 2^32 and above as MessagePack integers, never float64', () => {
    for (const n of [2 ** 32, 2 ** 40, Date.UTC(2026, 10, 25), Number.MAX_SAFE_INTEGER, -(2 ** 31) - 1, -(2 ** 40)]) {
      const bytes = encode(n);
      expect(bytes[0]).not.toBe(0xcb);
      expect([0xcf, 0xd3]).toContain(bytes[0]);
      expect(bytes).toHaveLength(9);
      expect(decode(bytes)).toBe(n);
    }
    expect(encode(2 ** 32 - 1)[0]).toBe(0xce);
    expect(encode(-(2 ** 31))[0]).toBe(0xd2);
  });

  it('keeps non-integers as floats and small integers compact', () => {
    expect(encode(1.5)[0]).toBe(0xcb);
    expect(encode(7)).toEqual(Buffer.from([7]));
  });

  it('converts nested large integers without touching the input', () => {
    const input = { a: [1, 2 ** 40, 'x'], b: { c: 2 ** 33 }, d: 'text', e: new Uint8Array([1]) };
    const wire = toWire(input) as { a: unknown[]; b: { c: unknown } };
    expect(wire.a[1]).toBe(2n ** 40n);
    expect(wire.b.c).toBe(2n ** 33n);
    expect(input.a[1]).toBe(2 ** 40);
    expect(input.b.c).toBe(2 ** 33);
    const small = { a: [1, 2], b: 'x' };
    expect(toWire(small)).toBe(small);
    expect(decode(encode(input))).toEqual({ ...input, e: Buffer.from([1]) });
  });

  it('round-trips maps, arrays, strings and binary', () => {
    const value = { t: 'x', list: [1, 'two', null, true], bin: Buffer.from([0, 255]), nested: { k: -1 } };
    expect(decode(encode(value))).toEqual(value);
  });

  it('decodes exactly one value: trailing bytes, truncation and empty input are malformed', () => {
    expect(codeOf(() => decode(Buffer.concat([encode({ t: 'x' }), Buffer.from([0x01])])))).toBe('MALFORMED_FRAME');
    const whole = encode({ t: 'challenge', nonce: Buffer.alloc(32) });
    for (let cut = 1; cut < whole.length; cut += 5) {
      expect(codeOf(() => decode(whole.subarray(0, whole.length - cut)))).toBe('MALFORMED_FRAME');
    }
    expect(codeOf(() => decode(new Uint8Array(0)))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => decode(Buffer.from([0xc1])))).toBe('MALFORMED_FRAME'); // never-used byte
  });

  it('refuses msgpackr-only extensions (Set, Error, RegExp, typed arrays), even nested', () => {
    const nonStandard = [
      'd473009101', // Set {1}
      'd4650093a54572726f72a178d40000', // Error
      'd4780092a27265a167', // RegExp /re/g
      'c705740401000200', // Uint16Array
    ];
    for (const hex of nonStandard) {
      const inner = Buffer.from(hex, 'hex');
      expect([hex, codeOf(() => decode(inner))]).toEqual([hex, 'MALFORMED_FRAME']);
      const nested = Buffer.concat([Buffer.from('81a17491', 'hex'), inner]); // {t: [inner]}
      expect([hex, codeOf(() => decode(nested))]).toEqual([hex, 'MALFORMED_FRAME']);
    }
    // the standard timestamp extension is fine
    expect(decode(Buffer.from('d6ff00000001', 'hex'))).toEqual(new Date(1000));
  });

  it('enforces the frame limit on both sides', () => {
    expect(codeOf(() => decode(Buffer.alloc(11), 10))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => encode('x'.repeat(100), 50))).toBe('INVALID_MESSAGE');
    expect(DEFAULT_MAX_FRAME).toBe(16 * 1024 * 1024);
    try {
      decode(new Uint8Array(0));
    } catch (err) {
      expect((err as SluiceError).closeCode).toBe(4400);
    }
  });
});
