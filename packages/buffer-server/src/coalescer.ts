import { encode } from '@sluice/common';

/**
 * Coalesces a publisher's small data batches into fewer frames (docs/protocol.md "Publisher"):
 * per-frame costs (ws framing, the server's scan and store bookkeeping, each subscriber's send)
 * dominate single tuples, so tuples sent one at a time are held and sent as one data frame of the
 * same window. Batches of `asIsFrom` tuples or more already pay per frame and go out as they are
 * (after what is held). A held batch is sent when it reaches `maxTuples`, before any other frame (so a
 * window's end always follows all its data, in order), when the caller asks for room (`ready`)
 * and at the latest once the current turn of the event loop is over (setImmediate): the delay is
 * bounded by the code that emits, never by a timer. A coalesced frame that encodes to more than
 * `maxBytes` is split (halves, by tuple), so coalescing never makes a frame larger than that
 * unless one caller's batch already was.
 *
 * Pure of sockets: `send` takes the encoded frame; a failed deferred send is reported to
 * `onDeferredError` (the connection's close says the rest).
 */
export interface CoalescerOptions {
  send(frame: Buffer): void;
  onDeferredError(err: unknown): void;
  maxTuples?: number;
  /** Batches at least this large are sent as they are. */
  asIsFrom?: number;
  maxBytes?: number;
  /** How a held batch is scheduled (default setImmediate); injectable for tests. */
  defer?: (f: () => void) => void;
}

export const COALESCE_TUPLES = 128;
export const COALESCE_AS_IS_FROM = 32;
export const COALESCE_BYTES = 256 * 1024;

export class DataCoalescer {
  private w = 0;
  private tuples: unknown[] = [];
  /** Partition values parallel to tuples, or null for a held batch without them. */
  private p: number[] | null = null;
  private scheduled = false;
  private readonly maxTuples: number;
  private readonly maxBytes: number;
  private readonly asIsFrom: number;
  private readonly defer: (f: () => void) => void;
  /** Frames sent, for tests and stats. */
  framesSent = 0;

  constructor(private readonly o: CoalescerOptions) {
    this.maxTuples = o.maxTuples ?? COALESCE_TUPLES;
    this.maxBytes = o.maxBytes ?? COALESCE_BYTES;
    this.asIsFrom = Math.min(o.asIsFrom ?? COALESCE_AS_IS_FROM, this.maxTuples);
    this.defer = o.defer ?? setImmediate;
  }

  /** Tuples held, not yet sent. */
  get held(): number {
    return this.tuples.length;
  }

  data(w: number, tuples: unknown[], p?: number[]): void {
    if (tuples.length === 0) return;
    const held = this.tuples.length;
    if (held > 0 && (w !== this.w || (p === undefined) !== (this.p === null))) this.flush();
    if (tuples.length >= this.asIsFrom) {
      // Large enough already: send as it is, after what was held.
      this.flush();
      this.sendFrame(w, tuples, p);
      return;
    }
    if (this.tuples.length === 0) {
      this.w = w;
      this.p = p ? [] : null;
    }
    for (let i = 0; i < tuples.length; i++) this.tuples.push(tuples[i]);
    if (p) for (let i = 0; i < p.length; i++) this.p!.push(p[i]!);
    if (this.tuples.length >= this.maxTuples) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      this.defer(this.deferred);
    }
  }

  /** Sends what is held now (call before any other frame and before waiting for room). */
  flush(): void {
    if (this.tuples.length === 0) return;
    const tuples = this.tuples;
    const p = this.p;
    this.tuples = [];
    this.p = null;
    this.sendSplit(this.w, tuples, p ?? undefined);
  }

  private readonly deferred = (): void => {
    this.scheduled = false;
    try {
      this.flush();
    } catch (err) {
      this.o.onDeferredError(err);
    }
  };

  private sendSplit(w: number, tuples: unknown[], p: number[] | undefined): void {
    const frame = encodeData(w, tuples, p);
    if (frame.length <= this.maxBytes || tuples.length === 1) {
      this.framesSent++;
      this.o.send(frame);
      return;
    }
    const half = tuples.length >> 1;
    this.sendSplit(w, tuples.slice(0, half), p?.slice(0, half));
    this.sendSplit(w, tuples.slice(half), p?.slice(half));
  }

  private sendFrame(w: number, tuples: unknown[], p: number[] | undefined): void {
    this.framesSent++;
    this.o.send(encodeData(w, tuples, p));
  }
}

const encodeData = (w: number, tuples: unknown[], p: number[] | undefined): Buffer => encode(p ? { t: 'data', w, tuples, p } : { t: 'data', w, tuples });
