import type { IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import {
  HandshakeGate,
  ServerHandshake,
  SluiceError,
  acceptAuthenticated,
  bindingOf,
  createWsHttpServer,
  isBufferScope,
  peerNameRefusal,
  type AcceptedAuth,
  type TlsMaterial,
  type TokenAuthority,
  type WsHttpServer,
  type BoundNames,
  type Clock,
  type Logger,
} from '@sluice/common';
import { BufferTokenAuthority } from './authority.js';
import { ConnectionRegistry } from './connection-registry.js';
import { Connection, type ConnectionHost } from './connection.js';
import { checkBoundNames, resolveOptions, type BufferServerOptions, type ResolvedOptions } from './options.js';
import { Spool } from './spool.js';
import { StreamStore } from './stream-store.js';
import { collectStats, type BufferServerStats, type StatsSource } from './stats.js';

export interface BufferServer {
  readonly id: string;
  /** ws://host:port, or wss://host:port under TLS */
  readonly url: string;
  /** True when the server speaks mutual TLS. */
  readonly tls: boolean;
  /**
   * Serves a new certificate (a renewal) or trusts new roots (a rotation) from the next
   * connection on; live connections are untouched. Only on a server started with `tls`.
   */
  setTls(material: TlsMaterial): void;
  readonly port: number;
  stats(): BufferServerStats;
  /** Drops windows of `stream` up to and including `w` (the committed window). */
  purge(stream: string, w: number): void;
  /** Drops a stream: its data, and its publisher and subscribers are closed (1012) to start over. */
  reset(stream: string): void;
  /** Refuses tokens with these sequence numbers from now on and closes connections using them (4401). */
  revoke(seqs: number[]): void;
  /**
   * Secret rotation (docs/protocol.md "Secret rotation"): `secret` becomes current — the one new
   * tokens should be minted from — and every secret accepted so far stays accepted (at most 4 in
   * all; the oldest beyond that is retired at once) until `retireSecrets`. Live connections are
   * untouched.
   */
  rotateSecret(secret: Uint8Array): void;
  /**
   * Stops accepting every previous secret not in `keep` (the current one is always kept): tokens
   * minted from them are refused (4401), and live connections made with them are closed 4401
   * with a reason saying their secret was retired. Call it once every holder has switched.
   */
  retireSecrets(keep?: Uint8Array[]): void;
  /** How many secrets are accepted now (the current one included). */
  readonly acceptedSecrets: number;
  /**
   * Subscribe attempts refused since start (4403 SUBSCRIBER_NAME_TAKEN) because the name was
   * bound to another container or owner (docs/protocol.md "Subscriber names"); also in stats().
   */
  readonly takeoversRefused: number;
  /**
   * Live connections this server closed with an error since start, by error code (TOKEN_EXPIRED,
   * SECRET_RETIRED, TOKEN_REVOKED, ...): what a container reports instead of its log lines
   * (docs/protocol.md "Umbilical commands and counters").
   */
  readonly closesByCode: ReadonlyMap<string, number>;
  /**
   * Reserves more subscriber names for their containers (as the `boundNames` option does at
   * start; docs/protocol.md "Subscriber names"): from now on another holder is refused 4403
   * SUBSCRIBER_NAME_TAKEN, and a connection of another holder that took such a name before it
   * was reserved is closed with that code. Throws BAD_CONFIG on a malformed table.
   */
  reserveNames(names: BoundNames): void;
  /** Closes every connection (1001), stops listening, removes spool files. */
  close(): Promise<void>;
}

/** Starts a buffer server (docs/protocol.md "Buffer server stream"); resolves once it listens. */
export async function startBufferServer(options: BufferServerOptions): Promise<BufferServer> {
  const o = resolveOptions(options);
  const server = new BufferServerImpl(o);
  await server.listen();
  return server;
}

function listenProblem(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'the port is in use by another process';
  if (err.code === 'EACCES') return 'permission denied (ports below 1024 need privileges)';
  if (err.code === 'EADDRNOTAVAIL') return 'no network interface of this machine has that address';
  return err.message;
}

/** How often paused publishers are reconsidered when nothing else wakes them. */
const RESUME_POLL_MS = 50;

class BufferServerImpl implements BufferServer, ConnectionHost, StatsSource {
  readonly id: string;
  readonly store: StreamStore;
  readonly registry: ConnectionRegistry<Connection>;
  readonly log: Logger;
  readonly clock: Clock;
  readonly memoryLimit: number;
  readonly spoolLimit: number;
  /** Bounds on connections not yet welcomed, and their refusals by code (docs/protocol.md "Limits before welcome"). */
  readonly gate: HandshakeGate;
  private readonly authority: BufferTokenAuthority;
  private readonly spool: Spool;
  private readonly http: WsHttpServer;
  private readonly wss: WebSocketServer;
  private nextConn = 0;
  private address: AddressInfo | null = null;
  private closing: Promise<void> | null = null;
  paused = false;
  pauses = 0;
  private resumeTimer: NodeJS.Timeout | null = null;
  private readonly closes = new Map<string, number>();

  constructor(private readonly o: ResolvedOptions) {
    this.id = o.id;
    this.log = o.logger.child({ bs: o.id });
    this.clock = o.clock;
    this.memoryLimit = o.memoryLimit;
    this.spoolLimit = o.spoolLimit;
    this.registry = new ConnectionRegistry<Connection>(o.subscriberNamesPerHolder);
    this.registry.reserve(o.boundNames);
    this.spool = new Spool(o.spoolDir, o.id, o.spoolLimit);
    this.store = new StreamStore(this.spool, { memoryLimit: o.memoryLimit });
    this.authority = new BufferTokenAuthority(o.id, [o.secret, ...o.previousSecrets], o.clock);
    this.gate = new HandshakeGate(o);
    this.http = createWsHttpServer({
      tls: o.tls,
      onRequest: (_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('a Sluice buffer server speaks WebSocket only\n');
      },
      onTlsRefused: (err, peer) => {
        this.gate.refused(err.code);
        this.log.warn({ peer, code: err.code, reason: err.message }, 'TLS client refused');
      },
    });
    // Bad HTTP never reaches ws; answer 400 and drop the socket without logging each one loudly.
    this.http.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
    // The 101 response and the challenge (sent as the connection opens) leave in one segment:
    // one write and one wake-up of the client per handshake instead of two.
    this.http.prependListener('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.cork();
      process.nextTick(() => socket.uncork());
    });
    this.wss = new WebSocketServer({ server: this.http, perMessageDeflate: false, maxPayload: o.maxPayload, clientTracking: false });
    this.wss.on('connection', (ws, req) => this.onConnection(ws, req));
    // Until it listens, listen() reports the server's errors (LISTEN_FAILED) to the caller.
    this.wss.on('error', (err) => {
      if (this.address) this.log.error({ err }, 'websocket server error');
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException): void => {
        // It never served anyone: leave nothing behind.
        this.spool.removeAll();
        reject(new SluiceError('LISTEN_FAILED', `cannot listen on ${this.o.host}:${this.o.port}: ${listenProblem(err)}`, { cause: err }));
      };
      this.http.once('error', fail);
      this.http.listen(this.o.port, this.o.host, () => {
        this.http.off('error', fail);
        this.address = this.http.address() as AddressInfo;
        this.log.info({ url: this.url, memoryLimit: this.o.memoryLimit, spoolLimit: this.o.spoolLimit, spoolDir: this.spool.directory, boundNames: this.registry.boundNames }, 'buffer server listening');
        resolve();
      });
    });
  }

  get port(): number {
    return this.address?.port ?? 0;
  }

  get url(): string {
    const host = this.address?.family === 'IPv6' ? `[${this.address.address}]` : (this.address?.address ?? this.o.host);
    return `${this.tls ? 'wss' : 'ws'}://${host}:${this.port}`;
  }

  get tls(): boolean {
    return this.o.tls !== undefined;
  }

  setTls(material: TlsMaterial): void {
    if (!this.o.tls) throw new SluiceError('BAD_CONFIG', 'this buffer server was started without TLS; it cannot take a certificate');
    (this.http as HttpsServer).setSecureContext(material);
    this.log.info('buffer server certificate or roots replaced; new connections use them');
  }

  private onConnection(ws: WebSocket, req: IncomingMessage): void {
    const peer = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`;
    const conn = new Connection(this, ws, ++this.nextConn, peer);
    this.registry.add(conn);
    if (this.closing) {
      ws.close(1001, 'server shutting down');
      return;
    }
    acceptAuthenticated(ws, new ServerHandshake(this.id, this.tls ? this.tlsAuthority(req) : this.authority, undefined, bindingOf(req)), {
      timeoutMs: this.o.handshakeTimeoutMs,
      gate: this.gate,
      // The handshake ran synchronously against the accepted secrets as they are now.
      onAccepted: (accepted: AcceptedAuth) => conn.accept(accepted, this.authority.secrets[accepted.keyIndex] ?? null),
      onRefused: (err: SluiceError) => conn.log.warn({ code: err.code, closeCode: err.closeCode }, 'auth refused'),
    });
  }

  /** The token rules, plus: a token naming a container needs that container's certificate (docs/protocol.md "Transport encryption"). */
  private tlsAuthority(req: IncomingMessage): TokenAuthority {
    const a = this.authority;
    return {
      password: (idBytes, identifier) => a.password(idBytes, identifier),
      checkLive: (identifier) => a.checkLive(identifier),
      authorize: (identifier, request) => {
        a.authorize(identifier, request);
        const refusal = peerNameRefusal(req, isBufferScope(identifier.scope) ? identifier.scope.container : undefined);
        if (refusal) throw refusal;
      },
    };
  }

  /** Publishers stop being read when memory and spool are full (docs/protocol.md "Bounds"). */
  checkPressure(): void {
    if (this.paused || !this.store.overLimit) return;
    this.paused = true;
    this.pauses++;
    this.log.warn({ memoryBytes: this.store.memoryBytes, spoolBytes: this.store.spoolBytes }, 'memory and spool full: pausing publishers');
    for (const c of this.registry.publisherConnections()) c.pause();
    this.resumeTimer = setInterval(() => this.checkResume(), RESUME_POLL_MS);
  }

  checkResume(): void {
    if (!this.paused || !this.store.belowResume) return;
    this.paused = false;
    if (this.resumeTimer) clearInterval(this.resumeTimer);
    this.resumeTimer = null;
    this.log.info({ memoryBytes: this.store.memoryBytes, spoolBytes: this.store.spoolBytes }, 'room again: resuming publishers');
    for (const c of this.registry.publisherConnections()) c.resume();
  }

  stats(): BufferServerStats {
    return collectStats(this);
  }

  purge(stream: string, w: number): void {
    this.store.purge(this.store.stream(stream), w);
    this.checkResume();
  }

  reset(stream: string): void {
    const s = this.store.get(stream);
    if (s) this.store.reset(s);
    for (const c of this.registry.onStream(stream)) c.close(1012, `stream "${stream.slice(0, 40)}" was reset; reconnect to start over`);
    this.checkResume();
  }

  revoke(seqs: number[]): void {
    this.authority.revoke(seqs);
    for (const c of this.registry.withSeqs(new Set(seqs))) {
      c.fail(new SluiceError('TOKEN_REVOKED', `token ${c.seq} was revoked; its holder must get new credentials`));
    }
  }

  get acceptedSecrets(): number {
    return this.authority.secrets.length;
  }

  get takeoversRefused(): number {
    return this.registry.takeoversRefused;
  }

  get closesByCode(): ReadonlyMap<string, number> {
    return this.closes;
  }

  countClose(err: SluiceError): void {
    this.closes.set(err.code, (this.closes.get(err.code) ?? 0) + 1);
  }

  reserveNames(names: BoundNames): void {
    checkBoundNames(names, 'reserveNames');
    const before = this.registry.takeoversRefused;
    this.registry.reserve(names);
    const reserved = Object.values(names).reduce((n, byName) => n + Object.keys(byName).length, 0);
    this.log.info({ reserved, boundNames: this.registry.boundNames, evicted: this.registry.takeoversRefused - before }, 'subscriber names reserved');
  }

  rotateSecret(secret: Uint8Array): void {
    if (secret.length !== 32) throw new SluiceError('BAD_CONFIG', 'a buffer-server secret must be 32 bytes');
    const dropped = this.authority.rotate(secret);
    this.log.info({ accepted: this.authority.secrets.length }, 'buffer-server secret rotated; previous secrets still accepted');
    this.closeRetired(dropped);
  }

  retireSecrets(keep: Uint8Array[] = []): void {
    const retired = this.authority.retire(keep);
    if (retired.length === 0) return;
    this.log.info({ retired: retired.length, accepted: this.authority.secrets.length }, 'previous buffer-server secrets retired');
    this.closeRetired(retired);
  }

  private closeRetired(retired: Buffer[]): void {
    if (retired.length === 0) return;
    for (const c of this.registry.withSecrets(retired)) {
      c.fail(new SluiceError('SECRET_RETIRED', 'the buffer-server secret of this token was retired; reconnect with a token minted from the current secret'));
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.resumeTimer) clearInterval(this.resumeTimer);
    const open = this.registry.connections();
    for (const c of open) c.close(1001, 'server shutting down');
    const kill = setTimeout(() => {
      for (const c of this.registry.connections()) c.ws.terminate();
    }, 2000);
    await Promise.all(open.map((c) => c.closed));
    clearTimeout(kill);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      // A peer that sent half an HTTP request is no ws connection yet: close() would wait for it
      // until Node's request timeout (and a process awaiting it would end as if it had exited 0).
      this.http.closeAllConnections();
    });
    this.store.clear();
    this.spool.removeAll();
    this.log.info('buffer server stopped; spool removed');
  }
}
