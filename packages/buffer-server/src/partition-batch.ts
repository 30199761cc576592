import { encode, indexDataFrame, scanStreamFrame, type DataFrameIndex, type StreamFrameHeader } from '@sluice/common';

/**
 * Partitioned delivery (docs/protocol.md "Partitions") without decoding tuples: a stored data frame
 * gets one index of its tuples' byte ranges and p values, built on first use and shared by every
 * subscriber reading that frame; its tuples are split by `p & mask` in one pass, shared by the
 * subscribers of every partition (not one scan per subscriber); and each partitioned subscriber
 * copies the byte ranges of its tuples into a new frame. The frame reads as `{t:"data", w, tuples, p}` with the tuples exactly as
 * the publisher encoded them.
 */

/** Index per stored frame; a frame that leaves the store (purged, replaced) takes its index with it. */
const indexes = new WeakMap<Buffer, DataFrameIndex | null>();

function indexOf(frame: Buffer): DataFrameIndex | null {
  let ix = indexes.get(frame);
  if (ix === undefined) {
    ix = indexDataFrame(frame);
    indexes.set(frame, ix);
  }
  return ix;
}

/**
 * The publish path's header scan (stream-scan.ts), indexing a data frame with partition values as
 * it arrives: `indexDataFrame` walks the frame with the same grammar and accepts exactly the data
 * frames `scanStreamFrame` accepts, so for these frames the index walk is the scan, and
 * partitioned subscribers find the index made (one walk per frame, not two). Only a map of four
 * fields can hold `t`, `w`, `tuples` and `p`; every other frame is scanned as before. Null: the
 * full parser decides.
 */
export function scanPublished(frame: Buffer): StreamFrameHeader | null {
  if (frame[0] === 0x84) {
    const ix = indexDataFrame(frame);
    if (ix?.p) {
      indexes.set(frame, ix);
      return { t: 'data', w: ix.w, count: ix.starts.length - 1 };
    }
  }
  return scanStreamFrame(frame);
}

/** The keys of the frame layout, encoded once: 0x84 't' 'data' 'w' … 'tuples' … 'p' …. */
const HEAD = Buffer.concat([Buffer.from([0x84]), encode('t'), encode('data'), encode('w')]);
const TUPLES_KEY = encode('tuples');
const P_KEY = encode('p');

/** Bytes of a MessagePack array header for n items. */
const arrayHeaderLength = (n: number): number => (n <= 0x0f ? 1 : n <= 0xffff ? 3 : 5);

function writeArrayHeader(out: Buffer, at: number, n: number): number {
  if (n <= 0x0f) out[at++] = 0x90 | n;
  else if (n <= 0xffff) {
    out[at++] = 0xdc;
    out.writeUInt16BE(n, at);
    at += 2;
  } else {
    out[at++] = 0xdd;
    out.writeUInt32BE(n, at);
    at += 4;
  }
  return at;
}

const UINT32_MAX = 2 ** 32 - 1;

/** Bytes of the shortest MessagePack encoding of an unsigned 32-bit integer (as msgpackr writes it). */
const uintLength = (v: number): number => (v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : 5);

function writeUint(out: Buffer, at: number, v: number): number {
  if (v < 0x80) out[at++] = v;
  else if (v < 0x100) {
    out[at++] = 0xcc;
    out[at++] = v;
  } else if (v < 0x10000) {
    out[at++] = 0xcd;
    out[at++] = v >>> 8;
    out[at++] = v & 0xff;
  } else {
    // Byte stores, not writeUInt32BE: this runs once per kept tuple (most p values are this size).
    out[at++] = 0xce;
    out[at++] = v >>> 24;
    out[at++] = (v >>> 16) & 0xff;
    out[at++] = (v >>> 8) & 0xff;
    out[at++] = v & 0xff;
  }
  return at;
}

/**
 * Runs shorter than this are copied byte by byte: with tuples of a few bytes spread over the
 * partitions (the demo's words), runs are a tuple or two long, and a native `Buffer.copy` call
 * per run cost more than the bytes.
 */
const NATIVE_COPY_FROM = 64;

/** Copies bytes [from, to) of `src` to `out` at `at`; returns the offset after them. */
function copyRun(src: Buffer, out: Buffer, at: number, from: number, to: number): number {
  if (to - from >= NATIVE_COPY_FROM) return at + src.copy(out, at, from, to);
  for (let i = from; i < to; i++) out[at++] = src[i]!;
  return at;
}

export interface PartitionSelection {
  readonly mask: number;
  readonly keys: ReadonlySet<number>;
}

/** The tuples of one partition key in a frame: their positions, in frame order, and the bytes they take in a re-batched frame. */
interface Part {
  readonly at: number[];
  /** Bytes of those tuples as stored. */
  bytes: number;
  /** Bytes of their p values (shortest unsigned integers). */
  pBytes: number;
}

/**
 * Tuples by `p & mask` of the frames read last (subscribers of one stream read the same
 * frames at about the same time). Keyed by the frame's index, not its bytes: a purged frame's
 * bytes are never kept alive here, only at most SPLITS_KEPT indexes.
 */
const splits = new Map<DataFrameIndex, { mask: number; byKey: Map<number, Part> }>();
const SPLITS_KEPT = 16;
/** Masks up to this split through an array indexed by key. */
const SMALL_MASK = 0xff;
const NONE: Part = { at: [], bytes: 0, pBytes: 0 };

function splitOf(ix: DataFrameIndex, p: ArrayLike<number>, n: number, mask: number): Map<number, Part> {
  const hit = splits.get(ix);
  if (hit && hit.mask === mask) return hit.byKey;
  const byKey = new Map<number, Part>();
  const starts = ix.starts;
  // Masks of a few partitions (the usual case) look parts up in an array: a Map lookup per tuple
  // was most of the split.
  const small: (Part | undefined)[] | null = mask <= SMALL_MASK ? new Array<Part | undefined>(mask + 1) : null;
  for (let k = 0; k < n; k++) {
    const v = p[k]!;
    const key = v & mask;
    let part = small ? small[key] : byKey.get(key);
    if (!part) {
      part = { at: [], bytes: 0, pBytes: 0 };
      byKey.set(key, part);
      if (small) small[key] = part;
    }
    part.at.push(k);
    part.bytes += starts[k + 1]! - starts[k]!;
    part.pBytes += uintLength(v);
  }
  splits.delete(ix);
  splits.set(ix, { mask, byKey });
  if (splits.size > SPLITS_KEPT) splits.delete(splits.keys().next().value!);
  return byKey;
}

/** The tuples `sel` keeps, in frame order. */
function keptTuples(ix: DataFrameIndex, p: ArrayLike<number>, n: number, sel: PartitionSelection): Part {
  const byKey = splitOf(ix, p, n, sel.mask);
  if (sel.keys.size === 1) for (const key of sel.keys) return byKey.get(key) ?? NONE;
  const kept: Part = { at: [], bytes: 0, pBytes: 0 };
  for (const key of sel.keys) {
    const part = byKey.get(key) ?? NONE;
    for (const k of part.at) kept.at.push(k);
    kept.bytes += part.bytes;
    kept.pBytes += part.pBytes;
  }
  kept.at.sort((a, b) => a - b);
  return kept;
}

/**
 * The part of a stored data frame a subscriber with this filter receives: the frame itself when
 * every tuple is kept or it carries no p, null when none is, else a new frame and its tuple count.
 * Returns undefined when the frame is not one the index reads (the caller decodes it instead).
 */
export function selectPartitions(frame: Buffer, sel: PartitionSelection): [Buffer, number] | null | undefined {
  const ix = indexOf(frame);
  if (!ix) return undefined;
  const n = ix.starts.length - 1;
  if (!ix.p) return [frame, n];
  const p = ix.p;
  const part = keptTuples(ix, p, n, sel);
  const kept = part.at;
  if (kept.length === 0) return null;
  if (kept.length === n) return [frame, n];
  // One allocation, sized from the split, and one pass over the kept tuples writing their bytes
  // and their p values (which follow all the tuples) at once.
  const starts = ix.starts;
  // w as the shortest unsigned integer, written here: a codec call per re-batched frame was ~8 % of the re-batching.
  const wBytes = ix.w <= UINT32_MAX ? null : encode(ix.w);
  const size = HEAD.length + (wBytes ? wBytes.length : uintLength(ix.w)) + TUPLES_KEY.length + P_KEY.length + 2 * arrayHeaderLength(kept.length) + part.bytes + part.pBytes;
  const out = Buffer.allocUnsafe(size);
  let at = HEAD.copy(out, 0);
  at = wBytes ? at + wBytes.copy(out, at) : writeUint(out, at, ix.w);
  at += TUPLES_KEY.copy(out, at);
  at = writeArrayHeader(out, at, kept.length);
  let pAt = at + part.bytes;
  pAt += P_KEY.copy(out, pAt);
  pAt = writeArrayHeader(out, pAt, kept.length);
  // Adjacent kept tuples are one contiguous range: copy runs, not single tuples.
  let runFrom = starts[kept[0]!]!;
  let runTo = runFrom;
  for (const k of kept) {
    if (starts[k] !== runTo) {
      at = copyRun(frame, out, at, runFrom, runTo);
      runFrom = starts[k]!;
    }
    runTo = starts[k + 1]!;
    pAt = writeUint(out, pAt, p[k]!);
  }
  copyRun(frame, out, at, runFrom, runTo);
  return [out, kept.length];
}
