import { encode, indexDataFrame, type DataFrameIndex } from '@sluice/common';

/**
 * Partitioned delivery (docs/protocol.md "Partitions") without decoding tuples: a stored data frame
 * gets one index of its tuples' byte ranges and p values, built on first use and shared by every
 * subscriber reading that frame, and each partitioned subscriber copies the byte ranges of its
 * tuples into a new frame. The frame reads as `{t:"data", w, tuples, p}` with the tuples exactly as
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

/** The keys of the frame layout, encoded once: 0x84 't' 'data' 'w' … 'tuples' … 'p' …. */
const HEAD = Buffer.concat([Buffer.from([0x84]), encode('t'), encode('data'), encode('w')]);
const TUPLES_KEY = encode('tuples');
const P_KEY = encode('p');

function arrayHeader(n: number): Buffer {
  if (n <= 0x0f) return Buffer.from([0x90 | n]);
  if (n <= 0xffff) return Buffer.from([0xdc, n >> 8, n & 0xff]);
  const b = Buffer.allocUnsafe(5);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

export interface PartitionSelection {
  readonly mask: number;
  readonly keys: ReadonlySet<number>;
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
  const kept: number[] = [];
  for (let k = 0; k < n; k++) if (sel.keys.has(p[k]! & sel.mask)) kept.push(k);
  if (kept.length === 0) return null;
  if (kept.length === n) return [frame, n];
  const starts = ix.starts;
  const parts: Buffer[] = [HEAD, encode(ix.w), TUPLES_KEY, arrayHeader(kept.length)];
  // Adjacent kept tuples are one contiguous range: copy runs, not single tuples.
  let runFrom = -1;
  let runTo = -1;
  for (const k of kept) {
    if (starts[k] === runTo) runTo = starts[k + 1]!;
    else {
      if (runFrom >= 0) parts.push(frame.subarray(runFrom, runTo));
      runFrom = starts[k]!;
      runTo = starts[k + 1]!;
    }
  }
  parts.push(frame.subarray(runFrom, runTo));
  parts.push(P_KEY, encode(kept.map((k) => p[k]!)));
  return [Buffer.concat(parts), kept.length];
}
