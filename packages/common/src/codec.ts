import { Packr } from 'msgpackr';
import { SluiceError } from './errors.js';
import { grammarFault } from './msgpack-grammar.js';

/**
 * The one wire codec (docs/protocol.md "Transport and encoding"): one standard MessagePack value
 * per binary frame.
 *
 * msgpackr writes any JavaScript number outside the 32-bit range as float64, and the wire wants
 * every integer to be a MessagePack integer, so `toWire` turns such integers into BigInt before
 * packing (msgpackr packs BigInt as int64/uint64). Decoding turns 64-bit integers back into plain
 * numbers; values past 2^53 cannot be represented and are refused by the message schemas.
 *
 * Both directions hold to the standard grammar (msgpack-grammar.ts, docs/protocol.md "1.
 * Transport and encoding"): `decode` refuses any frame outside it before msgpackr reads a byte —
 * msgpackr would otherwise accept its own extensions (records, BigInt, Set, ...) — and `encode`
 * refuses to write one, so a sender learns at once, not from the receiver's 4400, of a value
 * msgpackr writes beyond the standard (an invalid Date, a Map keyed by objects). `undefined` is
 * not a MessagePack value: a map field holding it is left out and an array element becomes nil,
 * as JSON does.
 */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  int64AsType: 'number',
  // Only standard MessagePack: no msgpackr-specific structures or bundled strings.
  structuredClone: false,
  bundleStrings: false,
  // msgpackr writes undefined as fixext1 type 0; toWire drops undefined map fields, this covers the rest.
  encodeUndefinedAsNil: true,
});

export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

const INT32_MIN = -(2 ** 31);
const UINT32_MAX = 2 ** 32 - 1;

function needsBigInt(n: number): boolean {
  return Number.isInteger(n) && (n > UINT32_MAX || n < INT32_MIN);
}

/**
 * What `prepare` saw besides plain data: a value msgpackr may write beyond standard MessagePack
 * (a Date, a class instance such as a Map, a typed array other than bytes, a function). Only then
 * does `encode` pay for a grammar walk of its output; plain maps, arrays, strings, numbers and
 * bytes never need one.
 */
interface WireNotes {
  exotic: boolean;
}

/** Returns `value` with every large integer turned into a BigInt and every undefined map field left out; copies only what changes. */
export function toWire(value: unknown): unknown {
  return prepare(value, { exotic: false });
}

function prepare(value: unknown, notes: WireNotes): unknown {
  if (typeof value === 'number') return needsBigInt(value) ? BigInt(value) : value;
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'function' || typeof value === 'symbol') notes.exotic = true;
    return value;
  }
  if (value instanceof Uint8Array) {
    if (value.constructor !== Uint8Array && !Buffer.isBuffer(value)) notes.exotic = true;
    return value;
  }
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      // Strings and 32-bit numbers (a batch of words, its partition values) need nothing: no call per element.
      if (typeof v === 'string' || (typeof v === 'number' && !needsBigInt(v))) continue;
      const w = prepare(v, notes);
      if (w !== v) {
        out ??= value.slice();
        out[i] = w;
      }
    }
    return out ?? value;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) notes.exotic = true;
  if (value instanceof Date) return value;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === 'string') continue;
    if (v === undefined) {
      out ??= { ...(value as Record<string, unknown>) };
      delete out[key];
      continue;
    }
    const w = prepare(v, notes);
    if (w !== v) {
      out ??= { ...(value as Record<string, unknown>) };
      out[key] = w;
    }
  }
  return out ?? value;
}

/** Encodes one value as standard MessagePack; a value msgpackr would write as an extension is refused. */
export function encode(value: unknown, maxBytes = DEFAULT_MAX_FRAME): Buffer {
  const notes: WireNotes = { exotic: false };
  const bytes = packr.pack(prepare(value, notes));
  if (bytes.length > maxBytes) {
    throw new SluiceError('INVALID_MESSAGE', `message of ${bytes.length} bytes is over the ${maxBytes}-byte frame limit; send smaller batches`);
  }
  const fault = notes.exotic ? grammarFault(bytes) : null;
  if (fault) throw new SluiceError('INVALID_MESSAGE', `message ${fault}; send plain maps, arrays, strings, numbers, booleans, nil, bin and Dates`);
  return bytes;
}

/** Decodes exactly one standard MessagePack value; trailing or missing bytes are an error. */
export function decode(bytes: Uint8Array, maxBytes = DEFAULT_MAX_FRAME): unknown {
  if (bytes.length > maxBytes) {
    throw new SluiceError('MALFORMED_FRAME', `frame of ${bytes.length} bytes is over the ${maxBytes}-byte limit`);
  }
  if (bytes.length === 0) throw new SluiceError('MALFORMED_FRAME', 'empty frame is not a MessagePack value');
  const fault = grammarFault(bytes);
  if (fault) throw new SluiceError('MALFORMED_FRAME', `frame ${fault}; send one standard MessagePack value, no extension types`);
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new SluiceError('MALFORMED_FRAME', `frame is not one MessagePack value (${(err as Error).message.slice(0, 60)})`, { cause: err });
  }
}
