import {
  ConnectionClosedError,
  STRAM_SAN_NAME,
  connectAuthenticated,
  openCredentials,
  openSealed,
  readCredentials,
  sanUri,
  toBuffer,
  tokenFromText,
  type AuthRequest,
  type CertMessage,
  type ClientTls,
  type Command,
  type Credentials,
  type HeartbeatAckMessage,
  type HeartbeatMessage,
  type Session,
  type Token,
} from '@sluice/common';
import type WebSocket from 'ws';

/**
 * A scripted container: speaks the umbilical exactly as a real container does (handshake, sealed
 * heartbeats, sealed acks) but runs no operators. Tests use it to probe STRAM's refusals; the
 * benchmarks use it as a heartbeat load generator. Importable as `@sluice/stram/testing`.
 */
export interface FakeContainerOptions {
  url: string;
  token: Token;
  container: string;
  /** Override the auth request (e.g. to claim another container). */
  request?: AuthRequest;
  /** A `wss://` umbilical: what to trust and present (fromCredentials trusts the file's CA roots and STRAM's name). */
  tls?: ClientTls | undefined;
}

/** A request in flight: settled by its answer, or refused when the connection ends first. */
interface Waiter<T> {
  resolve(value: T): void;
  reject(err: ConnectionClosedError): void;
}

export class FakeContainer {
  private readonly waiters: Waiter<HeartbeatAckMessage>[] = [];
  private readonly certWaiters: Waiter<CertMessage>[] = [];
  /** Set once the connection has ended: later requests are refused with it at once. */
  private closedError: ConnectionClosedError | undefined;
  /**
   * Every ack that carried commands, in order (tests read what STRAM told the container). An empty
   * ack says nothing more than that it came: keeping those would grow without end under the
   * benchmarks' hours of heartbeats.
   */
  readonly acks: HeartbeatAckMessage[] = [];
  /** The credentials revision it reports: its file's, then that of each push as soon as the ack carrying it arrives. */
  applied = 0;
  /** Settles with the close code and reason when the connection ends. */
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(
    readonly container: string,
    readonly socket: WebSocket,
    readonly session: Session,
  ) {
    this.closed = new Promise((resolve) => {
      socket.once('close', (code, reason) => {
        const closed = { code, reason: reason.toString('utf8') };
        // One listener for the connection, not one per request: every request still waiting is refused.
        this.closedError = new ConnectionClosedError(closed.code, closed.reason);
        for (const w of this.waiters.splice(0)) w.reject(this.closedError);
        for (const w of this.certWaiters.splice(0)) w.reject(this.closedError);
        resolve(closed);
      });
    });
  }

  private awaitAnswer<T>(queue: Waiter<T>[], send: () => void): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.closedError) return reject(this.closedError);
      queue.push({ resolve, reject });
      send();
    });
  }

  static async connect(o: FakeContainerOptions): Promise<FakeContainer> {
    let fake: FakeContainer | undefined;
    const early: Buffer[] = [];
    const conn = await connectAuthenticated(o.url, o.token, o.request ?? { role: 'hello', container: o.container }, {
      tls: o.tls,
      onMessage: (data, isBinary) => {
        if (!isBinary) return;
        if (fake) fake.onFrame(toBuffer(data));
        else early.push(toBuffer(data));
      },
    });
    fake = new FakeContainer(o.container, conn.socket, conn.session);
    for (const b of early) fake.onFrame(b);
    return fake;
  }

  /** Connects with the STRAM token and container id of a credentials file. */
  static async fromCredentials(path: string, overrides: Partial<FakeContainerOptions> = {}): Promise<FakeContainer> {
    const c = readCredentials(path);
    const tls = c.caRoots ? { ca: c.caRoots.join(''), server: sanUri(c.app, STRAM_SAN_NAME) } : undefined;
    const fake = await FakeContainer.connect({ url: c.stram, token: tokenFromText(c.stramToken), container: c.container, tls, ...overrides });
    fake.applied = c.revision ?? 0;
    return fake;
  }

  /** Tries to connect; resolves with the close code and reason of a refusal (throws if welcomed). */
  static async refusal(o: FakeContainerOptions): Promise<{ code: number; reason: string }> {
    try {
      const fake = await FakeContainer.connect(o);
      fake.close();
    } catch (err) {
      if (err instanceof ConnectionClosedError) return { code: err.remoteCode, reason: err.remoteReason };
      throw err;
    }
    throw new Error(`connection as ${o.container} was welcomed; expected a refusal`);
  }

  private onFrame(data: Buffer): void {
    const message = openSealed(this.session, data, true, ['heartbeat-ack', 'cert']);
    if (message.t === 'cert') {
      this.certWaiters.shift()?.resolve(message);
      return;
    }
    const ack = message;
    if (ack.commands.length > 0) this.acks.push(ack);
    for (const cmd of ack.commands) if (cmd.c === 'credentials') this.applied = Math.max(this.applied, this.openCredentials(cmd).revision ?? 0);
    this.waiters.shift()?.resolve(ack);
  }

  /** Sends a sealed heartbeat and resolves with STRAM's ack (rejects if the connection closes first). */
  heartbeat(fields: Partial<HeartbeatMessage> = {}): Promise<HeartbeatAckMessage> {
    const message: HeartbeatMessage = { t: 'heartbeat', container: this.container, bufferServer: null, state: 'running', operators: [], credentialsRevision: this.applied, ...fields };
    return this.request(this.session.seal(message));
  }

  /** Sends a sealed csr and resolves with the certificate STRAM answers (rejects if it closes the connection instead). */
  enrol(csr: Uint8Array): Promise<CertMessage> {
    return this.awaitAnswer(this.certWaiters, () => this.socket.send(this.session.seal({ t: 'csr', csr })));
  }

  /** Sends raw bytes (tampered frames, replays) and resolves with the ack if one comes. */
  request(frame: Buffer): Promise<HeartbeatAckMessage> {
    return this.awaitAnswer(this.waiters, () => this.socket.send(frame));
  }

  /** Opens sealed credentials pushed by STRAM. */
  openCredentials(command: Extract<Command, { c: 'credentials' }>): Credentials {
    return openCredentials(this.session.credentialsKey, command.box) as Credentials;
  }

  close(): void {
    this.socket.close(1000, 'done');
  }
}
