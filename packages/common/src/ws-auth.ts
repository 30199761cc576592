import { TLSSocket, type ConnectionOptions } from 'node:tls';
import WebSocket from 'ws';
import { CloseCode, SluiceError, closeReason, type ErrorCode } from './errors.js';
import { HandshakeGate, stopReading } from './handshake-gate.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, ClientHandshake, type AcceptedAuth, type ServerHandshake } from './handshake.js';
import { asFrameError, type AuthRequest } from './protocol.js';
import type { Session } from './session.js';
import type { Token } from './token.js';
import { TLS_MIN_VERSION, channelBinding, expectSan, type TlsMaterial } from './tls.js';
import { DEFAULT_MAX_FRAME } from './codec.js';

/** Moves handshake bytes over `ws`; the protocol itself lives in handshake.ts. */

export interface AcceptOptions {
  timeoutMs?: number;
  /**
   * The server's bounds before welcome (handshake-gate.ts), shared by all its connections, which
   * also counts its refusals. Default: a gate of this connection's own, with the default bounds.
   */
  gate?: HandshakeGate;
  /** Called once the client is welcomed; attach the connection's message handler here (synchronously). */
  onAccepted(accepted: AcceptedAuth): void;
  /** Called once if the handshake fails, after the close frame is sent. */
  onRefused?(err: SluiceError): void;
}

/** Runs the server side of the handshake on a freshly opened socket. */
export function acceptAuthenticated(socket: WebSocket, handshake: ServerHandshake, options: AcceptOptions): void {
  const gate = options.gate ?? new HandshakeGate();
  const refuse = (err: SluiceError): void => {
    gate.refused(err.code);
    options.onRefused?.(err);
  };
  // Before anything is read: no frame over the pre-welcome bound is ever buffered.
  const restoreLimits = gate.enter(socket);
  if (restoreLimits instanceof SluiceError) {
    // Nothing the peer sends is read: its close frame is on its way, and a flood of connections
    // past the bound must cost the server no read buffer each. ws may still report a failed write.
    socket.on('error', () => undefined);
    closeWith(socket, restoreLimits);
    stopReading(socket);
    refuse(restoreLimits);
    return;
  }
  /** Set once the handshake has an outcome (a frame arrived, the timeout fired or the socket failed). */
  let settled = false;
  let welcomed = false;
  const settle = (): void => {
    settled = true;
    clearTimeout(timer);
    socket.off('message', onMessage);
    gate.leave();
  };
  const timer = setTimeout(() => {
    settle();
    const err = new SluiceError('HANDSHAKE_TIMEOUT', `no valid auth within ${options.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS} ms`);
    closeWith(socket, err);
    refuse(err);
  }, options.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
  timer.unref();
  const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    settle();
    let accepted: AcceptedAuth;
    try {
      accepted = handshake.receive(toBuffer(data), isBinary);
    } catch (err) {
      const e = asFrameError(err, 'auth');
      closeWith(socket, e);
      refuse(e);
      return;
    }
    // Welcomed: the server's own limits apply from the next frame on.
    welcomed = true;
    restoreLimits();
    options.onAccepted(accepted);
  };
  // ws emits 'error' (then closes the socket itself) when a peer breaks the framing rules, e.g.
  // a frame over the limit (closed with 1009). An 'error' with no listener would crash the
  // whole server, so this listener stays for the socket's life; after the handshake it leaves
  // the rest to the 'close' event that follows every error.
  socket.on('error', (err: Error & { code?: string }) => {
    if (!welcomed) stopReading(socket);
    if (settled) return;
    settle();
    refuse(new SluiceError(framingErrorCode(err.code), `connection broke the WebSocket framing rules during the handshake: ${err.message}`, { cause: err }));
  });
  socket.on('message', onMessage);
  socket.once('close', () => {
    if (!settled) settle();
  });
  socket.send(handshake.challenge());
}

/** The SluiceError code of a ws framing error (ws closes the socket itself, with the matching close code). */
function framingErrorCode(wsCode: string | undefined): ErrorCode {
  if (wsCode === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return 'FRAME_TOO_BIG';
  if (wsCode === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') return 'TOO_MANY_FRAGMENTS';
  return 'MALFORMED_FRAME';
}

/** Closes with the error's close code and its one-line reason; the close frame is the whole refusal. */
export function closeWith(socket: WebSocket, err: SluiceError): void {
  if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
    socket.close(err.closeCode, closeReason(err));
  }
}

export function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** A connection ended by the peer during or after the handshake; carries its close code and reason. */
export class ConnectionClosedError extends SluiceError {
  constructor(
    readonly remoteCode: number,
    readonly remoteReason: string,
  ) {
    super('CONNECTION_CLOSED', `connection closed with ${remoteCode}${remoteReason ? `: ${remoteReason}` : ''}`);
  }
}

export interface AuthenticatedConnection {
  socket: WebSocket;
  welcome: Record<string, unknown>;
  readonly session: Session;
}

export interface ConnectOptions {
  timeoutMs?: number;
  maxPayload?: number;
  /**
   * Attached to the socket in the same tick as the welcome is checked. ws emits the messages of
   * one TCP read synchronously, so a handler attached after `await connectAuthenticated(...)`
   * can miss frames the server sent right behind its welcome (a buffer-server subscriber's first
   * window); pass the handler here when the server may send first.
   */
  onMessage?: (data: WebSocket.RawData, isBinary: boolean) => void;
  /**
   * Mutual TLS (a `wss://` URL): this client's certificate and key (none before it enrols), the
   * roots it trusts, and the SAN URI the server must carry (docs/protocol.md "Transport encryption"). The proofs are then
   * bound to the TLS session (challenge v:2).
   */
  tls?: ClientTls | undefined;
}

export interface ClientTls extends Omit<TlsMaterial, 'cert' | 'key'>, Partial<Pick<TlsMaterial, 'cert' | 'key'>> {
  /** The server's expected SAN URI, `sluice://<appId>/<containerId>`. */
  server: string;
}

/**
 * Opens a ws connection and runs the client side of the handshake. Resolves once welcomed;
 * rejects with ConnectionClosedError (code + reason) when the server refuses.
 */
export function connectAuthenticated(url: string, token: Token, request: AuthRequest, options: ConnectOptions = {}): Promise<AuthenticatedConnection> {
  const tls = options.tls;
  if (tls && !url.startsWith('wss://')) {
    return Promise.reject(new SluiceError('BAD_CONFIG', `${url} is not a TLS address; a client with a certificate connects to wss://`));
  }
  // ws hands the TLS options to tls.connect as they are (its own type of checkServerIdentity is not Node's).
  // Without cert and key (a container that has not enrolled yet) the client presents none.
  const own = tls?.cert && tls.key ? { cert: tls.cert, key: tls.key } : {};
  const tlsOptions: ConnectionOptions = tls ? { ...own, ca: tls.ca, minVersion: TLS_MIN_VERSION, checkServerIdentity: expectSan(tls.server) } : {};
  const socket = new WebSocket(url, Object.assign({ perMessageDeflate: false, maxPayload: options.maxPayload ?? DEFAULT_MAX_FRAME }, tlsOptions));
  let client = new ClientHandshake(token, request);
  // The upgrade response arrives on the TLS socket before the challenge: bind the proofs to it.
  if (url.startsWith('wss://')) {
    socket.once('upgrade', (res) => {
      if (res.socket instanceof TLSSocket) client = new ClientHandshake(token, request, channelBinding(res.socket));
    });
  }
  return new Promise((resolve, reject) => {
    let step: 'challenge' | 'welcome' | 'done' = 'challenge';
    const timer = setTimeout(() => fail(new SluiceError('HANDSHAKE_TIMEOUT', `no welcome from ${url} within ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
    const fail = (err: Error): void => {
      if (step === 'done') return;
      step = 'done';
      clearTimeout(timer);
      socket.off('message', onMessage);
      if (err instanceof SluiceError && !(err instanceof ConnectionClosedError)) {
        socket.close(err.closeCode === CloseCode.normal ? 1000 : err.closeCode, closeReason(err));
      }
      reject(err);
    };
    const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
      try {
        if (step === 'challenge') {
          socket.send(client.answer(toBuffer(data), isBinary));
          step = 'welcome';
        } else if (step === 'welcome') {
          const welcomed = client.welcome(toBuffer(data), isBinary);
          step = 'done';
          clearTimeout(timer);
          socket.off('message', onMessage);
          if (options.onMessage) socket.on('message', options.onMessage);
          // The session's keys are derived only if the caller reads it (the umbilical does; buffer-server clients do not).
          resolve({
            socket,
            welcome: welcomed.welcome,
            get session() {
              return welcomed.session;
            },
          });
        }
      } catch (err) {
        fail(err as Error);
      }
    };
    socket.on('message', onMessage);
    // Errors are built only while they can still be reported (a stack trace per closed connection costs).
    socket.once('close', (code, reason) => step !== 'done' && fail(new ConnectionClosedError(code, reason.toString('utf8'))));
    socket.once('error', (err) => step !== 'done' && fail(new SluiceError('CONNECTION_CLOSED', `cannot connect to ${url}: ${err.message}`, { cause: err })));
  });
}
