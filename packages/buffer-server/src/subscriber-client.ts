import type WebSocket from 'ws';
import { SluiceError, asFrameError, closeReason, connectAuthenticated, parseFrame, toBuffer, type ClientTls, type Message, type Token } from '@sluice/common';
import { ClientSocket } from './client-socket.js';

export interface SubscriberOptions {
  url: string;
  token: Token;
  stream: string;
  /** Names this subscriber; a newer connection with the same name replaces this one (4409). */
  subscriber: string;
  /** The first window wanted; the welcome's `from` (Subscriber.from) says which one comes first. */
  window: number;
  partitions?: { mask: number; keys: number[] };
  onBegin(w: number): void;
  onData(w: number, tuples: unknown[], p?: number[]): void;
  /** May return a promise: nothing more is read from the socket until it settles (backpressure). */
  onEnd(w: number): void | Promise<void>;
  onClose?(code: number, reason: string): void;
  handshakeTimeoutMs?: number;
  /** Mutual TLS to a wss:// server, and the SAN it must carry (docs/protocol.md "Transport encryption"). */
  tls?: ClientTls | undefined;
}

export interface Subscriber {
  /** The first window this subscription delivers. */
  readonly from: number;
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

const STREAM_TYPES = ['begin', 'data', 'end'] as const;

/** Subscribes to one stream (docs/protocol.md "Subscriber"). */
export async function connectSubscriber(o: SubscriberOptions): Promise<Subscriber> {
  const reader = new StreamReaderClient(o);
  const conn = await connectAuthenticated(
    o.url,
    o.token,
    {
      role: 'subscribe',
      stream: o.stream,
      subscriber: o.subscriber,
      window: o.window,
      ...(o.partitions ? { partitions: o.partitions } : {}),
    },
    // Frames may follow the welcome in the same read: the handler must be on before it resolves.
    { onMessage: reader.onMessage, tls: o.tls, ...(o.handshakeTimeoutMs === undefined ? {} : { timeoutMs: o.handshakeTimeoutMs }) },
  );
  reader.bind(conn.socket);
  const cs = new ClientSocket(conn.socket, o.onClose);
  const from = conn.welcome['from'];
  return { from: typeof from === 'number' ? from : o.window, closed: cs.closed, close: () => cs.close() };
}

/** Delivers frames to the callbacks in order, holding the socket while an onEnd promise runs. */
class StreamReaderClient {
  private queue: Buffer[] = [];
  private busy = false;
  private socket: WebSocket | null = null;

  constructor(private readonly o: SubscriberOptions) {}

  readonly onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    const frame = toBuffer(data);
    if (!isBinary) return this.fail(new SluiceError('MALFORMED_FRAME', 'text frame from buffer server'));
    if (this.busy) {
      this.queue.push(frame);
      return;
    }
    this.deliver(frame);
  };

  bind(socket: WebSocket): void {
    this.socket = socket;
    if (this.busy) socket.pause();
  }

  private deliver(frame: Buffer): void {
    let m: Message<(typeof STREAM_TYPES)[number]>;
    try {
      m = parseFrame(frame, true, STREAM_TYPES);
    } catch (err) {
      return this.fail(asFrameError(err, 'buffer-server frame'));
    }
    const w = m.w;
    if (m.t === 'begin') this.o.onBegin(w);
    else if (m.t === 'data') this.o.onData(w, m.tuples, m.p);
    else {
      const r = this.o.onEnd(w);
      if (r && typeof (r as Promise<void>).then === 'function') {
        this.busy = true;
        this.socket?.pause();
        (r as Promise<void>).then(
          () => this.drain(),
          (err: unknown) => this.fail(new SluiceError('CONNECTION_CLOSED', `onEnd failed: ${(err as Error).message}`)),
        );
      }
    }
  }

  private drain(): void {
    this.busy = false;
    while (!this.busy && this.queue.length > 0) this.deliver(this.queue.shift()!);
    if (!this.busy) this.socket?.resume();
  }

  private fail(err: SluiceError): void {
    this.socket?.close(err.closeCode === 1000 ? 1011 : err.closeCode, closeReason(err));
  }
}
