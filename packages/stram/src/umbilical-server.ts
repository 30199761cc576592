import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  CloseCode,
  DEFAULT_MAX_FRAME,
  HandshakeGate,
  ServerHandshake,
  SluiceError,
  acceptAuthenticated,
  asFrameError,
  bindingOf,
  peerNameRefusal,
  closeWith,
  encode,
  isoTime,
  openSealed,
  toBuffer,
  type CertMessage,
  type Command,
  type CsrMessage,
  type HeartbeatMessage,
  type Logger,
  type Clock,
  type Session,
  type TokenAuthority,
} from '@sluice/common';
import { bind, closeListener, type Listener } from './listener.js';
import type { StramMetrics } from './metrics.js';

/**
 * STRAM's end of the umbilical (docs/protocol.md "Authenticated connection (handshake)"): a ws server that runs the
 * challenge/auth/welcome handshake, then accepts only sealed (MAC'd, sequenced) heartbeats and
 * answers each with a sealed heartbeat-ack carrying commands. The protocol lives in common
 * (handshake.ts, session.ts); this module moves bytes and enforces who may say what.
 */

/** What STRAM does with an authenticated container's messages. */
export interface UmbilicalHandler {
  /** A container authenticated; an older connection of the same container has been replaced. */
  onConnect(conn: UmbilicalConnection): void;
  /** A heartbeat (already checked to be about `conn.container`); returns the commands for its ack. */
  onHeartbeat(conn: UmbilicalConnection, heartbeat: HeartbeatMessage): Command[];
  onDisconnect(conn: UmbilicalConnection, code: number, reason: string): void;
  /**
   * Signs a certificate over the CSR's key for `conn.container` (the container its token names;
   * docs/protocol.md "Transport encryption"). Absent when the app runs without TLS: a csr is then
   * refused like any message STRAM does not take here.
   */
  onCsr?(conn: UmbilicalConnection, csr: Uint8Array): Promise<Omit<CertMessage, 't'>>;
}

export interface UmbilicalServerOptions {
  service: string;
  authority: TokenAuthority;
  handler: UmbilicalHandler;
  metrics: StramMetrics;
  logger: Logger;
  /** For the session expiry; default the system clock. */
  clock?: Clock;
  host?: string;
  port?: number;
  handshakeTimeoutMs?: number;
  maxPayload?: number;
  /** Largest message before welcome and handshakes in flight at once (docs/protocol.md "Limits before welcome"). Defaults 16 KiB, 256. */
  preAuthMaxPayload?: number;
  maxPendingHandshakes?: number;
}

/** Longest setTimeout delay; a later max date is looked at again then. */
const MAX_TIMER = 2 ** 31 - 1;

/** The inner bytes of the ack most heartbeats get (no commands): encoded once, sealed (MAC'd, sequenced) per ack like any other. */
const EMPTY_ACK = encode({ t: 'heartbeat-ack', commands: [] });

/** One authenticated container connection. */
export class UmbilicalConnection {
  constructor(
    readonly container: string,
    /** Sequence number of the STRAM token this session was opened with. */
    readonly tokenSeq: number,
    readonly session: Session,
    private readonly socket: WebSocket,
  ) {}

  /** Sends a sealed heartbeat-ack with these commands. */
  ack(commands: Command[]): void {
    this.socket.send(commands.length === 0 ? this.session.sealEncoded(EMPTY_ACK) : this.session.seal({ t: 'heartbeat-ack', commands }));
  }

  /** Sends a sealed certificate (the answer to a csr, or a renewal STRAM pushes). */
  cert(cert: Omit<CertMessage, 't'>): void {
    if (this.open) this.socket.send(this.session.seal({ t: 'cert', ...cert }));
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }
}

export class UmbilicalServer {
  private readonly connections = new Map<string, UmbilicalConnection>();

  private constructor(
    private readonly wss: WebSocketServer,
    private readonly listener: Listener,
    private readonly o: UmbilicalServerOptions,
    readonly url: string,
    /** Unauthenticated peers hold little and few at once; its refusals count in authFailures like the rest. */
    private readonly gate: HandshakeGate,
  ) {
    wss.on('connection', (socket, req) => this.accept(socket, req));
    listener.onTlsRefused = (err, peer) => {
      this.gate.refused(err.code);
      this.o.metrics.authFailures.inc({ endpoint: 'umbilical', reason: err.code });
      this.o.logger.warn({ peer, code: err.code, reason: err.message }, 'umbilical refused a TLS client');
    };
  }

  static async listen(o: UmbilicalServerOptions): Promise<UmbilicalServer> {
    return UmbilicalServer.serve(await bind(o.host ?? '127.0.0.1', o.port), o);
  }

  /** Serves the umbilical on a listener bound beforehand (listener.ts says why). */
  static serve(listener: Listener, o: UmbilicalServerOptions): UmbilicalServer {
    const gate = new HandshakeGate(o);
    const wss = new WebSocketServer({ server: listener.server, perMessageDeflate: false, maxPayload: o.maxPayload ?? DEFAULT_MAX_FRAME });
    // What ws answers on a port of its own: this port speaks WebSocket only.
    listener.server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end(STATUS_CODES[426]);
    });
    return new UmbilicalServer(wss, listener, o, `${listener.tls ? 'wss' : 'ws'}://${listener.host}:${listener.port}`, gate);
  }


  /** The live connection of a container, if any. */
  connection(container: string): UmbilicalConnection | undefined {
    return this.connections.get(container);
  }

  private refuse(err: SluiceError, container?: string): void {
    this.o.metrics.authFailures.inc({ endpoint: 'umbilical', reason: err.code });
    this.o.logger.warn({ container, code: err.code, closeCode: err.closeCode, reason: err.message }, 'umbilical refused a connection');
  }

  private accept(socket: WebSocket, req: IncomingMessage): void {
    socket.on('error', (err) => this.o.logger.debug({ err: err.message }, 'umbilical socket error'));
    const handshake = new ServerHandshake(this.o.service, this.listener.tls ? this.tlsAuthority(req) : this.o.authority, undefined, bindingOf(req));
    const options = {
      onAccepted: (accepted: { identifier: { maxDate: number; sequenceNumber: number }; request: { role: string; container?: string }; welcome(): Buffer; session: Session }) => {
        // authorize() made sure the role is hello and the token's scope names this container.
        const container = accepted.request.container as string;
        const conn = new UmbilicalConnection(container, accepted.identifier.sequenceNumber, accepted.session, socket);
        const previous = this.connections.get(container);
        if (previous) previous.close(CloseCode.replaced, 'replaced by a newer connection of the same container');
        this.connections.set(container, conn);
        socket.on('message', (data, isBinary) => this.onMessage(conn, socket, toBuffer(data), isBinary));
        // Like a buffer server's connections, a session lives no longer than its token's max date
        // (4401 expired): the container reconnects with the token STRAM pushed meanwhile; one cut
        // off past that date holds no valid token and is refused.
        const expiry = this.armExpiry(socket, container, accepted.identifier.maxDate);
        socket.once('close', (code, reason) => {
          clearTimeout(expiry.timer);
          if (this.connections.get(container) === conn) this.connections.delete(container);
          this.o.handler.onDisconnect(conn, code, reason.toString('utf8'));
        });
        socket.send(accepted.welcome());
        this.o.handler.onConnect(conn);
      },
      onRefused: (err: SluiceError) => this.refuse(err),
      gate: this.gate,
    };
    acceptAuthenticated(socket, handshake, this.o.handshakeTimeoutMs === undefined ? options : { ...options, timeoutMs: this.o.handshakeTimeoutMs });
  }

  /**
   * The token rules, plus: a client certificate, when the container presents one (it does once
   * enrolled), must name the container its token names (docs/protocol.md "Transport encryption").
   */
  private tlsAuthority(req: IncomingMessage): TokenAuthority {
    const a = this.o.authority;
    return {
      password: (idBytes, identifier) => a.password(idBytes, identifier),
      checkLive: (identifier) => a.checkLive(identifier),
      authorize: (identifier, request) => {
        a.authorize(identifier, request);
        const refusal = peerNameRefusal(req, request.role === 'hello' ? request.container : undefined, { certOptional: true });
        if (refusal) throw refusal;
      },
    };
  }

  private armExpiry(socket: WebSocket, container: string, maxDate: number, holder: { timer?: NodeJS.Timeout } = {}): { timer?: NodeJS.Timeout } {
    const now = (): number => (this.o.clock ?? Date).now();
    holder.timer = setTimeout(() => {
      if (socket.readyState !== socket.OPEN) return;
      if (now() < maxDate) {
        this.armExpiry(socket, container, maxDate, holder);
        return;
      }
      const err = new SluiceError('TOKEN_EXPIRED', `token expired at ${isoTime(maxDate)}; reconnect with a renewed token`);
      this.o.logger.info({ container, code: err.code, closeCode: err.closeCode }, 'umbilical session closed: its token passed its max date');
      this.closeSession(socket, container, err);
    }, Math.min(Math.max(maxDate - now(), 0), MAX_TIMER));
    holder.timer.unref();
    return holder;
  }

  private onMessage(conn: UmbilicalConnection, socket: WebSocket, data: Buffer, isBinary: boolean): void {
    let heartbeat: HeartbeatMessage;
    try {
      // Order of faults (docs/protocol.md "Transport and encoding"): malformed envelope, then MAC/sequence, then the inner message, then scope.
      const message = openSealed(conn.session, data, isBinary, this.o.handler.onCsr ? ['heartbeat', 'csr'] : ['heartbeat']);
      if (message.t === 'csr') {
        this.enrol(conn, socket, message);
        return;
      }
      heartbeat = message;
      if (heartbeat.container !== conn.container) {
        throw new SluiceError('OUT_OF_SCOPE', `heartbeat names container ${heartbeat.container} but this umbilical belongs to ${conn.container}`);
      }
    } catch (err) {
      const e = asFrameError(err, 'umbilical message');
      if (e.closeCode !== CloseCode.malformed) this.refuse(e, conn.container);
      else this.o.logger.warn({ container: conn.container, code: e.code, reason: e.message }, 'umbilical closed a connection on a malformed message');
      this.closeSession(socket, conn.container, e);
      return;
    }
    let commands: Command[];
    try {
      commands = this.o.handler.onHeartbeat(conn, heartbeat);
    } catch (err) {
      if (err instanceof SluiceError && err.closeCode !== CloseCode.normal) {
        // STRAM refused what the heartbeat claims (e.g. another container's operators).
        this.refuse(err, conn.container);
        this.closeSession(socket, conn.container, err);
        return;
      }
      this.o.logger.error({ container: conn.container, err: (err as Error).message }, 'heartbeat handling failed');
      commands = [];
    }
    if (socket.readyState === socket.OPEN) conn.ack(commands);
  }

  /** Answers a csr with the signed certificate; a CSR STRAM will not sign closes the session (4400 BAD_CSR). */
  private enrol(conn: UmbilicalConnection, socket: WebSocket, message: CsrMessage): void {
    this.o.handler.onCsr!(conn, message.csr).then(
      (cert) => {
        this.o.metrics.enrolments.inc({ outcome: 'issued' });
        this.o.logger.info({ container: conn.container }, 'certificate issued');
        conn.cert(cert);
      },
      (err: unknown) => {
        const e = asFrameError(err, 'csr');
        this.o.metrics.enrolments.inc({ outcome: e.code });
        this.o.logger.warn({ container: conn.container, code: e.code, reason: e.message }, 'certificate refused');
        this.closeSession(socket, conn.container, e);
      },
    );
  }

  /** Ends an authenticated session for `err`, counted by close code and reason code. */
  private closeSession(socket: WebSocket, container: string, err: SluiceError): void {
    this.o.metrics.umbilicalCloses.inc({ container, code: String(err.closeCode), reason: err.code });
    closeWith(socket, err);
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.close(CloseCode.normal, 'STRAM is shutting down');
    // ws calls back once every client is gone; a peer that does not answer the close is cut off.
    const cutOff = setTimeout(() => {
      for (const ws of this.wss.clients) ws.terminate();
    }, 1_000);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    clearTimeout(cutOff);
    await closeListener(this.listener);
  }
}
