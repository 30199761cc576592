import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * The process's footprint against `--memory-limit` (docs/protocol.md "Bounds"): the limit is what
 * the process may grow by over its idle size, and the stored windows get the part of it the rest
 * of the process leaves. The policy here is pure (sizes in, a budget and a collect decision out);
 * the server owns the probe, the sampling cadence and the store.
 */
export interface Footprint {
  /** Resident set size, bytes. */
  rss: number;
  /** Bytes of ArrayBuffer backing stores not yet freed (live ones and garbage not yet collected). */
  arrayBuffers: number;
}

/** What the server reads of its process, and the one thing it may ask of the runtime. */
export interface MemoryProbe {
  sample(): Footprint;
  /**
   * A garbage collection, now: 'young' scavenges the new generation (~1 ms: frames that died
   * young, socket reads already parsed), 'all' is a full collection (tens of ms). The buffers a
   * scavenge frees are counted as freed only after V8's sweeper ran (a turn of the event loop
   * later); a full collection's mostly at once, the rest by the next sample.
   */
  collect(scope: 'young' | 'all'): void;
}

// Fractions of the limit.
/** The stored windows' budget when nothing else grows: the rest is headroom for frames in flight, socket buffers and garbage. */
export const STORE_SHARE = 0.5;
/** The least the stored windows get however much the rest of the process holds: the store never stops taking data for good. */
export const STORE_FLOOR = 0.125;
/**
 * Collect once garbage ArrayBuffers (backing stores beyond the stored bytes and what stayed after
 * the last collection) reach this share. V8 by itself waits for ~64 MiB of new backing stores,
 * whatever the limit.
 */
export const GARBAGE_SHARE = 0.125;
/** ...and only once the buffers have grown past this share: a server far from its limit leaves collecting to V8. */
export const COLLECT_AT = 0.5;

export interface FootprintState {
  /** The process's growth over idle, last sampled (rss). */
  growth: number;
  /** Bytes of window data the store may hold now. */
  budget: number;
  /** ArrayBuffer bytes beyond the stored ones that survived the last collection (live, not garbage). */
  retained: number;
}

export interface FootprintDecision extends FootprintState {
  collect: boolean;
}

/**
 * One sample's verdict. `stored` is the store's accounted window bytes. The budget is the limit
 * minus what the process holds beyond the store (rss growth - stored), between STORE_FLOOR and
 * STORE_SHARE of the limit: rss may never fall (the allocator keeps freed pages for reuse), so it
 * only narrows the budget, which the store's own spill and pause thresholds follow — those go
 * down with purges, so publishers are never stopped for good.
 */
export function judgeFootprint(limit: number, idle: Footprint, now: Footprint, stored: number, prev: FootprintState): FootprintDecision {
  const growth = Math.max(0, now.rss - idle.rss);
  const outside = Math.max(0, growth - stored);
  const budget = Math.min(limit * STORE_SHARE, Math.max(limit * STORE_FLOOR, limit - outside));
  const buffers = now.arrayBuffers - idle.arrayBuffers;
  const beyond = Math.max(0, buffers - stored);
  // V8 may have collected by itself since: what is beyond the store now is at most what is live.
  const retained = Math.min(prev.retained, beyond);
  return { growth, budget, retained, collect: buffers > limit * COLLECT_AT && beyond - retained > limit * GARBAGE_SHARE };
}

/** After a collection: what is left beyond the stored bytes is live, and the next collection waits for garbage beyond it. */
export function afterCollect(idle: Footprint, now: Footprint, stored: number, state: FootprintState): FootprintState {
  return { ...state, retained: Math.max(0, now.arrayBuffers - idle.arrayBuffers - stored) };
}

/** Node's `gc` under `--expose-gc`: no argument is a full collection, `{ type: 'minor' }` a scavenge. */
type NodeGc = (options?: { type: 'minor' }) => void;

/**
 * This process: `process.memoryUsage()` (~10-40 µs) and V8's collections. Node exposes `gc` only
 * under `--expose-gc`; without it, the flag is set now and `gc` taken from a new context (the
 * main context is untouched). A full collection is `gc()` with no options: under Node 20,
 * `gc({ type: 'major' })` only scavenges, and buffers that reached the old generation stay
 * (footprint.test.ts checks both against this runtime).
 */
export function processProbe(): MemoryProbe {
  const exposed = (globalThis as { gc?: NodeGc }).gc;
  let gc = exposed;
  return {
    sample: () => {
      const m = process.memoryUsage();
      return { rss: m.rss, arrayBuffers: m.arrayBuffers };
    },
    collect: (scope) => {
      if (!gc) {
        setFlagsFromString('--expose-gc');
        gc = runInNewContext('gc') as NodeGc;
      }
      if (scope === 'young') gc({ type: 'minor' });
      else gc();
    },
  };
}

/** Sample after this share of the limit was received from publishers (and at each purge or reset). */
const SAMPLE_SHARE = 1 / 32;
const MIN_SAMPLE_BYTES = 64 * 1024;

/** What the watch tunes: the store's budget, read against its accounted bytes. */
export interface BudgetedStore {
  readonly memoryBytes: number;
  budget: number;
}

/**
 * The server's footprint watch: samples the probe every SAMPLE_SHARE of the limit received,
 * collects garbage when judgeFootprint says so, and sets the store's budget. A collection is a
 * scavenge first (most frames die young); only when the next sample still asks for one is it a
 * full collection. The next sample, not this one, shows what a scavenge freed (MemoryProbe).
 */
export class FootprintWatch {
  private readonly idle: Footprint;
  private readonly sampleEvery: number;
  private sinceSample = 0;
  private state: FootprintState;
  /** The last sample asked for a collection and got a scavenge. */
  private scavenged = false;
  /** Collections this watch asked for. */
  collections = 0;

  constructor(
    private readonly probe: MemoryProbe,
    private readonly limit: number,
    private readonly store: BudgetedStore,
  ) {
    this.idle = probe.sample();
    this.sampleEvery = Math.max(MIN_SAMPLE_BYTES, limit * SAMPLE_SHARE);
    this.state = { growth: 0, budget: limit * STORE_SHARE, retained: 0 };
    store.budget = this.state.budget;
  }

  /** The process's growth over its idle size at the last sample. */
  get growth(): number {
    return this.state.growth;
  }

  /** Counts bytes read from publishers; samples when enough came in. */
  received(bytes: number): void {
    this.sinceSample += bytes;
    if (this.sinceSample >= this.sampleEvery) this.check();
  }

  check(): void {
    this.sinceSample = 0;
    const { collect, ...state } = judgeFootprint(this.limit, this.idle, this.probe.sample(), this.store.memoryBytes, this.state);
    this.state = state;
    if (collect) {
      this.collections++;
      if (!this.scavenged) {
        this.probe.collect('young');
        this.scavenged = true;
      } else {
        // A scavenge did not free enough: the garbage is older. Only a full collection says what is live.
        this.probe.collect('all');
        this.scavenged = false;
        this.state = afterCollect(this.idle, this.probe.sample(), this.store.memoryBytes, state);
      }
    } else this.scavenged = false;
    this.store.budget = this.state.budget;
  }
}
