import { connectAuthenticated, encode, type Token } from '@sluice/common';
import { ClientSocket } from './client-socket.js';
import { DataCoalescer } from './coalescer.js';

export interface PublisherOptions {
  url: string;
  token: Token;
  stream: string;
  /** The first window this publisher will send; stored windows from it on are replaced. */
  window: number;
  onClose?(code: number, reason: string): void;
  handshakeTimeoutMs?: number;
}

export interface Publisher {
  begin(w: number): void;
  /**
   * One batch of tuples of window w; `p` (partition values) is parallel to tuples. Empty batches
   * are not sent; small ones are coalesced into fewer frames (coalescer.ts), sent before the
   * window's end, before `ready()` waits for room and at the latest after the current event-loop turn.
   */
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
    o.handshakeTimeoutMs === undefined ? {} : { timeoutMs: o.handshakeTimeoutMs },
  );
  const cs = new ClientSocket(conn.socket, o.onClose);
  // A deferred send fails only when the connection is closing: its close (onClose, closed) says why.
  const held = new DataCoalescer({ send: (frame) => cs.send(frame), onDeferredError: () => {} });
  return {
    begin: (w) => {
      held.flush();
      cs.send(encode({ t: 'begin', w }));
    },
    data: (w, tuples, p) => held.data(w, tuples, p),
    end: (w) => {
      held.flush();
      cs.send(encode({ t: 'end', w }));
    },
    ready: () => {
      // Tuples held stay held while there is room (they go out with the next frames or this turn's
      // end); before waiting for room they go out, so nothing is held through a wait.
      if (held.held > 0 && cs.socket.bufferedAmount >= READY_BELOW) {
        try {
          held.flush();
        } catch (err) {
          return Promise.reject(err);
        }
      }
      return cs.ready(READY_BELOW);
    },
    closed: cs.closed,
    close: async () => {
      try {
        held.flush();
      } catch {
        // Already closing: nothing held can be sent any more.
      }
      await cs.close();
    },
  };
}
