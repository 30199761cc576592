import { decode, encode } from './codec.js';
import { SluiceError } from './errors.js';
import { parseMessage, type MessageType } from './protocol.js';

/**
 * For this package's tests (not exported from index.ts): the SluiceError code `fn` throws, or
 * undefined if it returns; any other error is rethrown so a test never mistakes a crash for a refusal.
 */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return err.code;
    throw err;
  }
  return undefined;
}

/** One MessagePack extension value: its header form, type byte and bytes (data zeroed). */
export interface ExtensionSample {
  name: string;
  type: number;
  bytes: Buffer;
  /** A well-formed standard timestamp (type -1 as fixext 4, fixext 8 or ext 8 of 12 bytes), which the wire allows. */
  timestamp: boolean;
}

/** Every header form of an extension — fixext 1/2/4/8/16 and ext 8/16/32 — carrying `type`. */
export function extensionSamples(type: number): ExtensionSample[] {
  const t = Buffer.from([type]);
  const data = (n: number): Buffer => Buffer.alloc(n);
  const forms: [string, Buffer, boolean][] = [
    ['fixext1', Buffer.concat([Buffer.from([0xd4]), t, data(1)]), false],
    ['fixext2', Buffer.concat([Buffer.from([0xd5]), t, data(2)]), false],
    ['fixext4', Buffer.concat([Buffer.from([0xd6]), t, data(4)]), true],
    ['fixext8', Buffer.concat([Buffer.from([0xd7]), t, data(8)]), true],
    ['fixext16', Buffer.concat([Buffer.from([0xd8]), t, data(16)]), false],
    ['ext8 of 0', Buffer.concat([Buffer.from([0xc7, 0]), t]), false],
    ['ext8 of 3', Buffer.concat([Buffer.from([0xc7, 3]), t, data(3)]), false],
    ['ext8 of 12', Buffer.concat([Buffer.from([0xc7, 12]), t, data(12)]), true],
    ['ext16 of 12', Buffer.concat([Buffer.from([0xc8, 0, 12]), t, data(12)]), false],
    ['ext32 of 5', Buffer.concat([Buffer.from([0xc9, 0, 0, 0, 5]), t, data(5)]), false],
  ];
  return forms.map(([form, bytes, timestampForm]) => ({
    name: `${form} type 0x${type.toString(16).padStart(2, '0')}`,
    type,
    bytes,
    timestamp: timestampForm && type === 0xff,
  }));
}

/** extensionSamples for every type byte 0x00..0xff. */
export function allExtensionSamples(): ExtensionSample[] {
  return Array.from({ length: 256 }, (_, type) => extensionSamples(type)).flat();
}

/** A small seeded generator (mulberry32) for this package's fuzz tests: the same cases every run. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An everyday operator figure and heartbeat, for the hand checks' fuzz tests (plain-messages, heartbeat-scan). */
export const OPERATOR = { id: 'count#1', window: 1234, tuplesIn: 5_000_000, tuplesOut: 12, latencyMs: 1.5, checkpoint: 1200 };
export const HEARTBEAT = {
  t: 'heartbeat',
  container: 'c1',
  bufferServer: 'ws://127.0.0.1:7001',
  state: 'running',
  operators: [OPERATOR, { ...OPERATOR, id: 'gen#0' }],
  errors: ['boom'],
  counters: { credentialsApplied: 2, secretRotated: 0 },
  credentialsRevision: 3,
};
/** Values a field may be replaced with: the edges of every bound the schemas set, and wrong types. */
const ODD: unknown[] = [
  null, undefined, true, 0, -1, 1.5, -0.5, 2 ** 53, 2 ** 53 - 1, Number.NaN, Infinity, -Infinity, '', 'x', 'x'.repeat(64), 'x'.repeat(65),
  'x'.repeat(256), 'x'.repeat(257), 'x'.repeat(1000), 'x'.repeat(1001), 'starting', 'stopping', 'heartbeat', 'msg', [], ['a'], [1],
  Array.from({ length: 21 }, () => 'e'), {}, { a: 1 }, { '': 1 }, Buffer.alloc(0), Buffer.alloc(31), Buffer.alloc(32), new Uint8Array(32),
  Buffer.alloc(33), Buffer.alloc(4096), Buffer.alloc(4097), 2, 'challenge', 'auth', 'welcome', 'control', 'hello', 'publish', 'subscribe',
  new Date(0), new Map(), Object.create(null) as object, [OPERATOR], [{ ...OPERATOR, extra: 1 }], Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 1])),
];

/** `v` with random fields dropped, replaced by ODD values or nested mutations, and a few added. */
export function mutate(r: () => number, v: unknown, depth = 0): unknown {
  if (r() < 0.15) return ODD[Math.floor(r() * ODD.length)];
  if (Array.isArray(v)) {
    const out = v.map((x) => (r() < 0.3 ? mutate(r, x, depth + 1) : x));
    if (r() < 0.1) out.push(mutate(r, v[0] ?? OPERATOR, depth + 1));
    if (r() < 0.1) out.pop();
    return out;
  }
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && depth < 4) {
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    for (const k of Object.keys(out)) {
      if (r() < 0.1) delete out[k];
      else if (r() < 0.25) out[k] = mutate(r, out[k], depth + 1);
    }
    const added = ['extra', 'takeovers', 'failures', '__proto__', 't', 'role', 'stream', 'subscriber', 'window', 'container', 'partitions'];
    if (r() < 0.05) out[added[Math.floor(r() * added.length)]!] = ODD[Math.floor(r() * ODD.length)];
    return out;
  }
  return v;
}

/** What the general path (decode, then the schema) makes of `bytes` as a `type` frame: the message, or the fault it names. For the one-pass scans' fuzz tests. */
export function generalRead(bytes: Uint8Array, type: MessageType): unknown {
  try {
    return parseMessage(decode(bytes), [type]);
  } catch (err) {
    return err;
  }
}

/** `value` encoded, or undefined when the encoder refuses it (a fuzzed value may not be encodable). */
export function encodedOrNone(value: unknown): Buffer | undefined {
  try {
    return encode(value);
  } catch {
    return undefined;
  }
}
