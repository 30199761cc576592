import type { ServerResponse } from 'node:http';
import type { Logger } from '@sluice/common';
import { GatewayRefusal, RefusalCode } from '../api.js';
import type { LiveFigures } from './views.js';

/**
 * An app's live figures as server-sent events: the gateway polls the app's STRAM every
 * `everyMs` and sends one `figures` event per poll, `unreachable` while STRAM does not answer,
 * and `ended` once the app has stopped. The session is checked again before every poll: a
 * session that expires (or a key that is gone) ends the stream with `signed-out`.
 */

export interface LiveSource {
  /** The figures now; undefined once the app has stopped (its state then). */
  poll(): Promise<LiveFigures | { ended: string }>;
  /** Whether the session that opened the stream is still valid. */
  signedIn(): Promise<boolean>;
}

/** Streams open at once on one gateway: each polls a STRAM every second, so they are bounded. */
export const MAX_LIVE_STREAMS = 64;

/** One gateway's live streams: how often they poll, and how many are open. */
export class LiveStreams {
  private open = 0;

  constructor(
    readonly everyMs: number,
    private readonly logger: Logger,
    readonly max = MAX_LIVE_STREAMS,
  ) {}

  /** Starts one stream on `res`; 503 when `max` are open already. */
  start(res: ServerResponse, source: LiveSource): void {
    if (this.open >= this.max) throw new GatewayRefusal(503, RefusalCode.internal, `the gateway already streams ${this.max} live pages; close some, or reload this one later`);
    this.open++;
    res.once('close', () => this.open--);
    streamLive(res, source, this.everyMs, this.logger);
  }
}

function streamLive(res: ServerResponse, source: LiveSource, everyMs: number, logger: Logger): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', connection: 'keep-alive' });
  res.write('retry: 2000\n\n');
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const end = () => {
    closed = true;
    clearTimeout(timer);
    res.end();
  };
  const tick = async () => {
    if (closed) return;
    try {
      if (!(await source.signedIn())) {
        send('signed-out', { reason: 'the session ended; sign in again' });
        return end();
      }
      const figures = await source.poll();
      if (closed) return;
      if ('ended' in figures) {
        send('ended', { state: figures.ended });
        return end();
      }
      send('figures', figures);
    } catch (err) {
      if (err instanceof GatewayRefusal) send('unreachable', { reason: err.message });
      else {
        logger.error({ err: (err as Error).message }, 'live figures failed');
        send('unreachable', { reason: 'the gateway could not read the figures; see its log' });
      }
    }
    if (!closed) timer = setTimeout(() => void tick(), everyMs);
  };
  // The response's close, not the request's: a GET's request closes as soon as it has been read.
  res.once('close', () => {
    closed = true;
    clearTimeout(timer);
  });
  void tick();
}
