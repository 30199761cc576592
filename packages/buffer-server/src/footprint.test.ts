import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, generateSecret, mintBufferToken, type Token } from '@sluice/common';
import { COLLECT_AT, FootprintWatch, GARBAGE_SHARE, STORE_FLOOR, STORE_SHARE, judgeFootprint, processProbe, type Footprint, type MemoryProbe } from './footprint.js';
import { connectPublisher, connectSubscriber, startBufferServer, type BufferServer, type BufferServerStats } from './index.js';

/** docs/protocol.md "Bounds": the memory limit is the process's growth budget; the store gets what the rest leaves. */

const MiB = 1024 * 1024;
const IDLE: Footprint = { rss: 80 * MiB, arrayBuffers: 1 * MiB };

/** A process whose growth the test sets; a collection frees the garbage it was told about. */
class FakeProbe implements MemoryProbe {
  grownBy = 0;
  live = 0;
  garbage = 0;
  collections = 0;
  sample(): Footprint {
    return { rss: IDLE.rss + this.grownBy, arrayBuffers: IDLE.arrayBuffers + this.live + this.garbage };
  }
  /** Young garbage goes with a scavenge, all of it with a full collection. */
  young = 0;
  readonly scopes: string[] = [];
  collect(scope: 'young' | 'all'): void {
    this.scopes.push(scope);
    this.collections++;
    if (scope === 'all') this.garbage = 0;
    this.garbage -= Math.min(this.garbage, this.young);
    this.young = 0;
  }
}

describe('judgeFootprint (sizes in, budget and collect out)', () => {
  const limit = 64 * MiB;
  const fresh = { growth: 0, budget: limit * STORE_SHARE, retained: 0 };

  it('gives the store half the limit while the rest of the process holds little', () => {
    const d = judgeFootprint(limit, IDLE, { rss: IDLE.rss + 40 * MiB, arrayBuffers: IDLE.arrayBuffers + 30 * MiB }, 30 * MiB, fresh);
    expect(d).toEqual({ growth: 40 * MiB, budget: 32 * MiB, retained: 0, collect: false });
  });

  it('narrows the budget by what the process holds beyond the store, down to the floor and no further', () => {
    const at = (grown: number, stored: number): number => judgeFootprint(limit, IDLE, { rss: IDLE.rss + grown, arrayBuffers: IDLE.arrayBuffers }, stored, fresh).budget;
    expect(at(60 * MiB, 10 * MiB)).toBe(14 * MiB);
    expect(at(200 * MiB, 0)).toBe(limit * STORE_FLOOR);
    // RSS below idle (pages given back) is no growth.
    expect(at(-5 * MiB, 0)).toBe(limit * STORE_SHARE);
  });

  it('asks for a collection once garbage beyond the stored and the still-live bytes passes its share', () => {
    const garbage = (g: number, retained: number): boolean =>
      judgeFootprint(limit, IDLE, { rss: IDLE.rss, arrayBuffers: IDLE.arrayBuffers + 30 * MiB + retained + g }, 30 * MiB, { ...fresh, retained }).collect;
    expect(garbage(limit * GARBAGE_SHARE, 0)).toBe(false);
    expect(garbage(limit * GARBAGE_SHARE + 1, 0)).toBe(true);
    expect(garbage(limit * GARBAGE_SHARE, 8 * MiB)).toBe(false);
  });

  it('leaves collecting to V8 while the buffers are far from the limit, however much of them is garbage', () => {
    const big = 1024 * MiB;
    const d = judgeFootprint(big, IDLE, { rss: IDLE.rss, arrayBuffers: IDLE.arrayBuffers + big * COLLECT_AT }, 0, { ...fresh, budget: big * STORE_SHARE });
    expect(d.collect).toBe(false);
  });
});

describe('FootprintWatch', () => {
  it('samples every 1/32 of the limit received, scavenges first, collects all when the next sample still asks, and keeps what survived as live', () => {
    const probe = new FakeProbe();
    const store = { memoryBytes: 0, budget: 0 };
    const limit = 64 * MiB;
    const watch = new FootprintWatch(probe, limit, store);
    expect(store.budget).toBe(32 * MiB);
    // 20 MiB stored and 3 MiB of other live buffers.
    store.memoryBytes = 20 * MiB;
    probe.live = 23 * MiB;
    probe.garbage = 20 * MiB;
    const allowance = limit * GARBAGE_SHARE;
    watch.received(2 * MiB - 1);
    expect(watch.collections).toBe(0);
    watch.received(1);
    expect([watch.collections, probe.scopes]).toEqual([1, ['young']]);
    // The garbage was old: the scavenge left it, and the next sample asks for the full collection.
    watch.received(2 * MiB);
    expect([watch.collections, probe.scopes]).toEqual([2, ['young', 'all']]);
    // 3 MiB survived the collection: the next one waits for the allowance of garbage beyond them.
    probe.garbage = allowance - MiB;
    watch.check();
    expect(watch.collections).toBe(2);
    // Garbage that died young: the scavenge is enough, and the next sample asks for nothing.
    probe.garbage = allowance + 2 * MiB;
    probe.young = allowance;
    watch.check();
    watch.check();
    expect([watch.collections, probe.scopes]).toEqual([3, ['young', 'all', 'young']]);
    // A later burst of old garbage starts with a scavenge again.
    probe.garbage = allowance + 2 * MiB;
    watch.check();
    watch.check();
    expect([watch.collections, probe.scopes]).toEqual([5, ['young', 'all', 'young', 'young', 'all']]);
    probe.grownBy = 90 * MiB;
    watch.check();
    expect([watch.growth, store.budget]).toEqual([90 * MiB, limit * STORE_FLOOR]);
  });
});

describe('processProbe (this Node runtime)', () => {
  // 64 KiB buffers (the size of a socket read), reachable only through `held.bufs`: 40 MiB, or 8
  // for the scavenge (more would start V8's incremental marking, whose new objects outlive a scavenge).
  const hold = (held: { bufs: Buffer[] | null }, chunks: number): number => {
    held.bufs = Array.from({ length: chunks }, () => Buffer.allocUnsafeSlow(64 * 1024));
    return held.bufs.length;
  };
  const probe = processProbe();
  /** V8 counts freed buffers once its sweeper ran, on another thread: the count is polled for up to a second. */
  const countedBelow = async (bytes: number): Promise<number> => {
    const deadline = Date.now() + 1000;
    while (probe.sample().arrayBuffers >= bytes && Date.now() < deadline) await sleep(5);
    return probe.sample().arrayBuffers;
  };
  /** The kinds of the forced collections `run` caused (V8 may also collect by itself meanwhile). */
  const forcedKinds = async (run: () => void): Promise<number[]> => {
    const kinds: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const d = e.detail as { kind: number; flags: number };
        if (d.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) kinds.push(d.kind);
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    run();
    await sleep(20);
    obs.disconnect();
    return kinds;
  };
  beforeEach(async () => {
    // Garbage of earlier tests is freed and counted first.
    probe.collect('all');
    await sleep(100);
  });

  it('young is a scavenge, all a full collection (under Node 20, gc({ type: "major" }) is a scavenge)', async () => {
    expect(await forcedKinds(() => probe.collect('young'))).toEqual([constants.NODE_PERFORMANCE_GC_MINOR]);
    expect(await forcedKinds(() => probe.collect('all'))).toEqual([constants.NODE_PERFORMANCE_GC_MAJOR]);
  });

  it('a scavenge frees buffers that died young', async () => {
    const held = { bufs: null as Buffer[] | null };
    const before = probe.sample().arrayBuffers;
    expect(hold(held, 128)).toBe(128);
    expect(probe.sample().arrayBuffers - before).toBeGreaterThan(7 * MiB);
    held.bufs = null;
    probe.collect('young');
    expect(await countedBelow(before + MiB)).toBeLessThan(before + MiB);
  });

  it('a full collection frees buffers that reached the old generation', async () => {
    const held = { bufs: null as Buffer[] | null };
    const before = probe.sample().arrayBuffers;
    expect(hold(held, 640)).toBe(640);
    // Two scavenges survived: the buffers' objects are in the old generation, where a scavenge never looks.
    probe.collect('young');
    probe.collect('young');
    expect(probe.sample().arrayBuffers - before).toBeGreaterThan(39 * MiB);
    held.bufs = null;
    probe.collect('all');
    expect(await countedBelow(before + 4 * MiB)).toBeLessThan(before + 4 * MiB);
  });
});

describe('a buffer server under a process that grew', () => {
  const BS = 'bs-footprint';
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  const secret = generateSecret();
  const token = (access: 'publish' | 'subscribe'): Token => mintBufferToken({ secret, bs: BS, streams: ['s'], access, container: 'c', owner: 'test', now: Date.now(), ttlMs: 60_000 });
  const until = async (server: BufferServer, ok: (s: BufferServerStats) => boolean): Promise<BufferServerStats> => {
    for (;;) {
      const s = server.stats();
      if (ok(s)) return s;
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('pauses its publisher with a narrowed store and resumes it once the subscriber has read and the footprint fell, delivering every tuple in order', async () => {
    const limit = MiB;
    const probe = new FakeProbe();
    const dir = mkdtempSync(join(tmpdir(), 'bs-footprint-'));
    // No spool: the store's budget alone decides when the publisher stops being read.
    const server = await startBufferServer({ id: BS, secret, spoolDir: dir, memoryLimit: limit, spoolLimit: 0, memoryProbe: probe, logger: createLogger({ name: 'test', level: 'silent' }) });
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => server.close());
    // The rest of the process grew by the whole limit: the store is left its floor.
    probe.grownBy = limit;

    let purging = false;
    const ends: number[] = [];
    const seen: number[] = [];
    const sub = await connectSubscriber({
      url: server.url,
      token: token('subscribe'),
      stream: 's',
      subscriber: 'reader',
      window: 0,
      onBegin: () => undefined,
      onData: (_w, tuples) => {
        for (const t of tuples as [number, string][]) seen.push(t[0]);
      },
      onEnd: (w) => {
        ends.push(w);
        if (purging) server.purge('s', w);
      },
    });
    cleanup.push(() => sub.close());
    const pub = await connectPublisher({ url: server.url, token: token('publish'), stream: 's', window: 0 });
    cleanup.push(() => pub.close());

    const WINDOWS = 40;
    const PER = 200;
    const pad = 'x'.repeat(100);
    const publishing = (async () => {
      for (let w = 0; w < WINDOWS; w++) {
        pub.begin(w);
        pub.data(w, Array.from({ length: PER }, (_, k) => [w * PER + k, pad]));
        pub.end(w);
        await pub.ready();
      }
    })();

    const paused = await until(server, (s) => s.paused);
    expect(paused.storeBudgetBytes).toBe(limit * STORE_FLOOR);
    expect(paused.footprintBytes).toBe(limit);
    expect(paused.memoryBytes).toBeLessThan(limit * STORE_SHARE);

    // The subscriber's windows are purged as it reads them, and the process is back to idle.
    probe.grownBy = 0;
    purging = true;
    for (const w of ends) server.purge('s', w);
    await publishing;
    await until(server, () => ends.length === WINDOWS);
    const final = server.stats();
    expect(seen).toEqual(Array.from({ length: WINDOWS * PER }, (_, i) => i));
    expect(final.pauses).toBeGreaterThanOrEqual(1);
    expect(final).toMatchObject({ paused: false, storeBudgetBytes: limit * STORE_SHARE, footprintBytes: 0, memoryLimit: limit });
  });
});
