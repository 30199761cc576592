import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { SluiceError, type ErrorCode } from './errors.js';

/**
 * What unauthenticated peers may make one server hold (docs/protocol.md "Limits before welcome").
 * Before `welcome` a connection has proved nothing, yet ws would buffer a frame of up to the
 * server's maxPayload (16 MiB) for each: forty such peers cost STRAM 600 MiB. So until welcome
 * each connection may send only frames of `preAuthMaxPayload` bytes (a valid auth is under
 * 5 KB), in few fragments, and at most `maxPendingHandshakes` may be authenticating at once;
 * past either the connection is closed (1009, 4408) without buffering what it sent. A server
 * keeps one gate for all its connections; it also counts the refusals by code for stats.
 */

export const DEFAULT_PRE_AUTH_MAX_PAYLOAD = 16 * 1024;
export const DEFAULT_MAX_PENDING_HANDSHAKES = 256;
/** Fragments of one message before welcome: a client sends its auth as one frame. */
const PRE_AUTH_MAX_FRAGMENTS = 4;
/**
 * TCP reads ws may hold while a frame is incomplete before welcome. Each costs a Buffer of its
 * own, so a peer sending a byte at a time must not reach the server-wide default (262,144).
 */
const PRE_AUTH_MAX_CHUNKS = 64;

export interface HandshakeGateOptions {
  /** Largest frame accepted before welcome (or the server's maxPayload, if smaller); larger ones close with 1009. Default 16 KiB. */
  preAuthMaxPayload?: number | undefined;
  /** Connections that may be authenticating at once; more close with 4408. Default 256. */
  maxPendingHandshakes?: number | undefined;
}

/**
 * The frame limits ws's Receiver checks (node_modules/ws/lib/receiver.js): `_maxPayload` against
 * each frame header's length before the payload is buffered (haveLength), `_maxFragments` per
 * message, `_maxBufferedChunks` per write. ws fixes them per server; Sluice needs them smaller
 * before welcome than after, and the Receiver reads them afresh for every frame, so setting them
 * between frames moves the bound for the next one.
 */
interface ReceiverLimits {
  _maxPayload: number;
  _maxFragments: number;
  _maxBufferedChunks: number;
}

function receiverOf(socket: WebSocket): ReceiverLimits {
  const receiver = (socket as unknown as { _receiver?: Partial<ReceiverLimits> | null })._receiver;
  if (typeof receiver?._maxPayload !== 'number' || typeof receiver._maxFragments !== 'number' || typeof receiver._maxBufferedChunks !== 'number') {
    // Fail closed and loud: without these a server cannot bound what unauthenticated peers send.
    throw new TypeError('this version of ws keeps no _maxPayload/_maxFragments/_maxBufferedChunks on its Receiver; Sluice needs ws 8.23');
  }
  return receiver as ReceiverLimits;
}

/** Restores a socket's own frame limits once it is welcomed. */
export type RestoreLimits = () => void;

export class HandshakeGate {
  readonly preAuthMaxPayload: number;
  readonly maxPendingHandshakes: number;
  private pending = 0;
  /** Refused handshakes by error code, since the server started. */
  readonly refusals = new Map<ErrorCode, number>();

  constructor(o: HandshakeGateOptions = {}) {
    this.preAuthMaxPayload = o.preAuthMaxPayload ?? DEFAULT_PRE_AUTH_MAX_PAYLOAD;
    this.maxPendingHandshakes = o.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES;
    if (!(Number.isSafeInteger(this.preAuthMaxPayload) && this.preAuthMaxPayload >= 1024)) {
      throw new SluiceError('BAD_CONFIG', `preAuthMaxPayload: ${this.preAuthMaxPayload} must be an integer of at least 1 KiB (an auth frame takes up to ~5 KB)`);
    }
    if (!(Number.isSafeInteger(this.maxPendingHandshakes) && this.maxPendingHandshakes >= 1)) {
      throw new SluiceError('BAD_CONFIG', `maxPendingHandshakes: ${this.maxPendingHandshakes} must be a positive integer`);
    }
  }

  /** Connections between their opening and their welcome or refusal, now. */
  get pendingHandshakes(): number {
    return this.pending;
  }

  /**
   * Lowers a freshly opened socket's frame limits to the pre-welcome bounds and takes a pending
   * slot. Returns how to restore the socket's limits at welcome, or a 4408 error when every slot
   * is taken (the limits stay lowered while it closes). Call `leave` once the handshake settles.
   */
  enter(socket: WebSocket): RestoreLimits | SluiceError {
    const receiver = receiverOf(socket);
    const own = pick(receiver);
    receiver._maxPayload = own._maxPayload > 0 ? Math.min(own._maxPayload, this.preAuthMaxPayload) : this.preAuthMaxPayload;
    receiver._maxFragments = PRE_AUTH_MAX_FRAGMENTS;
    receiver._maxBufferedChunks = PRE_AUTH_MAX_CHUNKS;
    if (this.pending >= this.maxPendingHandshakes) {
      return new SluiceError('TOO_MANY_HANDSHAKES', `${this.maxPendingHandshakes} connections are already authenticating; retry in a moment`);
    }
    this.pending++;
    return () => Object.assign(receiver, own);
  }

  /** Gives back the slot `enter` took. */
  leave(): void {
    this.pending--;
  }

  refused(code: ErrorCode): void {
    this.refusals.set(code, (this.refusals.get(code) ?? 0) + 1);
  }
}

function pick(r: ReceiverLimits): ReceiverLimits {
  return { _maxPayload: r._maxPayload, _maxFragments: r._maxFragments, _maxBufferedChunks: r._maxBufferedChunks };
}

/** How long a peer refused before welcome keeps its socket, for its close frame to get out. */
const LINGER_MS = 1_000;

/**
 * A peer refused before welcome (a frame over the bound, too many fragments, no slot) has proved
 * nothing and may send gigabytes. ws would send its close frame, half-close, then read on and
 * drop whatever the peer still sends until the peer closes or 30 s pass; reading them, even to
 * drop them, grew a server's RSS by tens of MiB per flood. So the socket is read no more from the
 * refusal on, what ws buffered of it is let go, and the socket is cut once its close frame has had
 * a moment to leave.
 */
export function stopReading(socket: WebSocket): void {
  // A paused net.Socket still reads until its buffer passes the high-water mark (another 64 KiB
  // for every such peer); stopping its handle ends reading at once. Without one, pausing does.
  const raw = (socket as unknown as { _socket?: Socket & { _handle?: { reading?: boolean; readStop?(): number } | null } })._socket;
  const handle = raw?._handle;
  if (handle?.readStop) {
    handle.reading = false;
    handle.readStop();
  }
  dropBuffered(socket);
  // ws resumes the TCP socket in a nextTick queued before its 'error' listeners run: pause after it.
  process.nextTick(() => socket.pause());
  setTimeout(() => socket.terminate(), LINGER_MS).unref();
}

/**
 * The rest of the TCP read that carried a refused frame's header (up to 64 KiB: Node reads a
 * socket 64 KiB at a time) stays in ws's Receiver until the socket is gone, and V8 frees it only
 * when it collects it. Let go of it now, so that it dies young and the next scavenge frees it:
 * otherwise the reads of floods accumulate (four floods of 200 peers held 28 MiB of them). The
 * Receiver has already failed (ws reads nothing more into it), so it needs them no more.
 */
function dropBuffered(socket: WebSocket): void {
  const receiver = (socket as unknown as { _receiver?: { _buffers?: unknown; _bufferedBytes?: unknown } | null })._receiver;
  if (receiver && Array.isArray(receiver._buffers)) {
    receiver._buffers = [];
    receiver._bufferedBytes = 0;
  }
}
