import { describe, expect, it } from 'vitest';
import { decode, encode, scanStreamFrame, type DataMessage } from '@sluice/common';
import { scanPublished, selectPartitions, type PartitionSelection } from './partition-batch.js';

/** The path this replaces: decode the frame, keep the tuples whose p & mask is a key, encode a new one. */
function decodeAndReencode(bytes: Buffer, sel: PartitionSelection): [Buffer, number] | null {
  const m = decode(bytes) as DataMessage;
  if (!m.p) return [bytes, m.tuples.length];
  const tuples: unknown[] = [];
  const p: number[] = [];
  for (let k = 0; k < m.p.length; k++) {
    if (sel.keys.has(m.p[k]! & sel.mask)) {
      tuples.push(m.tuples[k]);
      p.push(m.p[k]!);
    }
  }
  if (tuples.length === 0) return null;
  if (tuples.length === m.tuples.length) return [bytes, tuples.length];
  return [encode({ t: 'data', w: m.w, tuples, p }), tuples.length];
}

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomTuple(r: () => number, depth = 0): unknown {
  switch (Math.floor(r() * (depth > 2 ? 6 : 9))) {
    case 0: return Math.floor(r() * 2 ** 40) - 2 ** 20;
    case 1: return 'ü'.repeat(Math.floor(r() * 200));
    case 2: return r() * 1000;
    case 3: return null;
    case 4: return r() < 0.5;
    case 5: return Buffer.alloc(Math.floor(r() * 300), 7);
    case 6: return Array.from({ length: Math.floor(r() * 20) }, () => randomTuple(r, depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: Math.floor(r() * 20) }, (_, i) => [`k${i}`, randomTuple(r, depth + 1)]));
    default: return new Date(Math.floor(r() * 2 ** 41));
  }
}

const W = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
const COUNTS = [1, 2, 15, 16, 17, 100, 65_535, 65_536];
const P = [0, 1, 127, 128, 255, 65_535, 65_536, 2 ** 31 - 1];

describe('selectPartitions (docs/protocol.md "Partitions")', () => {
  it('re-batches byte for byte what decoding and re-encoding produced, for fuzzed frames and masks', () => {
    const r = rng(42);
    let rebatched = 0;
    let none = 0;
    let whole = 0;
    for (let i = 0; i < 400; i++) {
      const count = i < COUNTS.length ? COUNTS[i]! : 1 + Math.floor(r() * 120);
      const cheap = count > 1000;
      const tuples = Array.from({ length: count }, (_, k) => (cheap ? k : randomTuple(r)));
      const withP = r() < 0.9;
      const p = Array.from({ length: count }, () => (r() < 0.3 ? P[Math.floor(r() * P.length)]! : Math.floor(r() * 2 ** 31)));
      const w = W[i % W.length]!;
      const frame = encode(withP ? { t: 'data', w, tuples, p } : { t: 'data', w, tuples });
      for (let j = 0; j < 4; j++) {
        const mask = [0, 1, 3, 0xff, 2 ** 31 - 1][Math.floor(r() * 5)]!;
        const keys = new Set(Array.from({ length: 1 + Math.floor(r() * 3) }, () => Math.floor(r() * (mask + 1)) & mask));
        const sel = { mask, keys };
        const want = decodeAndReencode(frame, sel);
        const got = selectPartitions(frame, sel);
        expect(got).not.toBeUndefined();
        if (want === null) {
          expect(got).toBeNull();
          none++;
          continue;
        }
        expect(got![1]).toBe(want[1]);
        expect(Buffer.compare(got![0], want[0])).toBe(0);
        if (want[0] === frame) {
          expect(got![0]).toBe(frame);
          whole++;
        } else rebatched++;
      }
    }
    // The fuzz reached all three outcomes, so each comparison above was exercised.
    expect(rebatched).toBeGreaterThan(100);
    expect(none).toBeGreaterThan(10);
    expect(whole).toBeGreaterThan(10);
  });

  it('keeps a tuple as the publisher encoded it (a float32 stays a float32)', () => {
    // {t:"data", w:1, tuples:[float32 1.5, 7], p:[0, 1]} written by another library.
    const frame = Buffer.concat([
      Buffer.from([0x84, 0xa1, 0x74, 0xa4, 0x64, 0x61, 0x74, 0x61, 0xa1, 0x77, 0x01]),
      Buffer.from([0xa6, ...Buffer.from('tuples'), 0x92, 0xca, 0x3f, 0xc0, 0x00, 0x00, 0x07]),
      Buffer.from([0xa1, 0x70, 0x92, 0x00, 0x01]),
    ]);
    const [out, n] = selectPartitions(frame, { mask: 1, keys: new Set([0]) })!;
    expect(n).toBe(1);
    expect(decode(out)).toEqual({ t: 'data', w: 1, tuples: [1.5], p: [0] });
    expect(out.includes(Buffer.from([0x91, 0xca, 0x3f, 0xc0, 0x00, 0x00]))).toBe(true);
  });

  it('scans published frames as the header scan does, mutated ones included, and the index it keeps re-batches as a fresh one', () => {
    const r = rng(99);
    let indexed = 0;
    for (let i = 0; i < 600; i++) {
      const tuples = Array.from({ length: 1 + Math.floor(r() * 6) }, () => randomTuple(r, 2));
      const p = tuples.map(() => Math.floor(r() * 2 ** 31));
      const message = r() < 0.8 ? { t: 'data', w: i, tuples, p } : r() < 0.5 ? { t: 'data', w: i, tuples } : { t: r() < 0.5 ? 'begin' : 'end', w: i };
      const bytes = Buffer.from(encode(message));
      if (r() < 0.4) for (let k = 0; k < 1 + Math.floor(r() * 2); k++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const header = scanPublished(bytes);
      expect(header).toEqual(scanStreamFrame(bytes));
      if (header?.t !== 'data' || bytes[0] !== 0x84) continue;
      const sel = { mask: 1, keys: new Set([0]) };
      const fresh = selectPartitions(Buffer.from(bytes), sel);
      const got = selectPartitions(bytes, sel);
      if (fresh === null) expect(got).toBeNull();
      else {
        expect(got![1]).toBe(fresh![1]);
        expect(Buffer.compare(got![0], fresh![0])).toBe(0);
      }
      indexed++;
    }
    expect(indexed).toBeGreaterThan(250);
  });

  it('leaves frames the index does not read to the caller', () => {
    expect(selectPartitions(encode({ t: 'begin', w: 1 }), { mask: 1, keys: new Set([0]) })).toBeUndefined();
    expect(selectPartitions(encode({ t: 'data', w: 1, tuples: [1, 2], p: [1] }), { mask: 1, keys: new Set([0]) })).toBeUndefined();
  });
});
