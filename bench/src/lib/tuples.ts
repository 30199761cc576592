/**
 * Bench tuples: `size`-byte ASCII strings (MessagePack str, as word-like tuples of a real app are)
 * whose first 12 characters hold a sequence number, so a subscriber can prove it received every
 * tuple once and in order (bs/memory-bounded).
 */
const SEQ_CHARS = 12;

export class TupleSource {
  private readonly batch: string[];
  private readonly pad: string;
  seq = 0;

  constructor(
    readonly size: number,
    readonly batchSize: number,
  ) {
    if (size < SEQ_CHARS) throw new Error(`tuples must be at least ${SEQ_CHARS} bytes (they carry a sequence number)`);
    this.batch = new Array<string>(batchSize);
    this.pad = 'x'.repeat(size - SEQ_CHARS);
  }

  next(): string[] {
    for (let i = 0; i < this.batchSize; i++) this.batch[i] = String(this.seq++).padStart(SEQ_CHARS, '0') + this.pad;
    return this.batch;
  }
}

export function tupleSeq(t: unknown): number {
  return typeof t === 'string' ? Number(t.slice(0, SEQ_CHARS)) : NaN;
}

/**
 * One publisher and its subscribers serve several runs. Run k uses window ids from k·2^32 + 1
 * up; the publisher ends run k with an empty marker window k·2^32 + 2^31, after which the
 * subscribers report that run. Ids stay below 2^53 and strictly increase (docs/protocol.md "Publisher").
 */
const RUN_SPAN = 2 ** 32;
const MARKER = 2 ** 31;
export const firstWindowOf = (run: number): number => run * RUN_SPAN + 1;
export const markerOf = (run: number): number => run * RUN_SPAN + MARKER;
export const isMarker = (w: number): boolean => w % RUN_SPAN === MARKER;
export const runOf = (w: number): number => Math.floor(w / RUN_SPAN);
