import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_FRAME, decode, encode, toWire } from './codec.js';
import { SluiceError } from './errors.js';
import { MAX_DEPTH } from './msgpack-grammar.js';
import { allExtensionSamples, codeOf, extensionSamples } from './test-support.js';

/** The SluiceError `fn` throws (fails the test if it returns or throws anything else). */
function refusal(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return err;
    throw err;
  }
  throw new Error('expected a SluiceError');
}

/** True when a decoded value holds only what standard MessagePack means in every language. */
function standardValue(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return true;
  if (typeof v !== 'object') return false; // undefined, bigint, ...
  if (Buffer.isBuffer(v) || v.constructor === Uint8Array || v instanceof Date) return true;
  if (Array.isArray(v)) return v.every(standardValue);
  if (Object.getPrototypeOf(v) !== Object.prototype) return false;
  return Object.values(v).every(standardValue);
}

const SLOT = 'SLOT\u0001';
const SLOT_BYTES = encode(SLOT);
/** Frames with one value (or one map key) marked SLOT; `key` says the slot is a map key. */
const TEMPLATES: { name: string; value: unknown; key?: true }[] = [
  { name: 'the frame itself', value: SLOT },
  { name: 'the type field', value: { t: SLOT } },
  { name: 'an auth field', value: { t: 'auth', id: Buffer.alloc(8, 1), cnonce: Buffer.alloc(32), role: 'subscribe', stream: 's', window: SLOT } },
  { name: 'a partition key', value: { t: 'auth', role: 'subscribe', partitions: { mask: 1, keys: [0, SLOT] } } },
  { name: 'a tuple', value: { t: 'data', w: 1, tuples: ['a', SLOT, 'b'] } },
  { name: 'a field deep inside a tuple', value: { t: 'data', w: 2 ** 40, tuples: [{ k: [1, { deep: SLOT }] }], p: [3] } },
  { name: 'an envelope field', value: { t: 'msg', seq: 1, body: Buffer.alloc(3), mac: Buffer.alloc(32), extra: SLOT } },
  { name: 'a map key', value: { t: 'purge', [SLOT]: 1, w: 5 }, key: true },
];

/** The template's frame with the SLOT's bytes replaced by `bytes`. */
function withSlot(template: unknown, bytes: Buffer): Buffer {
  const frame = encode(template);
  const at = frame.indexOf(SLOT_BYTES);
  expect(at).toBeGreaterThanOrEqual(0);
  expect(frame.indexOf(SLOT_BYTES, at + 1)).toBe(-1);
  return Buffer.concat([frame.subarray(0, at), bytes, frame.subarray(at + SLOT_BYTES.length)]);
}

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

  it('refuses every extension type in every header form at every value position, allowing only the standard timestamp', () => {
    let refused = 0;
    for (const template of TEMPLATES) {
      for (const ext of allExtensionSamples()) {
        const frame = withSlot(template.value, ext.bytes);
        if (ext.timestamp && !template.key) {
          expect([template.name, ext.name, standardValue(decode(frame))]).toEqual([template.name, ext.name, true]);
          continue;
        }
        const err = refusal(() => decode(frame));
        expect([template.name, ext.name, err.code, err.closeCode]).toEqual([template.name, ext.name, 'MALFORMED_FRAME', 4400]);
        expect(err.message).toMatch(template.key ? /map key that is not nil/ : ext.type === 0xff ? /malformed timestamp/ : /extension type other than the timestamp/);
        refused++;
      }
      // the reserved byte, as a value and as a key
      const err = refusal(() => decode(withSlot(template.value, Buffer.from([0xc1]))));
      expect([template.name, err.code, err.message]).toEqual([template.name, 'MALFORMED_FRAME', expect.stringMatching(/reserved byte 0xc1/)]);
    }
    expect(refused).toBe(TEMPLATES.length * 256 * 10 - (TEMPLATES.length - 1) * 3);
  });

  it('refuses what msgpackr itself writes beyond standard MessagePack: records, BigInt, undefined', () => {
    const record = new Packr({ useRecords: true }).pack({ t: 'auth', role: 'control' });
    expect(record.subarray(0, 2)).toEqual(Buffer.from([0xd4, 0x72]));
    const bigint = new Packr({ useBigIntExtension: true }).pack(2n ** 70n);
    expect(bigint[1]).toBe(0x42);
    for (const bytes of [record, bigint, Buffer.from('d40000', 'hex'), Buffer.from('81a178d40000', 'hex')]) {
      expect([bytes.toString('hex'), codeOf(() => decode(bytes))]).toEqual([bytes.toString('hex'), 'MALFORMED_FRAME']);
    }
  });

  it('accepts extension bytes inside a str or bin, and nothing non-standard wherever they are written over a frame', () => {
    const inserts = [0x00, 0x42, 0x72, 0x73, 0xff].flatMap((type) => extensionSamples(type).map((e) => e.bytes));
    inserts.push(Buffer.from([0xc1]));
    let accepted = 0;
    for (const template of TEMPLATES) {
      const frame = encode(JSON.parse(JSON.stringify(template.value, (_k, v: unknown) => (v === SLOT ? 'x' : v))));
      for (let at = 0; at < frame.length; at++) {
        for (const bytes of inserts) {
          const mutated = Buffer.from(frame);
          bytes.copy(mutated, at);
          let value: unknown;
          try {
            value = decode(mutated);
          } catch (err) {
            expect((err as SluiceError).code).toBe('MALFORMED_FRAME');
            continue;
          }
          accepted++;
          expect(standardValue(value)).toBe(true);
        }
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it('refuses nesting deeper than MAX_DEPTH, which msgpackr would still decode', () => {
    const nested = (depth: number): Buffer => Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0x01])]);
    expect(decode(nested(MAX_DEPTH))).toBeInstanceOf(Array);
    const err = refusal(() => decode(nested(MAX_DEPTH + 1)));
    expect([err.code, err.message]).toEqual(['MALFORMED_FRAME', expect.stringMatching(/more than 100 deep/)]);
    expect(codeOf(() => encode(JSON.parse('['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1))))).toBeUndefined();
  });

  it('refuses a timestamp whose nanoseconds are 10^9 or more', () => {
    expect(decode(Buffer.from('d7ff' + 'ee6b27fc' + '00000000', 'hex'))).toBeInstanceOf(Date); // 999999999 ns
    expect(codeOf(() => decode(Buffer.from('d7ff' + 'ee6b2800' + '00000000', 'hex')))).toBe('MALFORMED_FRAME'); // 10^9 ns
    expect(decode(Buffer.from('c70cff' + '3b9ac9ff' + '0000000000000001', 'hex'))).toBeInstanceOf(Date);
    expect(codeOf(() => decode(Buffer.from('c70cff' + '3b9aca00' + '0000000000000001', 'hex')))).toBe('MALFORMED_FRAME');
  });

  it('never writes an extension: undefined is left out of maps and nil in arrays; an invalid Date or an object map key is refused at the sender', () => {
    const bytes = encode({ t: 'x', gone: undefined, list: [1, undefined], nested: { also: undefined } });
    expect(bytes.includes(Buffer.from([0xd4, 0x00, 0x00]))).toBe(false);
    expect(decode(bytes)).toEqual({ t: 'x', list: [1, null], nested: {} });
    expect(encode(undefined)).toEqual(Buffer.from([0xc0]));
    // msgpackr writes an invalid Date as fixext1 type -1, and a Map keyed by objects as a map with map keys.
    for (const [odd, why] of [[new Date(Number.NaN), /malformed timestamp/], [new Map<unknown, number>([[{ k: 1 }, 2]]), /map key that is not/]] as const) {
      const err = refusal(() => encode({ t: 'data', w: 1, tuples: [odd] }));
      expect([err.code, err.message]).toEqual(['INVALID_MESSAGE', expect.stringMatching(why)]);
    }
    // Dates (the standard timestamp), class instances and Maps with string keys are plain MessagePack.
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    expect(decode(encode({ at: new Date(1000), p: new Point(1, 2), m: new Map([['a', 1]]) }))).toEqual({ at: new Date(1000), p: { x: 1, y: 2 }, m: { a: 1 } });
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
