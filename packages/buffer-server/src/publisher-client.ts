import { connectAuthenticated, encode, type ClientTls, type Token } from '@sluice/common';
import { ClientSocket } from './client-socket.js';

export interface PublisherOptions {
  url: string;
  token: Token;
  stream: string;
  /** The first window this publisher will send; stored windows from it on are replaced. */
  window: number;
  onClose?(code: number, reason: string): void;
  handshakeTimeoutMs?: number;
  /** Mutual TLS to a wss:// server, and the SAN it must carry (docs/protocol.md "Transport encryption"). */
  tls?: ClientTls | undefined;
}

export interface Publisher {
  begin(w: number): void;
  /** One batch of tuples of window w; `p` (partition values) is parallel to tuples. Empty batches are not sent. */
  data(w: number, tuples: unknown[], p?: number[]): void;
  end(w: number): void;
  /** Resolves when the socket can take more (bufferedAmount below a threshold). */
  ready(): Promise<void>;
  /** Resolves when the connection has closed, for whatever reason. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** Room the publisher may fill before `ready()` waits. */
const READY_BELOW = 1024 * 1024;

/** Connects as the publisher of one stream (docs/protocol.md "Publisher"). */
export async function connectPublisher(o: PublisherOptions): Promise<Publisher> {
  const conn = await connectAuthenticated(
    o.url,
    o.token,
    { role: 'publish', stream: o.stream, window: o.window },
    { tls: o.tls, ...(o.handshakeTimeoutMs === undefined ? {} : { timeoutMs: o.handshakeTimeoutMs }) },
  );
  const cs = new ClientSocket(conn.socket, o.onClose);
  return {
    begin: (w) => cs.send(encode({ t: 'begin', w })),
    data: (w, tuples, p) => {
      if (tuples.length === 0) return;
      cs.send(encode(p ? { t: 'data', w, tuples, p } : { t: 'data', w, tuples }));
    },
    end: (w) => cs.send(encode({ t: 'end', w })),
    ready: () => cs.ready(READY_BELOW),
    closed: cs.closed,
    close: () => cs.close(),
  };
}
