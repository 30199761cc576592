import { describe, expect, it } from 'vitest';
import { encode } from './codec.js';
import { parseFrame } from './protocol.js';
import { decode } from './codec.js';
import { indexDataFrame, scanStreamFrame, streamHeader } from './stream-scan.js';
import { allExtensionSamples, extensionSamples, rng } from './test-support.js';

const STREAM = ['begin', 'data', 'end'] as const;

/** What the full parser says of a frame: its header, or the error code it refuses it with. */
function full(bytes: Buffer): ReturnType<typeof streamHeader> | string {
  try {
    return streamHeader(parseFrame(bytes, true, STREAM));
  } catch (err) {
    return (err as { code: string }).code;
  }
}

function randomTuple(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 6 : 9));
  switch (k) {
    case 0: return Math.floor(r() * 2 ** 40) - 2 ** 20;
    case 1: return 'w'.repeat(Math.floor(r() * 300));
    case 2: return r() * 1000;
    case 3: return null;
    case 4: return r() < 0.5;
    case 5: return Buffer.alloc(Math.floor(r() * 70), 7);
    case 6: return Array.from({ length: Math.floor(r() * 20) }, () => randomTuple(r, depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: Math.floor(r() * 20) }, (_, i) => [`k${i}`, randomTuple(r, depth + 1)]));
    default: return new Date(Math.floor(r() * 2 ** 41));
  }
}

describe('scanStreamFrame', () => {
  it('reads begin, data and end exactly as the full parser does', () => {
    const r = rng(1);
    for (let i = 0; i < 500; i++) {
      const w = Math.floor(r() * 2 ** 52);
      const tuples = Array.from({ length: Math.floor(r() * 40) }, () => randomTuple(r));
      const messages = [
        { t: 'begin', w },
        { t: 'end', w },
        { t: 'data', w, tuples },
        { t: 'data', w, tuples, p: tuples.map(() => Math.floor(r() * 2 ** 31)) },
      ];
      for (const m of messages) {
        const bytes = encode(m);
        const header = scanStreamFrame(bytes);
        expect(header).not.toBeNull();
        expect(header).toEqual(full(bytes));
      }
    }
  });

  it('never accepts a frame the full parser refuses, and never disagrees on one it accepts (mutation fuzz)', () => {
    let accepted = 0;
    for (let i = 0; i < 60_000; i++) {
      const r = rng(1000 + i);
      const tuples = Array.from({ length: 1 + Math.floor(r() * 6) }, () => randomTuple(r));
      const bytes = Buffer.from(encode({ t: 'data', w: Math.floor(r() * 1e6), tuples, p: tuples.map(() => Math.floor(r() * 100)) }));
      const cut = r() < 0.3;
      if (cut) {
        const mutated = bytes.subarray(0, Math.floor(r() * bytes.length));
        const header = scanStreamFrame(mutated);
        if (header) expect(header).toEqual(full(mutated));
        continue;
      }
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const header = scanStreamFrame(bytes);
      if (header) {
        accepted++;
        expect(header).toEqual(full(bytes));
      }
    }
    expect(accepted).toBeGreaterThan(0);
  });

  it('indexes exactly the data frames the scan accepts, each tuple range reading as the full parser reads it (mutation fuzz)', () => {
    let indexed = 0;
    for (let i = 0; i < 3000; i++) {
      const r = rng(7000 + i);
      const tuples = Array.from({ length: 1 + Math.floor(r() * 6) }, () => randomTuple(r));
      const bytes = Buffer.from(encode({ t: 'data', w: Math.floor(r() * 1e6), tuples, ...(r() < 0.8 ? { p: tuples.map(() => Math.floor(r() * 100)) } : {}) }));
      if (r() < 0.5) for (let k = 0; k < 1 + Math.floor(r() * 2); k++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const header = scanStreamFrame(bytes);
      const ix = indexDataFrame(bytes);
      if (!header || header.t !== 'data') {
        expect(ix).toBeNull();
        continue;
      }
      indexed++;
      // What the buffer server relies on to index as it scans (partition-batch.ts scanPublished).
      expect(header).toEqual({ t: 'data', w: ix!.w, count: ix!.starts.length - 1 });
      const m = parseFrame(bytes, true, STREAM) as { w: number; tuples: unknown[]; p?: number[] };
      expect(ix!.w).toBe(m.w);
      expect(ix!.starts.length - 1).toBe(m.tuples.length);
      for (let k = 0; k < m.tuples.length; k++) expect(decode(bytes.subarray(ix!.starts[k], ix!.starts[k + 1]))).toEqual(m.tuples[k]);
      expect(ix!.p ? Array.from(ix!.p) : undefined).toEqual(m.p);
    }
    expect(indexed).toBeGreaterThan(1000);
  });

  it('takes no tuple holding an extension or 0xc1, at any depth, and the full parser refuses the frame with 4400', () => {
    const slot = 'SLOT\u0001';
    const slotBytes = encode(slot);
    const shapes = [
      (x: unknown) => ({ t: 'data', w: 3, tuples: [x] }),
      (x: unknown) => ({ t: 'data', w: 3, tuples: ['a', { k: [1, x] }, 'b'], p: [1, 2, 3] }),
      (x: unknown) => ({ t: 'data', w: 3, tuples: [1], extra: x }),
      (x: unknown) => ({ t: 'end', w: 3, note: [x] }),
    ];
    const inserts = [...allExtensionSamples(), { name: 'reserved 0xc1', bytes: Buffer.from([0xc1]), timestamp: false }];
    let refused = 0;
    for (const shape of shapes) {
      const frame = encode(shape(slot));
      const at = frame.indexOf(slotBytes);
      for (const ext of inserts) {
        const bytes = Buffer.concat([frame.subarray(0, at), ext.bytes, frame.subarray(at + slotBytes.length)]);
        if (ext.timestamp) {
          expect(scanStreamFrame(bytes)).toEqual(full(bytes));
          continue;
        }
        expect([ext.name, scanStreamFrame(bytes), full(bytes)]).toEqual([ext.name, null, 'MALFORMED_FRAME']);
        refused++;
      }
    }
    expect(refused).toBe(shapes.length * (256 * 10 - 3 + 1));
  });

  it('agrees with the full parser when extension bytes are written over a data frame anywhere (fuzz)', () => {
    const inserts = [0x00, 0x01, 0x42, 0x72, 0x7f, 0x80, 0xfe, 0xff].flatMap((type) => extensionSamples(type).map((e) => e.bytes));
    inserts.push(Buffer.from([0xc1]));
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const r = rng(90_000 + i);
      const tuples = Array.from({ length: 1 + Math.floor(r() * 5) }, () => randomTuple(r));
      const bytes = Buffer.from(encode({ t: 'data', w: Math.floor(r() * 1e6), tuples }));
      const ext = inserts[Math.floor(r() * inserts.length)]!;
      ext.copy(bytes, Math.floor(r() * bytes.length));
      const header = scanStreamFrame(bytes);
      const parsed = full(bytes);
      if (header) {
        accepted++;
        expect(header).toEqual(parsed);
      } else if (typeof parsed === 'string') {
        refused++;
      }
    }
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('leaves faults to the full parser: trailing bytes, other types, bad p, negative or float windows', () => {
    const ok = encode({ t: 'data', w: 1, tuples: ['a'] });
    expect(scanStreamFrame(Buffer.concat([ok, Buffer.from([0])]))).toBeNull();
    expect(scanStreamFrame(encode({ t: 'purge', stream: 's', w: 1 }))).toBeNull();
    expect(scanStreamFrame(encode({ t: 'data', w: 1, tuples: ['a', 'b'], p: [1] }))).toBeNull();
    expect(scanStreamFrame(encode({ t: 'data', w: 1, tuples: ['a'], p: [2 ** 31] }))).toBeNull();
    expect(scanStreamFrame(encode({ t: 'begin', w: -1 }))).toBeNull();
    expect(scanStreamFrame(encode({ t: 'begin', w: 1.5 }))).toBeNull();
    expect(scanStreamFrame(encode({ t: 'data', w: 1 }))).toBeNull();
    expect(scanStreamFrame(Buffer.from([0xc1]))).toBeNull();
  });
});
