import { DEFAULT_MAX_FRAME } from './codec.js';
import type { HeartbeatMessage } from './umbilical.js';

/**
 * The heartbeat STRAM reads once per container per second, read from its bytes in one pass
 * (docs/protocol.md "Umbilical commands and counters"): the general path walks the bytes for the
 * grammar, has msgpackr build the value, then checks it by hand (plain-messages.ts). Like
 * stream-scan.ts this is a fast path that may only agree with that path: it reads the everyday
 * shape plainHeartbeat accepts — a map of the fields it names, each of its type and within its
 * bounds, in standard MessagePack, ASCII strings — and returns the value the general path returns
 * for those bytes; for anything else (another shape, a rarer encoding such as float32 or a UTF-8
 * string, a repeated key) it returns undefined and the caller takes the general path, which names
 * the fault or accepts it. It never refuses. heartbeat-scan.test.ts fuzzes it against that path.
 */

const STATES = new Set(['starting', 'running', 'stopping']);
const MAX_ID = 256;
const MAX_OPERATORS = 10_000;
const MAX_ERRORS = 20;
const MAX_ERROR_LENGTH = 1000;
const MAX_COUNTERS = 64;
const MAX_COUNTER_KEY = 64;

/** Thrown inside the scan for "not the everyday shape"; caught at its top, never seen outside. */
const NOT_PLAIN: unique symbol = Symbol('not a plain heartbeat');

/** Scratch for a float64's 8 bytes (read big-endian, as MessagePack writes them). */
const f64 = new DataView(new ArrayBuffer(8));

/** The field names a plain heartbeat and operator may have, as the bytes of their fixstr keys; the index is the field's bit. */
const TOP = ['t', 'container', 'bufferServer', 'state', 'operators', 'errors', 'counters', 'credentialsRevision'] as const;
const OP = ['id', 'window', 'tuplesIn', 'tuplesOut', 'latencyMs', 'checkpoint'] as const;
const keyBytes = (names: readonly string[]): Uint8Array[] => names.map((k) => Buffer.from([0xa0 + k.length, ...Buffer.from(k, 'latin1')]));
const TOP_KEYS = keyBytes(TOP);
const OP_KEYS = keyBytes(OP);
const REQUIRED = 0b11111; // t, container, bufferServer, state, operators
const ALL_OP = 0b111111;

class Scan {
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
  latency(): number {
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
}

type Operator = HeartbeatMessage['operators'][number];

function operator(s: Scan): Operator {
  if (s.mapSize() !== OP.length) throw NOT_PLAIN;
  let seen = 0;
  let id = '';
  let window = 0;
  let tuplesIn = 0;
  let tuplesOut = 0;
  let latencyMs = 0;
  let checkpoint = 0;
  for (let i = 0; i < OP.length; i++) {
    const f = s.field(OP_KEYS);
    if (seen & (1 << f)) throw NOT_PLAIN;
    seen |= 1 << f;
    if (f === 0) id = s.str(MAX_ID);
    else if (f === 1) window = s.uint();
    else if (f === 2) tuplesIn = s.uint();
    else if (f === 3) tuplesOut = s.uint();
    else if (f === 4) latencyMs = s.latency();
    else checkpoint = s.uint();
  }
  if (seen !== ALL_OP || id.length < 1) throw NOT_PLAIN;
  return { id, window, tuplesIn, tuplesOut, latencyMs, checkpoint };
}

function operators(s: Scan): Operator[] {
  const n = s.arraySize();
  if (n > MAX_OPERATORS) throw NOT_PLAIN;
  const ops: Operator[] = [];
  for (let i = 0; i < n; i++) ops.push(operator(s));
  return ops;
}

function errors(s: Scan): string[] {
  const n = s.arraySize();
  if (n > MAX_ERRORS) throw NOT_PLAIN;
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(s.str(MAX_ERROR_LENGTH));
  return out;
}

function counters(s: Scan): Record<string, number> {
  const n = s.mapSize();
  if (n > MAX_COUNTERS) throw NOT_PLAIN;
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const key = s.str(MAX_COUNTER_KEY);
    // msgpackr renames __proto__; an inherited name would need hasOwn to tell apart: both go to the general path.
    if (key.length < 1 || key === '__proto__' || key in out) throw NOT_PLAIN;
    out[key] = s.uint();
  }
  return out;
}

/** The heartbeat in `bytes` when it has the everyday shape (see above); undefined otherwise. */
export function scanHeartbeat(bytes: Uint8Array): HeartbeatMessage | undefined {
  if (bytes.length > DEFAULT_MAX_FRAME) return undefined;
  const s = new Scan(bytes);
  try {
    const n = s.mapSize();
    let seen = 0;
    let container = '';
    let bufferServer: string | null = null;
    let state = '';
    let ops: Operator[] = [];
    let errs: string[] | undefined;
    let counts: Record<string, number> | undefined;
    let revision: number | undefined;
    for (let i = 0; i < n; i++) {
      const f = s.field(TOP_KEYS);
      if (seen & (1 << f)) throw NOT_PLAIN;
      seen |= 1 << f;
      if (f === 0) {
        if (s.str(9) !== 'heartbeat') throw NOT_PLAIN;
      } else if (f === 1) {
        container = s.str(MAX_ID);
        if (container.length < 1) throw NOT_PLAIN;
      } else if (f === 2) {
        const tag = s.byte();
        // Any length: the general path bounds it no more than plainHeartbeat does.
        bufferServer = tag === 0xc0 ? null : s.strAfter(tag, Number.MAX_SAFE_INTEGER);
      } else if (f === 3) {
        state = s.str(8);
        if (!STATES.has(state)) throw NOT_PLAIN;
      } else if (f === 4) ops = operators(s);
      else if (f === 5) errs = errors(s);
      else if (f === 6) counts = counters(s);
      else revision = s.uint();
    }
    if (s.pos !== bytes.length || (seen & REQUIRED) !== REQUIRED) return undefined;
    const hb: HeartbeatMessage = { t: 'heartbeat', container, bufferServer, state: state as HeartbeatMessage['state'], operators: ops };
    if (errs) hb.errors = errs;
    if (counts) hb.counters = counts;
    if (revision !== undefined) hb.credentialsRevision = revision;
    return hb;
  } catch (err) {
    if (err === NOT_PLAIN) return undefined;
    throw err;
  }
}
