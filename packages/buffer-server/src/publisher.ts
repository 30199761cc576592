import { SluiceError, type StreamFrameHeader } from '@sluice/common';
import type { Stream, StreamStore, Win } from './stream-store.js';

/**
 * A publisher connection's window bookkeeping (docs/protocol.md "Publisher"): begin w, data w..., end w,
 * with w strictly increasing and at least the auth's `window`. Pure state: the server feeds it
 * parsed messages with their frame bytes; it throws a 4400 SluiceError on a protocol fault.
 */
export class PublisherSession {
  private open: Win | null = null;
  /** The lowest window id the next begin may use. */
  private next: number;

  constructor(
    readonly stream: Stream,
    private readonly store: StreamStore,
    window: number,
  ) {
    this.next = window;
    store.register(stream, window);
  }

  /** The window currently open, if any. */
  get openWindow(): number | null {
    return this.open?.w ?? null;
  }

  handle(m: StreamFrameHeader, frame: Buffer): void {
    switch (m.t) {
      case 'begin':
        if (this.open) throw new SluiceError('UNEXPECTED_MESSAGE', `begin ${m.w} while window ${this.open.w} is open; send end ${this.open.w} first`);
        if (m.w < this.next) throw new SluiceError('WINDOW_OUT_OF_ORDER', `begin ${m.w}: window ids must increase; the next must be at least ${this.next}`);
        this.open = this.store.begin(this.stream, m.w, frame);
        this.next = m.w + 1;
        return;
      case 'data': {
        const win = this.expectOpen('data', m.w);
        if (m.count > 0) this.store.data(this.stream, win, frame, m.count);
        return;
      }
      case 'end': {
        const win = this.expectOpen('end', m.w);
        this.store.end(this.stream, win, frame);
        this.open = null;
        return;
      }
    }
  }

  private expectOpen(t: string, w: number): Win {
    if (!this.open) throw new SluiceError('UNEXPECTED_MESSAGE', `${t} ${w} outside begin/end; send begin ${w} first`);
    if (this.open.w !== w) throw new SluiceError('WINDOW_OUT_OF_ORDER', `${t} for window ${w} while window ${this.open.w} is open`);
    if (this.open.dropped) throw new SluiceError('UNEXPECTED_MESSAGE', `${t} ${w}: the window was purged or reset while open`);
    return this.open;
  }
}
