import { decodeIdentifier, type Logger, type Token } from '@sluice/common';
import type { Publisher, PublisherOptions } from '@sluice/buffer-server';
import { ContainerEvent, type EventCounter } from './counters.js';
import type { OutputSink } from './emitter.js';

/**
 * The publisher of one output stream on this container's own buffer server, kept alive across
 * publish-token lifetimes (docs/architecture.md "Token lifetimes and rotation"). The container mints its publish tokens with the app's max
 * lifetime; the buffer server closes a connection whose token passes its max date (4401 expired).
 * So at 75% of the token's life the link re-registers with a fresh token, at a window boundary:
 * right after `end(w)` it closes the old connection cleanly (the server has then stored every
 * message up to and including that end: frames are processed in order, before the close) and
 * connects anew from window w+1. The server replaces stored windows ≥ w+1 — none, it has not
 * received any — so no tuple is lost or duplicated. What the operator sends meanwhile is queued
 * and `ready()` waits for the switch (backpressure), so the queue stays within one window's start.
 *
 * A connection closed by anything but the link itself (expired, server shutting down) is lost:
 * the stream cannot resume without the windows in flight, so `onLost` reports it and later sends
 * are dropped; the container is then replaced and replays from its checkpoint.
 */

export interface PublisherLinkOptions {
  url: string;
  stream: string;
  /** The first window the operator publishes (its restore window + 1). */
  window: number;
  /** A fresh publish token for the stream (minted by the container). */
  token(): Token;
  connect(o: PublisherOptions): Promise<Publisher>;
  /** The connection closed under the link (not at its request). */
  onLost(code: number, reason: string): void;
  /** Where the link counts its re-registrations (counters.ts). */
  counter?: EventCounter;
  logger: Logger;
  now?: () => number;
}

/** Fraction of a publish token's life after which the link re-registers with a fresh one. */
export const PUBLISH_RENEW_AT = 0.75;
const CONNECT_ATTEMPTS = 5;
const BACKOFF_MIN_MS = 100;

export class PublisherLink implements OutputSink {
  private pub: Conn | null = null;
  /** When the current token should be replaced. */
  private renewAt = Infinity;
  /** Messages the operator sent while the link switches connections. */
  private queue: ((p: Publisher) => void)[] | null = null;
  private switching: Promise<void> | null = null;
  private closed = false;
  private lost = false;
  /** Connections made after the first (fresh tokens). */
  renewals = 0;
  /** Waiters for the next re-registration (renewSoon). */
  private waiters: (() => void)[] = [];
  private renewAgain = false;
  private readonly now: () => number;
  private readonly log: Logger;

  private constructor(private readonly o: PublisherLinkOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.logger.child({ stream: o.stream });
  }

  static async open(o: PublisherLinkOptions): Promise<PublisherLink> {
    const link = new PublisherLink(o);
    link.pub = await link.connect(o.window);
    return link;
  }

  private async connect(window: number): Promise<Conn> {
    const token = this.o.token();
    const renewAt = renewalTime(token);
    // The close callback is given before the Publisher exists: it records into this, its Conn's state.
    const state: CloseState = { closing: false, closeCode: undefined };
    const pub = await this.o.connect({
      url: this.o.url,
      token,
      stream: this.o.stream,
      window,
      onClose: (code, reason) => {
        state.closeCode = code;
        if (state.closing || this.closed) return; // closed at the link's request
        if (this.pub?.state === state) this.pub = null;
        if (this.lost) return;
        this.lost = true;
        this.wake();
        this.log.error({ code, reason }, 'publisher closed by the buffer server; the stream cannot go on');
        this.o.onLost(code, reason);
      },
    });
    this.renewAt = renewAt;
    return { pub, state };
  }

  private send(f: (p: Publisher) => void): void {
    if (this.queue) this.queue.push(f);
    else if (this.pub && !this.lost) {
      try {
        f(this.pub.pub);
      } catch (err) {
        // Closing under us (the close event has not come yet): the same as a close.
        if (this.closed) return;
        this.lost = true;
        this.wake();
        this.log.error({ err: (err as Error).message }, 'publisher closed by the buffer server; the stream cannot go on');
        this.o.onLost(1006, (err as Error).message);
      }
    }
  }

  begin(w: number): void {
    this.send((p) => p.begin(w));
  }

  data(w: number, tuples: unknown[], parts?: number[]): void {
    this.send((p) => p.data(w, tuples, parts));
  }

  end(w: number): void {
    this.send((p) => p.end(w));
    if (!this.switching && !this.closed && !this.lost && this.now() >= this.renewAt) this.switching = this.renew(w + 1);
  }

  /**
   * Secret rotation (docs/protocol.md "Secret rotation"): re-register with a fresh token (minted from the new secret) at the
   * next window boundary instead of at 75% of the token's life. Resolves once the new connection
   * is up — or at once when the link is closed or lost (no connection holds the old token then).
   */
  renewSoon(): Promise<void> {
    if (this.closed || this.lost) return Promise.resolve();
    // A switch under way may be using a token minted before the rotation: switch once more after it.
    if (this.switching) this.renewAgain = true;
    else this.renewAt = -Infinity;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async ready(): Promise<void> {
    if (this.switching) await this.switching;
    if (this.pub && !this.lost) await this.pub.pub.ready();
  }

  /** Closes the current connection (after everything sent on it), then publishes from `window` with a fresh token. */
  private async renew(window: number): Promise<void> {
    this.queue = [];
    const old = this.pub;
    try {
      if (old) {
        old.state.closing = true;
        await old.pub.close();
        // Not 1000: the server may not have stored all we sent (e.g. the socket was cut off).
        if (old.state.closeCode !== 1000) throw new Error(`the old publisher did not close cleanly (${old.state.closeCode ?? 'no close code'})`);
      }
      if (this.closed) return;
      let next: Conn | undefined;
      for (let attempt = 0; !next; attempt++) {
        try {
          next = await this.connect(window);
        } catch (err) {
          if (attempt + 1 >= CONNECT_ATTEMPTS || this.closed) throw err;
          await new Promise((r) => setTimeout(r, BACKOFF_MIN_MS * 2 ** attempt));
        }
      }
      this.pub = next;
      this.renewals++;
      this.log.info({ window, renewals: this.renewals }, 'publish token renewed; publisher re-registered');
      this.o.counter?.count(ContainerEvent.publisherRenewed);
      const queued = this.queue;
      this.queue = null;
      for (const f of queued) f(next.pub);
    } catch (err) {
      this.queue = null;
      this.pub = null;
      this.lost = true;
      this.log.error({ window, err: (err as Error).message }, 'publisher could not re-register with a fresh token');
      this.o.onLost(1006, (err as Error).message);
    } finally {
      this.switching = null;
      if (this.renewAgain && !this.lost && !this.closed) this.renewAt = -Infinity;
      else this.wake();
      this.renewAgain = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.switching;
    this.wake();
    const c = this.pub;
    this.pub = null;
    if (c) c.state.closing = true;
    await c?.pub.close();
  }
}

/** When a publish token is due for renewal (75% of its life); never for one without a readable identifier. */
function renewalTime(token: Token): number {
  try {
    const { issueDate, maxDate } = decodeIdentifier(token.identifier);
    return issueDate + Math.floor((maxDate - issueDate) * PUBLISH_RENEW_AT);
  } catch {
    return Infinity;
  }
}

/** How one connection of the link ended, or is ending. */
interface CloseState {
  /** The link asked for this close. */
  closing: boolean;
  closeCode: number | undefined;
}

interface Conn {
  readonly pub: Publisher;
  readonly state: CloseState;
}
