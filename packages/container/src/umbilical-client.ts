import type WebSocket from 'ws';
import {
  CloseCode,
  ConnectionClosedError,
  asFrameError,
  closeReason,
  connectAuthenticated,
  decodeIdentifier,
  openSealed,
  toBuffer,
  type CertMessage,
  type ClientTls,
  type Command,
  type HeartbeatAckMessage,
  type HeartbeatMessage,
  type Logger,
  type Session,
  type Token,
} from '@sluice/common';

/**
 * The container side of the umbilical (docs/protocol.md "Authenticated connection", umbilical.ts):
 * authenticate with the container's STRAM token, then every heartbeatIntervalMs send one sealed
 * heartbeat and wait for its sealed heartbeat-ack. Heartbeats never overlap (a tick
 * with one in flight is skipped). A lost connection is re-established with backoff using the
 * token held at that moment; past heartbeatTimeoutMs without hearing from STRAM, `onLost` fires
 * once and the client stops.
 */

export interface UmbilicalClientOptions {
  url: string;
  /** Where STRAM is now, asked before every (re)connection; default `url`. */
  resolveUrl?(): string;
  container: string;
  /** The current STRAM token (may change when STRAM pushes new credentials). */
  token(): Token;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  /** Builds the heartbeat to send now. */
  heartbeat(): HeartbeatMessage;
  /** Commands of one ack, with the session they came on (credentials are sealed under its key). */
  /** Applies STRAM's commands; resolves once they are applied (new credentials in memory). */
  onCommands(commands: Command[], session: Session): void | Promise<void>;
  onLost(): void;
  /**
   * STRAM refused the token outright (4401 in the handshake: cancelled, expired, unknown): retrying
   * with it is pointless. Without this handler the client keeps retrying until onLost.
   */
  onRefused?(reason: string): void;
  logger: Logger;
  now?: () => number;
  /**
   * Certificate enrolment (docs/protocol.md "Transport encryption"): after each welcome the
   * client sends `csr()` when it returns one (the container has no valid certificate yet, or
   * its renewal is due), and hands every `cert` STRAM sends to `onCert`.
   */
  enrolment?: {
    csr(): Buffer | undefined;
    onCert(cert: CertMessage): void;
  };
  /** Under TLS (a `wss://` URL): what to trust and present, asked before every (re)connection. */
  tls?(): ClientTls;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

interface Live {
  socket: WebSocket;
  session: Session;
  /** Max date of the token this session was opened with: STRAM closes it then (4401 expired). */
  maxDate: number;
  /** Closed by the client to move to a renewed token (no reconnect from its close). */
  retired?: boolean;
}

/** A token's max date; Infinity when its identifier cannot be read (never switched away from). */
function maxDateOf(token: Token): number {
  try {
    return decodeIdentifier(token.identifier).maxDate;
  } catch {
    return Infinity;
  }
}

export class UmbilicalClient {
  private live: Live | null = null;
  private connecting = false;
  private stopped = false;
  private attempt = 0;
  private lastContact: number;
  /** The heartbeat awaiting its ack, with the confirm() calls its ack answers. */
  private inFlight: { since: number; resolve: () => void; promise: Promise<void>; confirms: (() => void)[] } | null = null;
  private tick: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private confirmations: (() => void)[] = [];

  constructor(private readonly o: UmbilicalClientOptions) {
    this.now = o.now ?? Date.now;
    this.lastContact = this.now();
  }

  start(): void {
    this.lastContact = this.now();
    this.tick = setInterval(() => this.onTick(), Math.min(this.o.heartbeatIntervalMs, 1000));
    this.connect();
  }

  /** Sends a heartbeat now, or shares the one in flight; resolves when acked or the link drops. */
  beat(): Promise<void> {
    if (this.inFlight) return this.inFlight.promise;
    const live = this.live;
    if (!live || this.stopped) return Promise.resolve();
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.inFlight = { since: this.now(), resolve, promise, confirms: this.confirmations.splice(0) };
    try {
      live.socket.send(live.session.seal(this.o.heartbeat()));
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'heartbeat could not be sent');
      this.settle();
    }
    return promise;
  }

  /**
   * Resolves once STRAM has answered a heartbeat sent from now on (a reconnection first, if the
   * link is down), once the client stops (refused, lost), or after timeoutMs.
   */
  confirm(timeoutMs: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.confirmations.push(done);
      if (this.live && !this.inFlight) void this.beat();
    });
  }

  private confirmed(): void {
    const waiting = this.confirmations;
    this.confirmations = [];
    for (const done of waiting) done();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.tick);
    clearTimeout(this.retryTimer);
    this.settle();
    this.confirmed();
    const live = this.live;
    this.live = null;
    live?.socket.close(1000, 'container stopping');
  }

  private lastBeat = 0;

  private onTick(): void {
    if (this.stopped) return;
    const now = this.now();
    if (now - this.lastContact > this.o.heartbeatTimeoutMs) {
      this.o.logger.error({ silentMs: now - this.lastContact, timeoutMs: this.o.heartbeatTimeoutMs }, 'STRAM unreachable past the heartbeat timeout');
      this.stop();
      this.o.onLost();
      return;
    }
    // An ack overdue by two intervals means a half-open connection: drop it and reconnect.
    if (this.inFlight && now - this.inFlight.since > Math.max(2 * this.o.heartbeatIntervalMs, 1000)) {
      this.o.logger.warn('heartbeat ack overdue; reconnecting');
      this.live?.socket.terminate();
      return;
    }
    if (this.switchIfRenewed()) return;
    if (now - this.lastBeat >= this.o.heartbeatIntervalMs && this.live && !this.inFlight) {
      this.lastBeat = now;
      void this.beat();
    }
  }

  /**
   * STRAM pushed a reissued token: move the session to it before the old one's max date (when
   * STRAM would close it), between heartbeats. Runs on every tick and right after pushed
   * credentials are applied, so the switch does not wait for the next tick.
   */
  private switchIfRenewed(): boolean {
    if (this.stopped || !this.live || this.inFlight || !this.renewedToken(this.live)) return false;
    const old = this.live;
    old.retired = true;
    this.live = null;
    old.socket.close(1000, 'switching to a renewed token');
    this.o.logger.info('reconnecting to STRAM with the renewed token');
    this.attempt = 0;
    this.connect();
    return true;
  }

  private renewedToken(live: Live): boolean {
    try {
      return maxDateOf(this.o.token()) > live.maxDate;
    } catch {
      return false;
    }
  }

  /** Ends the heartbeat in flight; unless it was acked, its confirm() calls wait for the next one. */
  private settle(acked = false): void {
    const f = this.inFlight;
    this.inFlight = null;
    if (!f) return;
    if (acked) for (const done of f.confirms) done();
    else this.confirmations.push(...f.confirms);
    f.resolve();
  }

  private connect(): void {
    if (this.stopped || this.connecting || this.live) return;
    this.connecting = true;
    let token: Token;
    try {
      token = this.o.token();
    } catch (err) {
      this.connecting = false;
      this.o.logger.error({ err: (err as Error).message }, 'no usable STRAM token');
      this.scheduleReconnect();
      return;
    }
    let pending: Live | null = null;
    const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
      if (pending) this.onFrame(pending, toBuffer(data), isBinary);
    };
    const url = this.o.resolveUrl?.() ?? this.o.url;
    connectAuthenticated(url, token, { role: 'hello', container: this.o.container }, { onMessage, tls: this.o.tls?.() }).then(
      ({ socket, session }) => {
        this.connecting = false;
        pending = { socket, session, maxDate: maxDateOf(token) };
        if (this.stopped) {
          socket.close(1000, 'container stopping');
          return;
        }
        this.live = pending;
        this.attempt = 0;
        this.lastContact = this.now();
        this.o.logger.info({ url }, 'connected to STRAM');
        socket.on('error', (err) => this.o.logger.warn({ err: err.message }, 'umbilical socket error'));
        const opened = pending;
        socket.once('close', (code, reason) => {
          if (this.live?.socket === socket) this.live = null;
          if (opened.retired) return;
          this.settle();
          if (this.stopped) return;
          this.o.logger.warn({ code, reason: reason.toString('utf8') }, 'umbilical closed; reconnecting');
          this.scheduleReconnect();
        });
        this.lastBeat = this.now();
        this.requestCertificate();
        void this.beat();
      },
      (err: unknown) => {
        this.connecting = false;
        if (err instanceof ConnectionClosedError && err.remoteCode === CloseCode.unauthenticated && this.o.onRefused && !this.stopped) {
          this.o.logger.error({ url, code: err.remoteCode, reason: err.remoteReason }, 'STRAM refused the token; not retrying');
          this.stop();
          this.o.onRefused(err.remoteReason);
          return;
        }
        this.o.logger.warn({ url, err: (err as Error).message }, 'cannot reach STRAM; retrying');
        this.scheduleReconnect();
      },
    );
  }

  /** Sends a csr on the live session when the enrolment has one to send. */
  requestCertificate(): void {
    const live = this.live;
    const csr = live ? this.o.enrolment?.csr() : undefined;
    if (!live || !csr) return;
    try {
      live.socket.send(live.session.seal({ t: 'csr', csr }));
    } catch (err) {
      this.o.logger.warn({ err: (err as Error).message }, 'certificate request could not be sent; it goes with the next connection');
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt++);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private onFrame(live: Live, data: Buffer, isBinary: boolean): void {
    let ack: HeartbeatAckMessage;
    try {
      const message = openSealed(live.session, data, isBinary, this.o.enrolment ? ['heartbeat-ack', 'cert'] : ['heartbeat-ack']);
      if (message.t === 'cert') {
        this.lastContact = this.now();
        this.o.enrolment?.onCert(message);
        return;
      }
      ack = message;
    } catch (err) {
      const e = asFrameError(err, 'umbilical frame');
      this.o.logger.warn({ code: e.code, err: e.message }, 'bad frame from STRAM; dropping the connection');
      live.socket.close(e.closeCode === CloseCode.normal ? CloseCode.malformed : e.closeCode, closeReason(e));
      return;
    }
    this.lastContact = this.now();
    this.settle(true);
    if (ack.commands.length === 0) return;
    const applied = this.o.onCommands(ack.commands, live.session);
    if (ack.commands.some((c) => c.c === 'credentials')) void Promise.resolve(applied).then(() => this.switchIfRenewed());
  }
}
