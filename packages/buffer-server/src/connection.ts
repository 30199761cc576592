import type WebSocket from 'ws';
import {
  SluiceError,
  asFrameError,
  closeReason,
  closeWith,
  encode,
  isBufferScope,
  isoTime,
  parseFrame,
  streamHeader,
  toBuffer,
  type AcceptedAuth,
  type BufferScope,
  type Clock,
  type Logger,
  type Message,
  type PartitionFilter,
} from '@sluice/common';
import { controlCovers } from './authority.js';
import type { ConnectionRegistry, RegisteredConnection, Role } from './connection-registry.js';
import { scanPublished } from './partition-batch.js';
import { PublisherSession } from './publisher.js';
import type { BufferServerStats } from './stats.js';
import type { StreamStore } from './stream-store.js';
import { holderOf } from './subscriber-names.js';
import { SubscriberLink } from './subscriber.js';

const PUBLISH_TYPES = ['begin', 'data', 'end'] as const;
const SUBSCRIBE_TYPES = [] as const;
const CONTROL_TYPES = ['purge', 'reset', 'revoke', 'stats'] as const;
type ControlType = (typeof CONTROL_TYPES)[number];
/** setTimeout's largest delay; longer expiries re-arm. */
const MAX_TIMER = 2 ** 31 - 1;
/** Expiry timers wait whole seconds of this many ms first, then the exact rest (see armExpiry). */
const EXPIRY_STEP_MS = 1000;

/**
 * What a connection may use of its server: the store, the registry it claims its slot in, and
 * the server-wide operations a control connection asks for. Nothing else of the server is
 * reachable from here.
 */
export interface ConnectionHost {
  readonly log: Logger;
  readonly clock: Clock;
  readonly store: StreamStore;
  /** A connection only claims its slot and leaves it; lookups and the rest are the server's. */
  readonly registry: Pick<ConnectionRegistry<Connection>, 'claimPublisher' | 'claimSubscriber' | 'remove'>;
  /** True while publishers are not read (memory and spool full). */
  readonly paused: boolean;
  /** Called after each publisher frame with its size: pauses publishers when memory and spool are full. */
  checkPressure(received: number): void;
  purge(stream: string, w: number): void;
  reset(stream: string): void;
  revoke(seqs: number[]): void;
  stats(): BufferServerStats;
  /** Counts a connection this server closed with an error, by its code. */
  countClose(err: SluiceError): void;
}

/** One accepted socket: its role's message handling, expiry and close bookkeeping. */
export class Connection implements RegisteredConnection {
  readonly log: Logger;
  role: Role | null = null;
  stream: string | null = null;
  seq: number | null = null;
  /** The secret the token was minted from (which of the accepted secrets the proof matched). */
  secret: Buffer | null = null;
  publisher: PublisherSession | null = null;
  subscriber: SubscriberLink | null = null;
  private scope: BufferScope | null = null;
  /** Who authenticated, and when: the connection's one info line, at its end, names them. */
  private owner: string | null = null;
  private openedAt = 0;
  private expiry: NodeJS.Timeout | null = null;
  private done = false;
  readonly closed: Promise<void>;

  constructor(
    private readonly host: ConnectionHost,
    readonly ws: WebSocket,
    readonly id: number,
    readonly peer: string,
  ) {
    this.log = host.log.child({ conn: id, peer });
    this.log.debug('connected');
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.onClose(code, reason.toString('utf8'));
        resolve();
      });
    });
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  /** Sends a close frame unless already closing; stops handling messages at once. */
  close(code: number, reason: string): void {
    this.done = true;
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(code, closeReason(reason));
  }

  fail(err: SluiceError): void {
    // Already closing (replaced, or closed by its peer, and waiting for a slow peer to finish the
    // close): it has its close code; a later revoke or secret retirement has nothing to close.
    if (this.done || this.ws.readyState > 1) return;
    this.log.warn({ role: this.role, stream: this.stream, code: err.code, closeCode: err.closeCode, why: err.message }, 'closing connection');
    this.host.countClose(err);
    this.done = true;
    closeWith(this.ws, err);
  }

  accept(a: AcceptedAuth, secret: Buffer | null): void {
    if (this.done || this.ws.readyState !== 1) return;
    const { identifier, request } = a;
    // The handshake's authorize already refused a token without a buffer-server scope.
    if (!isBufferScope(identifier.scope)) return this.fail(new SluiceError('NOT_ALLOWED', 'token has no buffer-server scope'));
    this.secret = secret;
    this.seq = identifier.sequenceNumber;
    this.owner = identifier.owner;
    this.openedAt = this.host.clock.now();
    this.scope = identifier.scope;
    const s = this.host;
    switch (request.role) {
      case 'publish': {
        this.role = 'publish';
        this.stream = request.stream;
        this.armExpiry(identifier.maxDate);
        this.log.debug({ role: 'publish', stream: request.stream, window: request.window, owner: identifier.owner, seq: this.seq }, 'authenticated');
        s.registry.claimPublisher(request.stream, this);
        this.publisher = new PublisherSession(s.store.stream(request.stream), s.store, request.window);
        this.ws.send(a.welcome({ stream: request.stream, window: request.window }));
        if (s.paused) this.ws.pause();
        this.ws.on('message', (data, isBinary) => this.onPublish(toBuffer(data), isBinary));
        return;
      }
      case 'subscribe': {
        this.role = 'subscribe';
        this.stream = request.stream;
        try {
          // Before the welcome: a refused taker gets the close frame alone (docs/protocol.md "Subscriber names").
          s.registry.claimSubscriber(request.stream, request.subscriber, holderOf(identifier.scope, identifier.owner), this);
        } catch (err) {
          return this.fail(asFrameError(err, 'subscribe'));
        }
        this.armExpiry(identifier.maxDate);
        const stream = s.store.stream(request.stream);
        const from = stream.startFor(request.window);
        this.log.debug({ role: 'subscribe', stream: request.stream, subscriber: request.subscriber, window: request.window, from, owner: identifier.owner, seq: this.seq }, 'authenticated');
        // Welcome first: nothing of the stream goes out before it (docs/protocol.md "Authenticated connection").
        this.ws.send(a.welcome({ from }));
        const partitions: PartitionFilter | undefined = request.partitions;
        this.subscriber = new SubscriberLink(request.subscriber, stream, s.store, this.ws, from, partitions, (code, reason) => this.close(code, reason));
        stream.readers.add(this.subscriber);
        this.ws.on('message', (data, isBinary) => this.onOther(toBuffer(data), isBinary, SUBSCRIBE_TYPES));
        this.subscriber.pump();
        return;
      }
      case 'control':
        this.role = 'control';
        this.armExpiry(identifier.maxDate);
        this.log.debug({ role: 'control', owner: identifier.owner, seq: this.seq }, 'authenticated');
        this.ws.send(a.welcome());
        this.ws.on('message', (data, isBinary) => this.onOther(toBuffer(data), isBinary, CONTROL_TYPES));
        return;
      default:
        this.fail(new SluiceError('NOT_ALLOWED', 'a buffer server serves publish, subscribe and control only'));
    }
  }

  private onPublish(frame: Buffer, isBinary: boolean): void {
    if (this.done) return;
    try {
      // Fast path: a header scan of well-formed begin/data/end frames (indexing partitioned data
      // as it goes, partition-batch.ts); anything else gets the full parser, which names the fault
      // (common/stream-scan.ts).
      this.publisher!.handle((isBinary && scanPublished(frame)) || streamHeader(parseFrame(frame, isBinary, PUBLISH_TYPES)), frame);
    } catch (err) {
      this.fail(asFrameError(err, 'message'));
      return;
    }
    this.host.checkPressure(frame.length);
  }

  private onOther(frame: Buffer, isBinary: boolean, allowed: readonly ControlType[]): void {
    if (this.done) return;
    try {
      const m = parseFrame(frame, isBinary, allowed);
      this.control(m);
    } catch (err) {
      this.fail(asFrameError(err, 'message'));
    }
  }

  /** docs/protocol.md "Control (role `control`)": purge, reset, revoke, and stats (the server's figures), each acked. */
  private control(m: Message<ControlType>): void {
    const s = this.host;
    switch (m.t) {
      case 'purge': {
        const stream = m.stream;
        this.checkControlScope(stream);
        s.purge(stream, m.w);
        this.log.info({ stream, w: m.w }, 'purged');
        this.ws.send(encode({ t: 'ack', of: 'purge', stream, w: m.w }));
        return;
      }
      case 'reset': {
        const stream = m.stream;
        this.checkControlScope(stream);
        s.reset(stream);
        this.log.info({ stream }, 'reset');
        this.ws.send(encode({ t: 'ack', of: 'reset', stream }));
        return;
      }
      case 'revoke': {
        const seqs = m.seqs;
        this.ws.send(encode({ t: 'ack', of: 'revoke', count: seqs.length }));
        this.log.info({ count: seqs.length }, 'revoked tokens');
        s.revoke(seqs);
        return;
      }
      case 'stats':
        this.ws.send(encode({ t: 'ack', of: 'stats', ...s.stats() }));
        return;
    }
  }

  private checkControlScope(stream: string): void {
    if (this.scope && !controlCovers(this.scope, stream)) {
      throw new SluiceError('OUT_OF_SCOPE', `stream "${stream.slice(0, 40)}" is not in this control token's scope`);
    }
  }

  /** A connection stays open only while its token is valid (docs/protocol.md "Authenticated connection"). */
  private armExpiry(maxDate: number): void {
    const clock = this.host.clock;
    const delay = Math.min(Math.max(maxDate - clock.now(), 0), MAX_TIMER);
    // Node keeps one timer list per distinct delay: waiting whole seconds first lets the
    // connections opened within a second with tokens of one expiry share a list instead of each
    // making (and, at close, unlinking) its own. Once under a second is left, it waits the exact
    // rest, so the connection still closes at maxDate.
    const wait = delay > EXPIRY_STEP_MS ? delay - (delay % EXPIRY_STEP_MS) : delay;
    this.expiry = setTimeout(() => {
      if (clock.now() >= maxDate) this.fail(new SluiceError('TOKEN_EXPIRED', `token expired at ${isoTime(maxDate)}; reconnect with a renewed token`));
      else this.armExpiry(maxDate);
    }, wait);
    this.expiry.unref();
  }

  private onClose(code: number, reason: string): void {
    this.done = true;
    if (this.expiry) clearTimeout(this.expiry);
    this.host.registry.remove(this);
    this.subscriber?.detach();
    // One info line per authenticated connection, at its end, like an access log: who, what, how
    // long and how it ended (the 'authenticated' line at its start is debug).
    if (this.role) {
      this.log.info({ role: this.role, stream: this.stream, subscriber: this.subscriber?.name, owner: this.owner, seq: this.seq, openMs: this.host.clock.now() - this.openedAt, code, reason }, 'closed');
    }
    else this.log.debug({ code, reason }, 'closed before auth');
  }
}

