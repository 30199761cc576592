/**
 * Bench tuples: `size`-byte binary values whose first 8 bytes hold a sequence number, so a
 * subscriber can prove it received every tuple once and in order (bs/memory-bounded).
 * The same batch array is refilled for every send; encode() copies the bytes out.
 */
export class TupleSource {
  private readonly batch: Buffer[];
  seq = 0;

  constructor(
    readonly size: number,
    readonly batchSize: number,
  ) {
    if (size < 8) throw new Error('tuples must be at least 8 bytes (they carry a sequence number)');
    const slab = Buffer.alloc(size * batchSize, 0x61);
    this.batch = Array.from({ length: batchSize }, (_, i) => slab.subarray(i * size, (i + 1) * size));
  }

  next(): Buffer[] {
    for (const t of this.batch) t.writeDoubleBE(this.seq++, 0);
    return this.batch;
  }
}

export function tupleSeq(t: unknown): number {
  return t instanceof Uint8Array ? Buffer.from(t.buffer, t.byteOffset, t.byteLength).readDoubleBE(0) : NaN;
}

/** The window a publisher opens and closes last: subscribers stop when they see it end. */
export const FINAL_WINDOW = 2 ** 40;
