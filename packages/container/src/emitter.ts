import { partitionValue } from '@sluice/common';

/**
 * Where an output port's tuples go: a buffer-server publisher (separate locality) and/or the
 * in-process input of an operator in the same container (container locality). Tuples are
 * batched per window slice (performance-limits.md: per-message cost dominates).
 */
export interface OutputSink {
  begin(w: number): void;
  data(w: number, tuples: unknown[], p?: number[]): void;
  end(w: number): void;
  /** Backpressure: resolves when the sink can take more. */
  ready(): Promise<void>;
}

export const DEFAULT_BATCH = 1000;

export class OutputEmitter {
  private tuples: unknown[] = [];
  private partitions: number[] = [];
  private w = 0;
  private inWindow = false;
  tuplesOut = 0;

  constructor(
    private readonly sinks: OutputSink[],
    /** Set when a downstream is partitioned: tag every tuple with p (docs/protocol.md "Subscriber"). */
    private readonly partitionKey: ((t: unknown) => number) | undefined | false,
    private readonly batch = DEFAULT_BATCH,
  ) {}

  begin(w: number): void {
    this.w = w;
    this.inWindow = true;
    for (const s of this.sinks) s.begin(w);
  }

  emit(t: unknown): void {
    if (!this.inWindow) throw new Error('a tuple was emitted outside a window; emit only from process, beginWindow, emitTuples or endWindow');
    this.tuples.push(t);
    if (this.partitionKey !== false) this.partitions.push(partitionValue(t, this.partitionKey));
    this.tuplesOut++;
    if (this.tuples.length >= this.batch) this.flush();
  }

  flush(): void {
    if (this.tuples.length === 0) return;
    const tuples = this.tuples;
    const p = this.partitionKey !== false ? this.partitions : undefined;
    this.tuples = [];
    this.partitions = [];
    for (const s of this.sinks) s.data(this.w, tuples, p);
  }

  end(w: number): void {
    this.flush();
    this.inWindow = false;
    for (const s of this.sinks) s.end(w);
  }

  async ready(): Promise<void> {
    for (const s of this.sinks) await s.ready();
  }
}
