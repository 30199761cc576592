import { Packr } from 'msgpackr';
import { SluiceError } from './errors.js';

/**
 * The one wire codec (DESIGN.md "Encoding"): one standard MessagePack value per binary frame.
 *
 * msgpackr writes any JavaScript number outside the 32-bit range as float64, and DESIGN.md wants
 * every integer to be a MessagePack integer, so `toWire` turns such integers into BigInt before
 * packing (msgpackr packs BigInt as int64/uint64). Decoding turns 64-bit integers back into plain
 * numbers; values past 2^53 cannot be represented and are refused by the message schemas.
 */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  int64AsType: 'number',
  // Only standard MessagePack: no msgpackr-specific structures or bundled strings.
  structuredClone: false,
  bundleStrings: false,
});

export const DEFAULT_MAX_FRAME = 16 * 1024 * 1024;

const INT32_MIN = -(2 ** 31);
const UINT32_MAX = 2 ** 32 - 1;

function needsBigInt(n: number): boolean {
  return Number.isInteger(n) && (n > UINT32_MAX || n < INT32_MIN);
}

/** Returns `value` with every large integer turned into a BigInt; copies only what changes. */
export function toWire(value: unknown): unknown {
  if (typeof value === 'number') return needsBigInt(value) ? BigInt(value) : value;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v === 'string') continue;
      const w = toWire(v);
      if (w !== v) {
        out ??= value.slice();
        out[i] = w;
      }
    }
    return out ?? value;
  }
  if (value instanceof Date) return value;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === 'string') continue;
    const w = toWire(v);
    if (w !== v) {
      out ??= { ...(value as Record<string, unknown>) };
      out[key] = w;
    }
  }
  return out ?? value;
}

/** Encodes one value as standard MessagePack. */
export function encode(value: unknown, maxBytes = DEFAULT_MAX_FRAME): Buffer {
  const bytes = packr.pack(toWire(value));
  if (bytes.length > maxBytes) {
    throw new SluiceError('INVALID_MESSAGE', `message of ${bytes.length} bytes is over the ${maxBytes}-byte frame limit; send smaller batches`);
  }
  return bytes;
}

/** Decodes exactly one MessagePack value; trailing or missing bytes are an error. */
export function decode(bytes: Uint8Array, maxBytes = DEFAULT_MAX_FRAME): unknown {
  if (bytes.length > maxBytes) {
    throw new SluiceError('MALFORMED_FRAME', `frame of ${bytes.length} bytes is over the ${maxBytes}-byte limit`);
  }
  if (bytes.length === 0) throw new SluiceError('MALFORMED_FRAME', 'empty frame is not a MessagePack value');
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    throw new SluiceError('MALFORMED_FRAME', `frame is not one MessagePack value (${(err as Error).message.slice(0, 60)})`, { cause: err });
  }
  const odd = nonStandard(value);
  if (odd) throw new SluiceError('MALFORMED_FRAME', `frame holds ${odd}, which is not standard MessagePack; send plain maps, arrays, strings, numbers and bin`);
  return value;
}

/**
 * msgpackr's decoder also understands its own extensions (Set, Error, RegExp, typed arrays) and
 * turns the reserved byte 0xc1 into an object; DESIGN.md allows none of them on the wire. Returns
 * a description of the first such value, or undefined when `value` is standard. `undefined`
 * itself is tolerated: msgpackr writes it as fixext1 type 0, a convention several libraries share.
 */
function nonStandard(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (value instanceof Uint8Array) return value.constructor === Uint8Array || Buffer.isBuffer(value) ? undefined : value.constructor.name;
  if (Array.isArray(value)) {
    for (const v of value) {
      const odd = nonStandard(v);
      if (odd) return odd;
    }
    return undefined;
  }
  if (value instanceof Date) return undefined; // the standard timestamp extension (-1)
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return `a ${(value as object).constructor?.name ?? 'non-plain object'}`;
  for (const key in value) {
    const odd = nonStandard((value as Record<string, unknown>)[key]);
    if (odd) return odd;
  }
  return undefined;
}
