import type { Logger, PartitionFilter, Token } from '@sluice/common';
import { CloseCode, decodeIdentifier } from '@sluice/common';
import type { Subscriber, SubscriberOptions } from '@sluice/buffer-server';
import { ContainerEvent, type EventCounter } from './counters.js';
import type { OperatorRunner } from './operator-runner.js';

/**
 * One subscription of an operator input to one upstream partition's stream. Reconnects with
 * backoff from the first window the operator has not completed for this source, using the
 * subscribe token current at that moment (tokens are renewed over the umbilical without
 * dropping streams: the live connection keeps going, the next one uses the new token).
 *
 * Reissued subscribe tokens (docs/architecture.md "Token lifetimes and rotation"): a subscribe token has a max date, at which the buffer
 * server closes the connection (4401 expired). The link looks at the credentials' token every
 * quarter of its connection token's remaining life and, once a newer one is there, re-subscribes
 * with it from the first window the operator has not completed. Events of the old connection are
 * dropped from that moment (generation check), and the window tracker skips the tuples of a window
 * it had already received part of, so nothing is lost or processed twice.
 *
 * Taken over (docs/protocol.md "Subscriber names"): every re-subscribe of the link's own moves to
 * a new generation before the old connection closes, so a 4409 that reaches the live generation
 * came from a connection this link did not make — another process holding this container's
 * token. The link reports it (onTakenOver: the container tells STRAM) and takes its name back
 * after a backoff that grows while the takeovers keep coming, rather than going silent.
 */

export interface UpstreamTarget {
  url: string;
  bufferServer: string;
  partitions?: PartitionFilter | undefined;
}

/** What a link needs of its operator: where to resume, where events go, and whether to hold back. */
export type UpstreamRunner = Pick<OperatorRunner, 'resumeWindow' | 'deliver' | 'backlogged' | 'ready'>;

export interface UpstreamLinkOptions {
  runner: UpstreamRunner;
  /** Source id in the runner's tracker. */
  source: string;
  stream: string;
  /** Subscriber name, unique per stream at that buffer server. */
  subscriber: string;
  target: UpstreamTarget;
  token(bufferServer: string): Token;
  connect(o: SubscriberOptions): Promise<Subscriber>;
  /** Where the link counts its switches, reconnects and failures (counters.ts). */
  counter?: EventCounter;
  logger: Logger;
  /** This subscription was closed 4409 by a connection the link did not make. */
  onTakenOver?(): void;
  now?: () => number;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/** Bounds of the wait between looks for a newer subscribe token. */
const REFRESH_MIN_MS = 50;
const REFRESH_MAX_MS = 60_000;

function backoff(attempt: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
}

export class UpstreamLink {
  private sub: Subscriber | null = null;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private refresh: NodeJS.Timeout | undefined;
  /** The live connection's token and its max date (for refreshNow). */
  private using: { gen: number; token: Token; maxDate: number } | undefined;
  /** Takeovers in a row, each within BACKOFF_MAX_MS of subscribing: the next backoff grows with them. */
  private takeovers = 0;
  private subscribedAt = 0;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly o: UpstreamLinkOptions) {
    this.log = o.logger.child({ source: o.source, stream: o.stream });
    this.now = o.now ?? Date.now;
  }

  /** Connects (or reconnects) now; failures retry with backoff. */
  start(window?: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const gen = ++this.generation;
    void this.connect(gen, window ?? this.o.runner.resumeWindow(this.o.source));
  }

  /** Points the link at a new upstream (replacement container) and re-subscribes from `window`. */
  async retarget(target: UpstreamTarget, window: number): Promise<void> {
    this.o.target = target;
    const old = this.sub;
    this.sub = null;
    this.generation++;
    clearTimeout(this.refresh);
    await old?.close();
    this.attempt = 0;
    this.start(window);
  }

  private async connect(gen: number, window: number): Promise<void> {
    const { runner, source, target } = this.o;
    try {
      const token = this.o.token(target.bufferServer);
      const live = () => gen === this.generation && !this.closed;
      const sub = await this.o.connect({
        url: target.url,
        token,
        stream: this.o.stream,
        subscriber: this.o.subscriber,
        window,
        ...(target.partitions ? { partitions: target.partitions } : {}),
        // A replaced connection's late events are dropped: its successor resumes where these stop.
        onBegin: (w) => live() && runner.deliver(source, { t: 'begin', w }),
        onData: (w, tuples) => live() && runner.deliver(source, { t: 'data', w, tuples }),
        onEnd: (w) => {
          if (!live()) return undefined;
          runner.deliver(source, { t: 'end', w });
          // A promise makes the subscriber hold its socket until it settles: only when needed.
          return runner.backlogged ? runner.ready() : undefined;
        },
        onClose: (code, reason) => {
          if (gen !== this.generation || this.closed) return;
          this.sub = null;
          if (code === CloseCode.replaced) return this.takenOver(code, reason);
          this.log.warn({ code, reason }, 'upstream connection closed; reconnecting');
          this.o.counter?.count(ContainerEvent.upstreamReconnect);
          this.retry();
        },
      });
      if (gen !== this.generation || this.closed) {
        await sub.close();
        return;
      }
      this.sub = sub;
      this.attempt = 0;
      this.subscribedAt = this.now();
      this.log.info({ url: target.url, window, from: sub.from }, 'subscribed');
      this.armRefresh(gen, token);
    } catch (err) {
      if (gen !== this.generation || this.closed) return;
      this.log.warn({ url: target.url, err: (err as Error).message }, 'subscribe failed; retrying');
      this.o.counter?.count(ContainerEvent.subscribeFailed);
      this.retry();
    }
  }

  /** Looks for a newer subscribe token every quarter of the current one's remaining life. */
  private armRefresh(gen: number, used: Token): void {
    clearTimeout(this.refresh);
    const maxDate = decodeIdentifier(used.identifier).maxDate;
    this.using = { gen, token: used, maxDate };
    const wait = Math.min(REFRESH_MAX_MS, Math.max(REFRESH_MIN_MS, Math.floor((maxDate - this.now()) / 4)));
    this.refresh = setTimeout(() => this.switchIfRenewed(gen, used, maxDate), wait);
    this.refresh.unref();
  }

  /**
   * New credentials arrived: switch to a newer subscribe token now rather than at the
   * next look, so a rotated-away secret has no holder left by the time it is retired.
   */
  refreshNow(): void {
    const u = this.using;
    if (!u || u.gen !== this.generation) return;
    clearTimeout(this.refresh);
    this.switchIfRenewed(u.gen, u.token, u.maxDate);
  }

  private switchIfRenewed(gen: number, used: Token, maxDate: number): void {
    if (gen !== this.generation || this.closed || !this.sub) return;
    let next: Token;
    try {
      next = this.o.token(this.o.target.bufferServer);
    } catch {
      this.armRefresh(gen, used);
      return;
    }
    if (decodeIdentifier(next.identifier).maxDate <= maxDate) {
      this.armRefresh(gen, used);
      return;
    }
    // Make before break: from now on only the new connection delivers; the buffer server would
    // replace the old one anyway (same subscriber name, 4409), closing it is just tidier.
    const old = this.sub;
    this.sub = null;
    this.generation++;
    this.attempt = 0;
    this.log.info({ window: this.o.runner.resumeWindow(this.o.source) }, 'subscribe token reissued; re-subscribing with it');
    this.o.counter?.count(ContainerEvent.subscribeSwitched);
    this.start();
    void old.close().catch(() => undefined);
  }

  /** An unexpected 4409 (see the class comment): report it, then take the name back after a backoff. */
  private takenOver(code: number, reason: string): void {
    if (this.now() - this.subscribedAt >= BACKOFF_MAX_MS) this.takeovers = 0;
    const delay = backoff(this.takeovers++);
    this.log.warn({ code, reason, takeovers: this.takeovers, delayMs: delay }, 'subscription taken over by a connection this container did not make; reconnecting');
    this.o.onTakenOver?.();
    this.reconnectIn(delay);
  }

  private retry(): void {
    this.reconnectIn(backoff(this.attempt++));
  }

  private reconnectIn(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.refresh);
    const sub = this.sub;
    this.sub = null;
    await sub?.close();
  }
}
