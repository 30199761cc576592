/**
 * The standard MessagePack grammar as a byte walk: what a Sluice frame may hold (docs/protocol.md
 * "1. Transport and encoding"), checked without building any value.
 *
 * A frame must read the same in every MessagePack library, so the walk refuses what only some
 * decoders understand: every extension type except the standard timestamp (type -1, in the three
 * sizes the MessagePack spec defines, nanoseconds below 10^9), the reserved byte 0xc1, map keys
 * other than nil, booleans, numbers and strings, and nesting deeper than MAX_DEPTH. msgpackr's
 * own encodings (records, BigInt, Set, Error, RegExp, typed arrays, `undefined` as fixext1 type
 * 0) are all extension types, so none of them passes.
 *
 * The codec runs it before decoding any frame, and the buffer server's header scan
 * (stream-scan.ts) extends it, so the fast path and the full parser share one grammar.
 */

/** Most arrays and maps a value may sit inside: a frame's top-level map is at depth 0, its fields at 1. */
export const MAX_DEPTH = 100;

/** What can be wrong with a frame's bytes, worded to follow "frame ...". */
export const GrammarFault = {
  truncated: 'ends in the middle of a value',
  reserved: 'holds the reserved byte 0xc1',
  extension: 'holds an extension type other than the timestamp (-1)',
  timestamp: 'holds a malformed timestamp (4, 8 or 12 bytes; nanoseconds below 10^9)',
  mapKey: 'has a map key that is not nil, a boolean, a number or a string',
  depth: `nests arrays and maps more than ${MAX_DEPTH} deep`,
} as const;
export type GrammarFault = keyof typeof GrammarFault;

/** Thrown by a walk; the walker that threw says what and where. One instance: it carries nothing. */
export const GRAMMAR_FAULT: unique symbol = Symbol('msgpack grammar fault');

const TIMESTAMP = 0xff;
const MAX_NANOS = 999_999_999;

/** Walks standard MessagePack values from `pos`; on a fault sets `fault` and `faultAt`, then throws GRAMMAR_FAULT. */
export class MsgpackWalker {
  fault: GrammarFault | null = null;
  /** Offset of the byte the fault was found at. */
  faultAt = 0;

  constructor(
    readonly b: Uint8Array,
    public pos = 0,
  ) {}

  fail(fault: GrammarFault, at: number): never {
    this.fault = fault;
    this.faultAt = at;
    throw GRAMMAR_FAULT;
  }

  /** The fault in words, e.g. "holds an extension type other than the timestamp (-1) at byte 3 (0xd4)". */
  describe(): string {
    if (!this.fault) return 'is well formed';
    const at = this.faultAt;
    const byte = at < this.b.length ? ` (0x${this.b[at]!.toString(16).padStart(2, '0')})` : '';
    return `${GrammarFault[this.fault]} at byte ${at}${byte}`;
  }

  need(n: number): void {
    if (this.pos + n > this.b.length) this.fail('truncated', this.b.length);
  }

  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const b = this.b;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }

  u32(): number {
    this.need(4);
    const v = this.u32At(this.pos);
    this.pos += 4;
    return v;
  }

  /** The big-endian uint32 at `p` (the caller checked it is there). */
  u32At(p: number): number {
    const b = this.b;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  skipBytes(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** Moves past one value at nesting `depth`. */
  value(depth: number): void {
    const at = this.pos;
    const h = this.u8();
    if (h <= 0x7f || h >= 0xe0) return; // fixint
    if (h <= 0x8f) return this.map(h & 0x0f, depth, at);
    if (h <= 0x9f) return this.array(h & 0x0f, depth, at);
    if (h <= 0xbf) return this.skipBytes(h & 0x1f); // fixstr
    switch (h) {
      case 0xc0: case 0xc2: case 0xc3: return;
      case 0xc4: case 0xd9: return this.skipBytes(this.u8());
      case 0xc5: case 0xda: return this.skipBytes(this.u16());
      case 0xc6: case 0xdb: return this.skipBytes(this.u32());
      case 0xcc: case 0xd0: return this.skipBytes(1);
      case 0xcd: case 0xd1: return this.skipBytes(2);
      case 0xca: case 0xce: case 0xd2: return this.skipBytes(4);
      case 0xcb: case 0xcf: case 0xd3: return this.skipBytes(8);
      case 0xd6: return this.ext(4, at);
      case 0xd7: return this.ext(8, at);
      case 0xc7: return this.ext(this.u8(), at);
      case 0xd4: case 0xd5: case 0xd8: return this.ext(-1, at);
      case 0xc8: this.skipBytes(2); return this.ext(-1, at);
      case 0xc9: this.skipBytes(4); return this.ext(-1, at);
      case 0xdc: return this.array(this.u16(), depth, at);
      case 0xdd: return this.array(this.u32(), depth, at);
      case 0xde: return this.map(this.u16(), depth, at);
      case 0xdf: return this.map(this.u32(), depth, at);
      default: return this.fail('reserved', at); // 0xc1, the one byte MessagePack never uses
    }
  }

  /**
   * An extension whose header starts at `at`, with `n` data bytes (-1: a size no timestamp has),
   * the type byte next: only a well-formed timestamp passes.
   */
  private ext(n: number, at: number): void {
    if (this.u8() !== TIMESTAMP) this.fail('extension', at);
    if (n !== 4 && n !== 8 && n !== 12) this.fail('timestamp', at);
    this.need(n);
    const b = this.b;
    const p = this.pos;
    // timestamp 64 keeps nanoseconds in its top 30 bits; timestamp 96 in a leading uint32.
    const nanos = n === 8 ? (b[p]! << 22) | (b[p + 1]! << 14) | (b[p + 2]! << 6) | (b[p + 3]! >>> 2) : n === 12 ? this.u32At(p) : 0;
    if (nanos > MAX_NANOS) this.fail('timestamp', at);
    this.pos = p + n;
  }

  array(n: number, depth: number, at: number): void {
    if (depth >= MAX_DEPTH) this.fail('depth', at);
    for (let i = 0; i < n; i++) this.value(depth + 1);
  }

  map(n: number, depth: number, at: number): void {
    if (depth >= MAX_DEPTH) this.fail('depth', at);
    for (let i = 0; i < n; i++) {
      this.key();
      this.value(depth + 1);
    }
  }

  /** Map keys: scalars only, which every library can use as a key and msgpackr turns into a property name. */
  private key(): void {
    this.need(1);
    const h = this.b[this.pos]!;
    const scalar = h <= 0x7f || h >= 0xe0 || (h >= 0xa0 && h <= 0xbf) || h === 0xc0 || h === 0xc2 || h === 0xc3 || (h >= 0xca && h <= 0xd3) || (h >= 0xd9 && h <= 0xdb);
    if (!scalar) this.fail(h === 0xc1 ? 'reserved' : 'mapKey', this.pos);
    this.value(0);
  }
}

/**
 * Why `bytes` is not exactly one standard MessagePack value, or null when it is. The codec turns
 * the answer into its error; nothing here throws for bad input.
 */
export function grammarFault(bytes: Uint8Array): string | null {
  const walker = new MsgpackWalker(bytes);
  try {
    walker.value(0);
  } catch (err) {
    if (err !== GRAMMAR_FAULT) throw err;
    return walker.describe();
  }
  if (walker.pos !== bytes.length) return `holds ${bytes.length - walker.pos} bytes after its one MessagePack value`;
  return null;
}
