import { GRAMMAR_FAULT, MsgpackWalker } from './msgpack-grammar.js';

/**
 * A fast path for the buffer server's hot loop: checks that a publisher's begin / data / end frame
 * is one well-formed MessagePack map with the fields docs/protocol.md "Buffer server stream" requires,
 * without building the tuples (a full decode of every batch was ~30% of the server's time).
 *
 * It only ever says yes to frames the full parser (`parseFrame`) would accept with the same
 * t / w / tuple count; for anything else — other message types, any fault of the MessagePack
 * grammar — it returns null and the caller runs the full parser, which produces the exact error
 * (and close code) for the fault. The frame is stored and forwarded as it came, so every tuple is
 * walked with the same grammar the codec checks (msgpack-grammar.ts): a tuple another library
 * would read differently, such as a msgpackr extension, never reaches the store.
 */
export interface StreamFrameHeader {
  t: 'begin' | 'data' | 'end';
  w: number;
  /** Number of tuples (data only; 0 for begin/end). */
  count: number;
}

const P_LIMIT = 2 ** 31;

/** Thrown when a frame is well formed so far but not one this scan takes (the full parser decides). */
const FAIL: unique symbol = Symbol('not a frame for the fast path');

/** The grammar walk (msgpack-grammar.ts) plus readers of the header fields. */
class Reader extends MsgpackWalker {
  constructor(readonly buf: Buffer) {
    super(buf);
  }

  /** A str value, returned only if it is short ASCII (keys and `t`); longer ones fail. */
  shortStr(): string {
    const h = this.u8();
    let n: number;
    if (h >= 0xa0 && h <= 0xbf) n = h & 0x1f;
    else if (h === 0xd9) n = this.u8();
    else throw FAIL;
    if (n > 16) throw FAIL;
    this.need(n);
    const s = this.buf.toString('latin1', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** A non-negative integer below 2^53. */
  uint(): number {
    const h = this.u8();
    if (h <= 0x7f) return h;
    switch (h) {
      case 0xcc: return this.u8();
      case 0xcd: return this.u16();
      case 0xce: return this.u32();
      case 0xcf: case 0xd3: {
        this.need(8);
        const v = h === 0xcf ? this.buf.readBigUInt64BE(this.pos) : this.buf.readBigInt64BE(this.pos);
        this.pos += 8;
        if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw FAIL;
        return Number(v);
      }
      case 0xd0: case 0xd1: case 0xd2: {
        const n = h === 0xd0 ? 1 : h === 0xd1 ? 2 : 4;
        this.need(n);
        const v = this.buf.readIntBE(this.pos, n);
        this.pos += n;
        if (v < 0) throw FAIL;
        return v;
      }
      default: throw FAIL;
    }
  }

  arrayLen(): number {
    const h = this.u8();
    if (h >= 0x90 && h <= 0x9f) return h & 0x0f;
    if (h === 0xdc) return this.u16();
    if (h === 0xdd) return this.u32();
    throw FAIL;
  }

  mapLen(): number {
    const h = this.u8();
    if (h >= 0x80 && h <= 0x8f) return h & 0x0f;
    if (h === 0xde) return this.u16();
    if (h === 0xdf) return this.u32();
    throw FAIL;
  }
}

export function scanStreamFrame(bytes: Buffer): StreamFrameHeader | null {
  const r = new Reader(bytes);
  try {
    const fields = r.mapLen();
    let t: string | undefined;
    let w: number | undefined;
    let count: number | undefined;
    let pCount: number | undefined;
    for (let i = 0; i < fields; i++) {
      const key = r.shortStr();
      switch (key) {
        case 't':
          if (t !== undefined) return null;
          t = r.shortStr();
          break;
        case 'w':
          if (w !== undefined) return null;
          w = r.uint();
          break;
        case 'tuples': {
          if (count !== undefined) return null;
          const at = r.pos;
          count = r.arrayLen();
          r.array(count, 1, at);
          break;
        }
        case 'p': {
          if (pCount !== undefined) return null;
          pCount = r.arrayLen();
          for (let k = 0; k < pCount; k++) if (r.uint() >= P_LIMIT) return null;
          break;
        }
        default:
          r.value(1);
      }
    }
    if (r.pos !== bytes.length || w === undefined) return null;
    if (t === 'begin' || t === 'end') return { t, w, count: 0 };
    if (t !== 'data' || count === undefined) return null;
    if (pCount !== undefined && pCount !== count) return null;
    return { t, w, count };
  } catch (err) {
    if (err === FAIL || err === GRAMMAR_FAULT || err instanceof RangeError) return null;
    throw err;
  }
}

/**
 * Where each tuple of a stored data frame sits, and its partition value: what a partitioned
 * subscriber needs to re-batch (docs/protocol.md "Partitions") by copying byte ranges, without
 * decoding a tuple. Built once per frame and shared by every subscriber of it.
 */
export interface DataFrameIndex {
  w: number;
  /** Tuple k is bytes [starts[k], starts[k + 1]). */
  starts: Uint32Array;
  /** Partition values parallel to the tuples, or null when the frame has none (it goes to all). */
  p: Uint32Array | null;
}

/** The tuple index of a data frame that scanStreamFrame accepts; null for anything else. */
export function indexDataFrame(bytes: Buffer): DataFrameIndex | null {
  const r = new Reader(bytes);
  try {
    const fields = r.mapLen();
    let t: string | undefined;
    let w: number | undefined;
    let starts: Uint32Array | undefined;
    let p: Uint32Array | undefined;
    for (let i = 0; i < fields; i++) {
      const key = r.shortStr();
      if (key === 't' && t === undefined) t = r.shortStr();
      else if (key === 'w' && w === undefined) w = r.uint();
      else if (key === 'tuples' && starts === undefined) {
        const count = r.arrayLen();
        starts = new Uint32Array(count + 1);
        for (let k = 0; k < count; k++) {
          starts[k] = r.pos;
          r.value(2);
        }
        starts[count] = r.pos;
      } else if (key === 'p' && p === undefined) {
        const count = r.arrayLen();
        p = new Uint32Array(count);
        for (let k = 0; k < count; k++) {
          const v = r.uint();
          if (v >= P_LIMIT) return null;
          p[k] = v;
        }
      } else if (key === 't' || key === 'w' || key === 'tuples' || key === 'p') return null;
      else r.value(1);
    }
    if (r.pos !== bytes.length || t !== 'data' || w === undefined || !starts) return null;
    if (p && p.length !== starts.length - 1) return null;
    return { w, starts, p: p ?? null };
  } catch (err) {
    if (err === FAIL || err === GRAMMAR_FAULT || err instanceof RangeError) return null;
    throw err;
  }
}

/** The same header from a fully parsed begin / data / end message (the slow path). */
export function streamHeader(m: Record<string, unknown> & { t: string }): StreamFrameHeader {
  const t = m.t as StreamFrameHeader['t'];
  return { t, w: m['w'] as number, count: t === 'data' ? (m['tuples'] as unknown[]).length : 0 };
}
