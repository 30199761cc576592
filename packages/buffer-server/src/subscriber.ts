import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { decode, encode, type DataMessage, type PartitionFilter } from '@sluice/common';
import type { Stream, StreamReader, StreamStore, Win } from './stream-store.js';
import { BurstCork } from './burst-cork.js';
import { selectPartitions, type PartitionSelection } from './partition-batch.js';
import { binaryFrameHead } from './ws-frame.js';

/** Stop writing to a subscriber's socket above this many buffered bytes; go on when it drains. */
const HIGH_WATER = 1024 * 1024;
/** Largest read from the spool at once, per subscriber. */
const READBACK_CHUNK = 256 * 1024;

/**
 * One subscriber connection (docs/protocol.md "Subscriber"): sends begin / data / end of every retained
 * window from `from` on, in order, each once, waiting for windows not yet published. Frames are
 * forwarded as the publisher sent them unless a partition filter applies.
 */
export class SubscriberLink implements StreamReader {
  /** Every window ≤ lastDone has been sent. */
  private lastDone: number;
  private cur: Win | null = null;
  private idx = 0;
  private cache: Buffer[] = [];
  private cacheFrom = 0;
  private cacheBytes = 0;
  private drainArmed = false;
  private closed = false;
  private readonly partitions: PartitionSelection | null;
  private readonly cork: BurstCork;
  private readonly raw: Socket;
  tuplesOut = 0;
  bytesOut = 0;

  constructor(
    readonly name: string,
    readonly stream: Stream,
    private readonly store: StreamStore,
    private readonly socket: WebSocket,
    readonly from: number,
    partitions: PartitionFilter | undefined,
    /** Closes the connection (a window it was sending went away under it). */
    private readonly abort: (code: number, reason: string) => void,
  ) {
    this.lastDone = from - 1;
    this.partitions = partitions ? { mask: partitions.mask, keys: new Set(partitions.keys) } : null;
    this.cork = new BurstCork(socket);
    this.raw = this.cork.raw;
  }

  /** Windows retained after the last one fully sent (the subscriber's lag). */
  get lagWindows(): number {
    return this.stream.windows.length - this.stream.indexAfter(this.lastDone);
  }

  wake(): void {
    if (!this.drainArmed) this.pump();
  }

  detach(): void {
    this.closed = true;
    this.stream.readers.delete(this);
    this.dropCache();
  }

  pump(): void {
    if (this.closed) return;
    if (this.socket.readyState !== 1) return;
    while (this.socket.bufferedAmount < HIGH_WATER) {
      const win = this.cur ?? this.stream.nextAfter(this.lastDone);
      if (!win) return;
      if (win !== this.cur) {
        this.cur = win;
        this.idx = 0;
      }
      if (win.dropped) {
        if (this.idx > 0) {
          this.abort(1012, `window ${win.w} was replaced or purged while being sent; re-subscribe from ${win.w}`);
          return;
        }
        this.cur = null;
        continue;
      }
      if (this.idx < win.count) {
        this.send(win, this.idx++);
        continue;
      }
      if (!win.complete) return;
      this.lastDone = win.w;
      this.cur = null;
      this.dropCache();
    }
    this.armDrain();
  }

  private frame(win: Win, i: number): Buffer {
    if (i >= win.spooled) return win.mem[i - win.spooled]!;
    if (i < this.cacheFrom || i >= this.cacheFrom + this.cache.length) {
      this.dropCache();
      this.cache = this.store.readSpooled(win, i, READBACK_CHUNK);
      this.cacheFrom = i;
      for (const b of this.cache) this.cacheBytes += b.length;
      this.store.holdReadback(this.cacheBytes);
    }
    return this.cache[i - this.cacheFrom]!;
  }

  private dropCache(): void {
    if (this.cacheBytes > 0) this.store.releaseReadback(this.cacheBytes);
    this.cache = [];
    this.cacheBytes = 0;
    this.cacheFrom = 0;
  }

  private send(win: Win, i: number): void {
    const stored = this.frame(win, i);
    let bytes = stored;
    let tuples = win.tuplesPer[i]!;
    if (this.partitions && tuples > 0) {
      const filtered = this.filter(bytes);
      if (!filtered) return;
      [bytes, tuples] = filtered;
    }
    this.cork.hold();
    // The stored frame's ws header is made once for all its subscribers (ws-frame.ts).
    this.raw.write(binaryFrameHead(bytes, bytes === stored && i >= win.spooled));
    this.raw.write(bytes);
    this.tuplesOut += tuples;
    this.bytesOut += bytes.length;
  }

  /** docs/protocol.md "Partitions": keep tuples whose p & mask is one of keys; data without p goes to all. */
  private filter(bytes: Buffer): [Buffer, number] | null {
    const sel = this.partitions!;
    const fast = selectPartitions(bytes, sel);
    if (fast !== undefined) return fast;
    // A stored frame the index does not read (it came through the full parser): decode it.
    const m = decode(bytes) as DataMessage;
    if (!m.p) return [bytes, m.tuples.length];
    const tuples: unknown[] = [];
    const p: number[] = [];
    for (let k = 0; k < m.p.length; k++) {
      const v = m.p[k]!;
      if (sel.keys.has(v & sel.mask)) {
        tuples.push(m.tuples[k]);
        p.push(v);
      }
    }
    if (tuples.length === 0) return null;
    if (tuples.length === m.tuples.length) return [bytes, tuples.length];
    return [encode({ t: 'data', w: m.w, tuples, p }), tuples.length];
  }

  private armDrain(): void {
    if (this.drainArmed) return;
    this.drainArmed = true;
    const go = (): void => {
      clearTimeout(timer);
      this.raw.off('drain', go);
      this.drainArmed = false;
      this.pump();
    };
    // 'drain' fires once the kernel takes the backlog; the timer covers a buffer that was
    // already below the socket's high-water mark, where 'drain' never fires.
    const timer = setTimeout(go, 50);
    this.raw.on('drain', go);
  }
}
