import type { Spool, SpoolFile } from './spool.js';

/**
 * Window-ordered data of every stream on one buffer server, and the server-wide memory account
 * (docs/protocol.md "Buffer server stream", "Bounds"). No sockets here: publishers append encoded
 * frames, subscribers read them by index, the store spills to the spool and says when to pause.
 *
 * A window is the frames a publisher sent for it, exactly as received (begin, data..., end), so
 * unfiltered subscribers get the publisher's bytes forwarded as-is. Frames [0, spooled) live in
 * the window's spool file, frames [spooled, count) in `mem`.
 */
export interface Win {
  readonly w: number;
  mem: Buffer[];
  spooled: number;
  file: SpoolFile | null;
  count: number;
  /** Tuples per frame (0 for begin and end); data frames are the ones with tuples. */
  readonly tuplesPer: number[];
  memBytes: number;
  bytes: number;
  tuples: number;
  complete: boolean;
  /** Purged, reset or replaced by a restarted publisher; readers must let go. */
  dropped: boolean;
}

/** What a subscriber connection looks like to the store. */
export interface StreamReader {
  /** Called when frames were appended or windows dropped; the reader decides whether to send. */
  wake(): void;
}

export class Stream {
  readonly windows: Win[] = [];
  /** Windows ≤ this were purged (committed); -1 when none was. */
  purgedThrough = -1;
  tuplesIn = 0;
  bytesIn = 0;
  readonly readers = new Set<StreamReader>();

  constructor(readonly name: string) {}

  /** Index of the first window with id > w (binary search; windows are in increasing order). */
  indexAfter(w: number): number {
    let lo = 0;
    let hi = this.windows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.windows[mid]!.w <= w) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The first retained window with id > w, if any. */
  nextAfter(w: number): Win | undefined {
    return this.windows[this.indexAfter(w)];
  }

  /** The window a subscriber asking for `window` starts at (the welcome's `from`). */
  startFor(window: number): number {
    const from = Math.max(window, this.purgedThrough + 1);
    return this.nextAfter(from - 1)?.w ?? from;
  }

  get last(): Win | undefined {
    return this.windows[this.windows.length - 1];
  }

  wakeReaders(): void {
    for (const r of this.readers) r.wake();
  }
}

export interface StoreLimits {
  /** Bytes of window data the store may hold at first; `budget` changes it later. */
  memoryLimit: number;
}

/** Fractions of the budget: spill above SPILL_AT down to SPILL_TO; pause publishers at PAUSE_AT. */
const SPILL_AT = 0.5;
const SPILL_TO = 0.3;
const PAUSE_AT = 0.8;

export class StreamStore {
  readonly streams = new Map<string, Stream>();
  /** Bytes of frames held in memory (windows) plus bytes read back from the spool for readers. */
  private resident = 0;
  private readback = 0;
  peakMemory = 0;
  spilledBytes = 0;
  /** Set when the spool could not take more; cleared when something is removed from it. */
  private spoolFull = false;
  /**
   * Bytes of window data the store may hold: the memory limit, or the share of it the server's
   * footprint watch leaves to the store (footprint.ts; docs/protocol.md "Bounds").
   */
  budget: number;

  constructor(
    private readonly spool: Spool,
    limits: StoreLimits,
  ) {
    this.budget = limits.memoryLimit;
  }

  get memoryBytes(): number {
    return this.resident + this.readback;
  }

  get spoolBytes(): number {
    return this.spool.bytes;
  }

  get(name: string): Stream | undefined {
    return this.streams.get(name);
  }

  stream(name: string): Stream {
    let s = this.streams.get(name);
    if (!s) {
      s = new Stream(name);
      this.streams.set(name, s);
    }
    return s;
  }

  /**
   * A publisher (re)registers from `window`: every stored window ≥ it is replaced by what it
   * sends next, and a window left open by a dead publisher is dropped (docs/protocol.md "Publisher").
   */
  register(stream: Stream, window: number): void {
    const keep = stream.windows.filter((win) => win.w < window && win.complete);
    if (keep.length === stream.windows.length) return;
    const kept = new Set(keep);
    for (const win of stream.windows) if (!kept.has(win)) this.drop(win);
    stream.windows.length = 0;
    stream.windows.push(...keep);
    stream.wakeReaders();
  }

  begin(stream: Stream, w: number, frame: Buffer): Win {
    const win: Win = { w, mem: [], spooled: 0, file: null, count: 0, tuplesPer: [], memBytes: 0, bytes: 0, tuples: 0, complete: false, dropped: false };
    stream.windows.push(win);
    this.add(stream, win, frame, 0);
    return win;
  }

  data(stream: Stream, win: Win, frame: Buffer, tuples: number): void {
    win.tuples += tuples;
    stream.tuplesIn += tuples;
    this.add(stream, win, frame, tuples);
  }

  end(stream: Stream, win: Win, frame: Buffer): void {
    win.complete = true;
    this.add(stream, win, frame, 0);
  }

  private add(stream: Stream, win: Win, frame: Buffer, tuples: number): void {
    win.mem.push(frame);
    win.tuplesPer.push(tuples);
    win.count++;
    win.memBytes += frame.length;
    win.bytes += frame.length;
    stream.bytesIn += frame.length;
    this.resident += frame.length;
    if (this.memoryBytes > this.peakMemory) this.peakMemory = this.memoryBytes;
    if (this.resident > this.budget * SPILL_AT) this.spill();
    stream.wakeReaders();
  }

  /** Drops windows up to and including `w` (the committed window); frees memory and spool files. */
  purge(stream: Stream, w: number): void {
    // A window still open is kept (its publisher is writing it); it goes with a later purge.
    let n = stream.indexAfter(w);
    for (let i = 0; i < n; i++) if (!stream.windows[i]!.complete) n = i;
    for (const win of stream.windows.splice(0, n)) this.drop(win);
    if (w > stream.purgedThrough) stream.purgedThrough = w;
    if (n > 0) stream.wakeReaders();
  }

  /** Drops a stream's data altogether (its connections are the server's business). */
  reset(stream: Stream): void {
    for (const win of stream.windows.splice(0)) this.drop(win);
    stream.purgedThrough = -1;
    stream.wakeReaders();
    this.streams.delete(stream.name);
  }

  private drop(win: Win): void {
    win.dropped = true;
    this.resident -= win.memBytes;
    win.mem = [];
    win.memBytes = 0;
    if (win.file) {
      this.spool.remove(win.file);
      win.file = null;
      this.spoolFull = false;
    }
  }

  /** Bytes a reader holds read back from the spool (counted in memoryBytes until released). */
  holdReadback(n: number): void {
    this.readback += n;
    if (this.memoryBytes > this.peakMemory) this.peakMemory = this.memoryBytes;
  }

  releaseReadback(n: number): void {
    this.readback -= n;
  }

  readSpooled(win: Win, from: number, maxBytes: number): Buffer[] {
    // Read-back counts as memory: keep one reader's chunk a small share of the limit.
    maxBytes = Math.min(maxBytes, this.budget / 16);
    const file = win.file!;
    let to = from + 1;
    while (to < win.spooled && file.offsets[to + 1]! - file.offsets[from]! <= maxBytes) to++;
    return this.spool.read(file, from, to);
  }

  /**
   * Moves resident frames to the spool, oldest windows first, until memory is at SPILL_TO of the
   * limit or the spool is full. Oldest first: a lagging reader reads them back in order while the
   * newest windows, which up-to-date readers want, stay in memory.
   */
  spill(): void {
    if (this.spoolFull) return;
    const target = this.budget * SPILL_TO;
    for (const stream of this.streams.values()) {
      for (const win of stream.windows) {
        if (this.resident <= target) return;
        if (win.memBytes === 0) continue;
        if (!this.spool.fits(win.memBytes)) {
          this.spoolFull = true;
          return;
        }
        win.file ??= this.spool.create();
        this.spool.append(win.file, win.mem);
        this.resident -= win.memBytes;
        this.spilledBytes += win.memBytes;
        win.spooled += win.mem.length;
        win.mem = [];
        win.memBytes = 0;
      }
    }
  }

  /** True when publishers must stop: memory is near its limit and the spool cannot take more. */
  get overLimit(): boolean {
    return this.memoryBytes >= this.budget * PAUSE_AT;
  }

  /** True when paused publishers may go on. */
  get belowResume(): boolean {
    if (this.resident > this.budget * SPILL_AT) this.spill();
    return this.memoryBytes < this.budget * SPILL_AT;
  }

  /** Every spool file is removed; for shutdown. */
  clear(): void {
    for (const s of this.streams.values()) for (const win of s.windows) this.drop(win);
    this.streams.clear();
  }
}
