import { SluiceError } from './errors.js';

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
