/**
 * A reader of MessagePack bytes for the fast paths that read the messages seen most often in one
 * pass (heartbeat-scan.ts, handshake-scan.ts), without msgpackr building a value first. It reads
 * only standard encodings of the kinds those messages hold — maps and arrays with fix/16-bit
 * sizes, ASCII strings, non-negative integers, float64, bin — and throws {@link NOT_PLAIN} at
 * anything else, which the fast path catches and answers "undefined: take the general path".
 * So a fast path built on it can only agree with the general path, never refuse for it.
 */

/** Thrown inside a scan for "not the everyday shape"; caught at the scan's top, never seen outside. */
export const NOT_PLAIN: unique symbol = Symbol('not a plain message');

/** Scratch for a float64's 8 bytes (read big-endian, as MessagePack writes them). */
const f64 = new DataView(new ArrayBuffer(8));

/** The fixstr bytes of each name (a key as MessagePack writes it); the index is the field's number. */
export const keyBytes = (names: readonly string[]): Uint8Array[] => names.map((k) => Buffer.from([0xa0 + k.length, ...Buffer.from(k, 'latin1')]));

export class Scan {
  pos = 0;
  private readonly buf: Buffer;
  constructor(readonly b: Uint8Array) {
    this.buf = Buffer.from(b.buffer, b.byteOffset, b.length);
  }

  byte(): number {
    if (this.pos >= this.b.length) throw NOT_PLAIN;
    return this.b[this.pos++]!;
  }

  be(n: number): number {
    if (this.pos + n > this.b.length) throw NOT_PLAIN;
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + this.b[this.pos++]!;
    return v;
  }

  mapSize(): number {
    const tag = this.byte();
    if (tag >= 0x80 && tag <= 0x8f) return tag - 0x80;
    if (tag === 0xde) return this.be(2);
    throw NOT_PLAIN;
  }

  arraySize(): number {
    const tag = this.byte();
    if (tag >= 0x90 && tag <= 0x9f) return tag - 0x90;
    if (tag === 0xdc) return this.be(2);
    throw NOT_PLAIN;
  }

  /** Which of `keys` the next key is (its index), compared byte for byte; any other key is not plain. */
  field(keys: readonly Uint8Array[]): number {
    const b = this.b;
    const at = this.pos;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (b[at] !== k[0] || at + k.length > b.length) continue;
      let j = 1;
      while (j < k.length && b[at + j] === k[j]) j++;
      if (j === k.length) {
        this.pos = at + j;
        return i;
      }
    }
    throw NOT_PLAIN;
  }

  /** An ASCII string of at most `max` characters (a UTF-8 one goes to the general path, which decodes it). */
  str(max: number): string {
    return this.strAfter(this.byte(), max);
  }

  strAfter(tag: number, max: number): string {
    let n: number;
    if (tag >= 0xa0 && tag <= 0xbf) n = tag - 0xa0;
    else if (tag === 0xd9) n = this.be(1);
    else if (tag === 0xda) n = this.be(2);
    else throw NOT_PLAIN;
    const start = this.pos;
    const end = start + n;
    if (n > max || end > this.b.length) throw NOT_PLAIN;
    const b = this.b;
    this.pos = end;
    if (n <= 16) {
      let s = '';
      for (let i = start; i < end; i++) {
        const c = b[i]!;
        if (c >= 0x80) throw NOT_PLAIN;
        s += String.fromCharCode(c);
      }
      return s;
    }
    for (let i = start; i < end; i++) if (b[i]! >= 0x80) throw NOT_PLAIN;
    // ASCII: latin1 reads it as UTF-8 would.
    return this.buf.toString('latin1', start, end);
  }

  /** A non-negative integer below 2^53, in any of MessagePack's integer encodings. */
  uint(): number {
    const tag = this.byte();
    if (tag < 0x80) return tag;
    return this.uintAfter(tag);
  }

  uintAfter(tag: number): number {
    if (tag === 0xcc || tag === 0xd0) return this.nonNegative(tag === 0xd0, 1);
    if (tag === 0xcd || tag === 0xd1) return this.nonNegative(tag === 0xd1, 2);
    if (tag === 0xce || tag === 0xd2) return this.nonNegative(tag === 0xd2, 4);
    if (tag === 0xcf || tag === 0xd3) {
      // Past 2^53 the general path refuses it (or reads it inexactly): not plain.
      const high = this.be(4);
      if (high >= 2 ** 21) throw NOT_PLAIN;
      return high * 2 ** 32 + this.be(4);
    }
    throw NOT_PLAIN;
  }

  private nonNegative(signed: boolean, n: number): number {
    const v = this.be(n);
    if (signed && v >= 2 ** (8 * n - 1)) throw NOT_PLAIN;
    return v;
  }

  /** A finite number ≥ 0: an integer, or a float64 (float32 is left to the general path). */
  finiteNonNegative(): number {
    const tag = this.byte();
    if (tag < 0x80) return tag;
    if (tag !== 0xcb) return this.uintAfter(tag);
    if (this.pos + 8 > this.b.length) throw NOT_PLAIN;
    for (let i = 0; i < 8; i++) f64.setUint8(i, this.b[this.pos++]!);
    const v = f64.getFloat64(0);
    // -0 is ≥ 0 for the general path too.
    if (!Number.isFinite(v) || v < 0) throw NOT_PLAIN;
    return v;
  }

  /**
   * A bin of `min` to `max` bytes, as the general path returns it: a view of the frame's own
   * bytes (msgpackr's default), not a copy.
   */
  bin(min: number, max: number): Buffer {
    const tag = this.byte();
    let n: number;
    if (tag === 0xc4) n = this.be(1);
    else if (tag === 0xc5) n = this.be(2);
    else if (tag === 0xc6) n = this.be(4);
    else throw NOT_PLAIN;
    const start = this.pos;
    if (n < min || n > max || start + n > this.b.length) throw NOT_PLAIN;
    this.pos = start + n;
    return this.buf.subarray(start, start + n);
  }

  /** True (and past it) when the next byte is nil. */
  nil(): boolean {
    if (this.b[this.pos] !== 0xc0) return false;
    this.pos++;
    return true;
  }

  /** Whether every byte was read: trailing bytes are for the general path. */
  get atEnd(): boolean {
    return this.pos === this.b.length;
  }
}
