import { DEFAULT_MAX_FRAME } from './codec.js';
import type { SealedMessage } from './protocol.js';

/**
 * The bytes of a sealed umbilical envelope `{t:"msg", seq, body, mac}` (docs/protocol.md
 * "Authenticated connection", step 4), written and read without a general MessagePack pass: the
 * envelope is the one message every heartbeat and every ack is wrapped in.
 *
 * `writeSealed` gives exactly the bytes `encode({t: "msg", seq, body, mac})` gives (a map of 4,
 * keys in that order, seq as the smallest unsigned integer (int64 past 32 bits, as msgpackr writes), body and mac as bin; sealed-frame.test.ts
 * compares them). `readSealed` is a fast path like stream-scan.ts: it reads only that exact layout
 * and returns what the full path (decode + the schema) returns for it; for any other bytes it
 * returns undefined and the caller takes the full path, which names the fault or accepts a rarer
 * (still valid) layout. It never refuses. The MAC and sequence are checked after it, as after the
 * full path.
 */

const FIXMAP_4 = 0x84;
/** fixstr "t", fixstr "msg", fixstr "seq" | fixstr "body" | fixstr "mac" */
const T_MSG = Buffer.from([0xa1, 0x74, 0xa3, 0x6d, 0x73, 0x67]);
const SEQ_KEY = Buffer.from([0xa3, 0x73, 0x65, 0x71]);
const BODY_KEY = Buffer.from([0xa4, 0x62, 0x6f, 0x64, 0x79]);
/** fixstr "mac", bin8 of 32 bytes */
const MAC_HEAD = Buffer.from([0xa3, 0x6d, 0x61, 0x63, 0xc4, 32]);
const MAC_BYTES = 32;

function uintLength(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  if (n < 2 ** 32) return 5;
  return 9;
}

function binHeadLength(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** The envelope's bytes, as `encode` writes them. `seq` is a safe non-negative integer (the session counts it). */
export function writeSealed(seq: number, body: Uint8Array, mac: Uint8Array): Buffer {
  const n = body.length;
  const out = Buffer.allocUnsafe(1 + T_MSG.length + SEQ_KEY.length + uintLength(seq) + BODY_KEY.length + binHeadLength(n) + n + MAC_HEAD.length + MAC_BYTES);
  let at = 0;
  out[at++] = FIXMAP_4;
  at += T_MSG.copy(out, at);
  at += SEQ_KEY.copy(out, at);
  if (seq < 0x80) out[at++] = seq;
  else if (seq < 0x100) {
    out[at++] = 0xcc;
    out[at++] = seq;
  } else if (seq < 0x10000) {
    out[at++] = 0xcd;
    at = out.writeUInt16BE(seq, at);
  } else if (seq < 2 ** 32) {
    out[at++] = 0xce;
    at = out.writeUInt32BE(seq, at);
  } else {
    // int64, as msgpackr writes the BigInt codec.ts turns such a number into.
    out[at++] = 0xd3;
    at = out.writeUInt32BE(Math.floor(seq / 2 ** 32), at);
    at = out.writeUInt32BE(seq >>> 0, at);
  }
  at += BODY_KEY.copy(out, at);
  if (n < 0x100) {
    out[at++] = 0xc4;
    out[at++] = n;
  } else if (n < 0x10000) {
    out[at++] = 0xc5;
    at = out.writeUInt16BE(n, at);
  } else {
    out[at++] = 0xc6;
    at = out.writeUInt32BE(n, at);
  }
  out.set(body, at);
  at += n;
  at += MAC_HEAD.copy(out, at);
  out.set(mac, at);
  return out;
}

function startsWith(bytes: Uint8Array, at: number, what: Buffer): boolean {
  if (at + what.length > bytes.length) return false;
  for (let i = 0; i < what.length; i++) if (bytes[at + i] !== what[i]) return false;
  return true;
}

/** The envelope in `writeSealed`'s layout, as the full path would return it (body and mac are views of `bytes`); undefined for any other bytes. */
export function readSealed(bytes: Uint8Array): SealedMessage | undefined {
  const end = bytes.length;
  // Over the frame limit `decode` refuses it: so does the full path, here.
  if (end > DEFAULT_MAX_FRAME || bytes[0] !== FIXMAP_4 || !startsWith(bytes, 1, T_MSG) || !startsWith(bytes, 1 + T_MSG.length, SEQ_KEY)) return undefined;
  let at = 1 + T_MSG.length + SEQ_KEY.length;
  if (at + 9 > end) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, end);
  const tag = bytes[at++]!;
  let seq: number;
  if (tag < 0x80) seq = tag;
  else if (tag === 0xcc) seq = bytes[at++]!;
  else if (tag === 0xcd) {
    seq = view.getUint16(at);
    at += 2;
  } else if (tag === 0xce) {
    seq = view.getUint32(at);
    at += 4;
  } else if (tag === 0xcf || tag === 0xd3) {
    // uint64 or int64 (what encode writes): below 0 or past 2^53 the schema refuses it, and the full path says so.
    const high = view.getUint32(at);
    if (high >= 2 ** 21) return undefined;
    seq = high * 2 ** 32 + view.getUint32(at + 4);
    at += 8;
  } else return undefined;
  if (!startsWith(bytes, at, BODY_KEY)) return undefined;
  at += BODY_KEY.length;
  if (at + 5 > end) return undefined;
  const binTag = bytes[at++];
  let n: number;
  if (binTag === 0xc4) n = bytes[at++]!;
  else if (binTag === 0xc5) {
    n = view.getUint16(at);
    at += 2;
  } else if (binTag === 0xc6) {
    n = view.getUint32(at);
    at += 4;
  } else return undefined;
  // Exactly the body, the mac's key and header, 32 bytes of mac, and nothing after.
  if (at + n + MAC_HEAD.length + MAC_BYTES !== end) return undefined;
  const body = bytes.subarray(at, at + n);
  at += n;
  if (!startsWith(bytes, at, MAC_HEAD)) return undefined;
  at += MAC_HEAD.length;
  return { t: 'msg', seq, body, mac: bytes.subarray(at, end) };
}
