import { decode, encode } from './codec.js';
import { SluiceError } from './errors.js';
import type { SealedMessage } from './protocol.js';
import { hmac, safeEqual } from './token.js';

/**
 * The per-message MAC of an authenticated umbilical session (DESIGN.md "Authenticated
 * connection", step 4): sessionKey = HMAC(password, "sluice-session-v1" | nonce | cnonce);
 * every message is `{t:"msg", seq, body, mac}` where body holds the MessagePack bytes of the
 * inner message and mac = HMAC(sessionKey, seq as 8-byte big-endian | body). Pure: no sockets.
 */
export function deriveSessionKey(password: Uint8Array, nonce: Uint8Array, cnonce: Uint8Array): Buffer {
  return hmac(password, 'sluice-session-v1', nonce, cnonce);
}

function seqBytes(seq: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(seq));
  return b;
}

export function messageMac(key: Uint8Array, seq: number, body: Uint8Array): Buffer {
  return hmac(key, seqBytes(seq), body);
}

export class Session {
  private sent = 0;
  private received = 0;

  /** The session key; credentials.ts derives the key that seals new credentials from it. */
  constructor(readonly key: Uint8Array) {}

  /** Encodes `message` as a sealed frame with the next sequence number. */
  seal(message: Record<string, unknown>): Buffer {
    const body = encode(message);
    const seq = ++this.sent;
    return encode({ t: 'msg', seq, body, mac: messageMac(this.key, seq, body) });
  }

  /** Checks the MAC and sequence of a sealed frame and returns the decoded inner message. */
  open(sealed: SealedMessage): unknown {
    const expected = messageMac(this.key, sealed.seq, sealed.body);
    if (!safeEqual(expected, sealed.mac)) {
      throw new SluiceError('BAD_MAC', `message ${sealed.seq} has a bad MAC; it was altered or not sent by the session peer`);
    }
    if (sealed.seq <= this.received) {
      throw new SluiceError('BAD_SEQUENCE', `message sequence ${sealed.seq} is not after ${this.received}: replayed or reordered`);
    }
    this.received = sealed.seq;
    return decode(sealed.body);
  }
}
