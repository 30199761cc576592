import type WebSocket from 'ws';
import {
  SluiceError,
  asFrameError,
  closeReason,
  closeWith,
  encode,
  parseFrame,
  scanStreamFrame,
  streamHeader,
  toBuffer,
  type AcceptedAuth,
  type BufferScope,
  type Logger,
  type Message,
  type PartitionFilter,
} from '@sluice/common';
import { controlCovers } from './authority.js';
import { PublisherSession } from './publisher.js';
import type { BufferServerImpl } from './server.js';
import { SubscriberLink } from './subscriber.js';

const PUBLISH_TYPES = ['begin', 'data', 'end'] as const;
const SUBSCRIBE_TYPES = [] as const;
const CONTROL_TYPES = ['purge', 'reset', 'revoke', 'stats'] as const;
type ControlType = (typeof CONTROL_TYPES)[number];
/** setTimeout's largest delay; longer expiries re-arm. */
const MAX_TIMER = 2 ** 31 - 1;

/** One accepted socket: its role's message handling, expiry and close bookkeeping. */
export class Connection {
  readonly log: Logger;
  role: 'publish' | 'subscribe' | 'control' | null = null;
  stream: string | null = null;
  seq: number | null = null;
  /** The secret the token was minted from (which of the accepted secrets the proof matched). */
  secret: Buffer | null = null;
  publisher: PublisherSession | null = null;
  subscriber: SubscriberLink | null = null;
  private subscriberKey: string | null = null;
  private scope: BufferScope | null = null;
  private expiry: NodeJS.Timeout | null = null;
  private done = false;
  readonly closed: Promise<void>;

  constructor(
    private readonly server: BufferServerImpl,
    readonly ws: WebSocket,
    readonly id: number,
    readonly peer: string,
  ) {
    this.log = server.log.child({ conn: id, peer });
    this.log.debug('connected');
    ws.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.onClose(code, reason.toString('utf8'));
        resolve();
      });
    });
  }

  /** Sends a close frame unless already closing; stops handling messages at once. */
  close(code: number, reason: string): void {
    this.done = true;
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(code, closeReason(reason));
  }

  fail(err: SluiceError): void {
    this.log.warn({ role: this.role, stream: this.stream, code: err.code, closeCode: err.closeCode, why: err.message }, 'closing connection');
    this.done = true;
    closeWith(this.ws, err);
  }

  accept(a: AcceptedAuth, secret: Buffer | null): void {
    if (this.done || this.ws.readyState !== 1) return;
    this.secret = secret;
    const request = a.request;
    this.seq = a.identifier.sequenceNumber;
    this.scope = a.identifier.scope as BufferScope; // the authority refused any other scope (authority.ts authorize)
    this.armExpiry(a.identifier.maxDate);
    const s = this.server;
    switch (request.role) {
      case 'publish': {
        this.role = 'publish';
        this.stream = request.stream;
        this.log.info({ role: 'publish', stream: request.stream, window: request.window, owner: a.identifier.owner, seq: this.seq }, 'authenticated');
        const old = s.publishers.get(request.stream);
        if (old) old.close(4409, `replaced by a newer publisher of stream "${request.stream.slice(0, 40)}"`);
        s.publishers.set(request.stream, this);
        this.publisher = new PublisherSession(s.store.stream(request.stream), s.store, request.window);
        this.ws.send(a.welcome({ stream: request.stream, window: request.window }));
        if (s.paused) this.ws.pause();
        this.ws.on('message', (data, isBinary) => this.onPublish(toBuffer(data), isBinary));
        return;
      }
      case 'subscribe': {
        this.role = 'subscribe';
        this.stream = request.stream;
        const key = `${request.stream}\u0000${request.subscriber}`;
        const old = s.subscribers.get(key);
        if (old) old.close(4409, `replaced by a newer connection of subscriber "${request.subscriber.slice(0, 40)}"`);
        s.subscribers.set(key, this);
        this.subscriberKey = key;
        const stream = s.store.stream(request.stream);
        const from = stream.startFor(request.window);
        this.log.info({ role: 'subscribe', stream: request.stream, subscriber: request.subscriber, window: request.window, from, owner: a.identifier.owner, seq: this.seq }, 'authenticated');
        // Welcome first: nothing of the stream goes out before it (DESIGN.md step 3).
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
        this.log.info({ role: 'control', owner: a.identifier.owner, seq: this.seq }, 'authenticated');
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
      // Fast path: a header scan of well-formed begin/data/end frames; anything else gets the
      // full parser, which names the fault (common/stream-scan.ts).
      this.publisher!.handle((isBinary && scanStreamFrame(frame)) || streamHeader(parseFrame(frame, isBinary, PUBLISH_TYPES)), frame);
    } catch (err) {
      this.fail(asFrameError(err, 'message'));
      return;
    }
    this.server.checkPressure();
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

  /** DESIGN.md "Control": purge, reset, revoke, and stats (the server's figures), each acked. */
  private control(m: Message<ControlType>): void {
    const s = this.server;
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

  private armExpiry(maxDate: number): void {
    const delay = maxDate - this.server.o.clock.now();
    this.expiry = setTimeout(() => {
      if (this.server.o.clock.now() >= maxDate) this.server.expire(this, maxDate);
      else this.armExpiry(maxDate);
    }, Math.min(Math.max(delay, 0), MAX_TIMER));
    this.expiry.unref();
  }

  private onClose(code: number, reason: string): void {
    this.done = true;
    if (this.expiry) clearTimeout(this.expiry);
    const s = this.server;
    s.connections.delete(this);
    if (this.role === 'publish' && this.stream !== null && s.publishers.get(this.stream) === this) s.publishers.delete(this.stream);
    if (this.subscriber) {
      this.subscriber.detach();
      if (this.subscriberKey !== null && s.subscribers.get(this.subscriberKey) === this) s.subscribers.delete(this.subscriberKey);
    }
    if (this.role) this.log.info({ role: this.role, stream: this.stream, code, reason }, 'closed');
    else this.log.debug({ code, reason }, 'closed before auth');
  }
}

