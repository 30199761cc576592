import { decode, encode } from './codec.js';
import { SluiceError } from './errors.js';
import { parseFrame, parseMessage, type Message, type MessageType, type SealedMessage } from './protocol.js';
import { readSealed, writeSealed } from './sealed-frame.js';
import { scanHeartbeat } from './heartbeat-scan.js';
import { hmac, safeEqual } from './token.js';

/**
 * The per-message MAC of an authenticated umbilical session (docs/protocol.md section 4,
 * "Authenticated connection", step 4). Each direction has its own key:
 *   clientToServer = HMAC(password, "sluice-session-c2s-v1" | nonce | cnonce)
 *   serverToClient = HMAC(password, "sluice-session-s2c-v1" | nonce | cnonce)
 * so a message one side MAC'd never verifies at that same side: a frame the server sent,
 * reflected back to it, fails its MAC (BAD_MAC) whatever its type or sequence number.
 * Every message is `{t:"msg", seq, body, mac}` where body holds the MessagePack bytes of the
 * inner message and mac = HMAC(key of its direction, seq as 8-byte big-endian | body). Pure: no sockets.
 */
export const SESSION_C2S_CONTEXT = 'sluice-session-c2s-v1';
export const SESSION_S2C_CONTEXT = 'sluice-session-s2c-v1';

export interface SessionKeys {
  clientToServer: Buffer;
  serverToClient: Buffer;
}

export function deriveSessionKeys(password: Uint8Array, nonce: Uint8Array, cnonce: Uint8Array): SessionKeys {
  return {
    clientToServer: hmac(password, SESSION_C2S_CONTEXT, nonce, cnonce),
    serverToClient: hmac(password, SESSION_S2C_CONTEXT, nonce, cnonce),
  };
}

/** Which end of the connection a Session is: it seals with its own direction's key and opens with the other's. */
export const SessionSide = { server: 'server', client: 'client' } as const;
export type SessionSide = (typeof SessionSide)[keyof typeof SessionSide];

/** The 8 sequence bytes of a MAC: one buffer reused (the HMAC copies what it is given at once), no BigInt per message. */
const seqScratch = Buffer.alloc(8);

function seqBytes(seq: number): Buffer {
  seqScratch.writeUInt32BE(Math.floor(seq / 2 ** 32), 0);
  seqScratch.writeUInt32BE(seq >>> 0, 4);
  return seqScratch;
}

export function messageMac(key: Uint8Array, seq: number, body: Uint8Array): Buffer {
  return hmac(key, seqBytes(seq), body);
}

export class Session {
  private sent = 0;
  private received = 0;
  private readonly sendKey: Buffer;
  private readonly receiveKey: Buffer;
  /**
   * The server→client key, the same at both ends: what STRAM pushes (credentials) is sealed
   * under a key credentials.ts derives from it, so only the peer of this session opens it.
   */
  readonly credentialsKey: Buffer;

  constructor(keys: SessionKeys, side: SessionSide) {
    const server = side === SessionSide.server;
    this.sendKey = server ? keys.serverToClient : keys.clientToServer;
    this.receiveKey = server ? keys.clientToServer : keys.serverToClient;
    this.credentialsKey = keys.serverToClient;
  }

  /** Encodes `message` as a sealed frame with the next sequence number. */
  seal(message: Readonly<Record<string, unknown>> & { readonly t: string }): Buffer {
    return this.sealEncoded(encode(message));
  }

  /** Seals an inner message already encoded (`encode(message)`): what a sender that says the same thing often encodes once. */
  sealEncoded(body: Uint8Array): Buffer {
    const seq = ++this.sent;
    // The bytes encode({t: 'msg', seq, body, mac}) would give, written in one pass (sealed-frame.ts).
    return writeSealed(seq, body, messageMac(this.sendKey, seq, body));
  }

  /** Checks the MAC and sequence of a sealed frame and returns the decoded inner message. */
  open(sealed: SealedMessage): unknown {
    return decode(this.verify(sealed));
  }

  /** Checks the MAC and sequence of a sealed frame and returns its inner message's bytes, not yet decoded. */
  verify(sealed: SealedMessage): Uint8Array {
    const expected = messageMac(this.receiveKey, sealed.seq, sealed.body);
    if (!safeEqual(expected, sealed.mac)) {
      throw new SluiceError('BAD_MAC', `message ${sealed.seq} has a bad MAC; it was altered, reflected or not sent by the session peer`);
    }
    if (sealed.seq <= this.received) {
      throw new SluiceError('BAD_SEQUENCE', `message sequence ${sealed.seq} is not after ${this.received}: replayed or reordered`);
    }
    this.received = sealed.seq;
    return sealed.body;
  }
}

/**
 * One sealed umbilical frame → its inner message, one of `allowed`. Faults are found in the order
 * docs/protocol.md section 2 gives: a malformed envelope (4400), then its MAC and sequence number
 * (4401), then the inner message (4400). Scope is the caller's to check, after this.
 */
export function openSealed<const T extends MessageType>(session: Session, data: Uint8Array, isBinary: boolean, allowed: readonly T[]): Message<T> {
  // The envelope in its everyday layout is read by hand (sealed-frame.ts); any other bytes take the full path, which names the fault.
  const sealed = (isBinary && readSealed(data)) || parseFrame(data, isBinary, ['msg']);
  const body = session.verify(sealed);
  // So is a heartbeat of the everyday shape, where one is allowed (heartbeat-scan.ts).
  if ((allowed as readonly string[]).includes('heartbeat')) {
    const heartbeat = scanHeartbeat(body);
    if (heartbeat) return heartbeat as Message<T>;
  }
  return parseMessage(decode(body), allowed);
}
