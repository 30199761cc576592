import type { Logger, PartitionFilter, Token } from '@sluice/common';
import { CloseCode } from '@sluice/common';
import type { Subscriber, SubscriberOptions } from '@sluice/buffer-server';
import type { OperatorRunner } from './operator-runner.js';

/**
 * One subscription of an operator input to one upstream partition's stream. Reconnects with
 * backoff from the first window the operator has not completed for this source, using the
 * subscribe token current at that moment (tokens are renewed over the umbilical without
 * dropping streams: the live connection keeps going, the next one uses the new token).
 */

export interface UpstreamTarget {
  url: string;
  bufferServer: string;
  partitions?: PartitionFilter | undefined;
}

export interface UpstreamLinkOptions {
  runner: OperatorRunner;
  /** Source id in the runner's tracker. */
  source: string;
  stream: string;
  /** Subscriber name, unique per stream at that buffer server. */
  subscriber: string;
  target: UpstreamTarget;
  token(bufferServer: string): Token;
  connect(o: SubscriberOptions): Promise<Subscriber>;
  logger: Logger;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

export class UpstreamLink {
  private sub: Subscriber | null = null;
  private closed = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private readonly log: Logger;

  constructor(private readonly o: UpstreamLinkOptions) {
    this.log = o.logger.child({ source: o.source, stream: o.stream });
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
    await old?.close();
    this.attempt = 0;
    this.start(window);
  }

  private async connect(gen: number, window: number): Promise<void> {
    const { runner, source, target } = this.o;
    try {
      const sub = await this.o.connect({
        url: target.url,
        token: this.o.token(target.bufferServer),
        stream: this.o.stream,
        subscriber: this.o.subscriber,
        window,
        ...(target.partitions ? { partitions: target.partitions } : {}),
        onBegin: (w) => runner.deliver(source, { t: 'begin', w }),
        onData: (w, tuples) => runner.deliver(source, { t: 'data', w, tuples }),
        onEnd: (w) => {
          runner.deliver(source, { t: 'end', w });
          // A promise makes the subscriber hold its socket until it settles: only when needed.
          return runner.backlogged ? runner.ready() : undefined;
        },
        onClose: (code, reason) => {
          if (gen !== this.generation || this.closed) return;
          this.sub = null;
          if (code === CloseCode.replaced) {
            this.log.warn({ code, reason }, 'subscription replaced by a newer one; not reconnecting');
            return;
          }
          this.log.warn({ code, reason }, 'upstream connection closed; reconnecting');
          this.retry();
        },
      });
      if (gen !== this.generation || this.closed) {
        await sub.close();
        return;
      }
      this.sub = sub;
      this.attempt = 0;
      this.log.info({ url: target.url, window, from: sub.from }, 'subscribed');
    } catch (err) {
      if (gen !== this.generation || this.closed) return;
      this.log.warn({ url: target.url, err: (err as Error).message }, 'subscribe failed; retrying');
      this.retry();
    }
  }

  private retry(): void {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt++);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const sub = this.sub;
    this.sub = null;
    await sub?.close();
  }
}
