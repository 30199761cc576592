import { afterEach, describe, expect, it } from 'vitest';
import { connectControl, connectPublisher, type BufferServerStats } from '@sluice/buffer-server';
import { startBsProcess } from './helpers/bs-process.js';
import { record } from './helpers/bs-clients.js';

/**
 * docs/protocol.md "Bounds": a slow subscriber makes the server spill to its spool, then (spool full)
 * stop reading the publisher; nothing accepted is dropped and memory stays under the limit.
 */

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('buffer server bounds', () => {
  it('spills to disk, then applies backpressure, and still delivers every tuple under the memory limit', async () => {
    const bs = await startBsProcess({ memoryLimit: '2MiB', spoolLimit: '4MiB' });
    cleanup.push(async () => expect(await bs.stop()).toBe(0));
    const stream = 'heavy';
    const WINDOWS = 48;
    const BATCHES = 8;
    const SIZE = 64;
    const pad = 'x'.repeat(1000);

    // STRAM's part: purge each window once the (only) downstream subscriber has it.
    const control = await connectControl({ url: bs.url, token: bs.mint('control', [stream]) });
    cleanup.push(() => control.close());
    const samples: BufferServerStats[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push(await control.stats());
        await sleep(10);
      }
    })();

    let next = 0;
    let inOrder = true;
    const slow = await record({
      url: bs.url,
      token: bs.mint('subscribe', [stream]),
      stream,
      subscriber: 'slow',
      window: 0,
      onEnd: async (w) => {
        await sleep(15);
        await control.purge(stream, w);
      },
    });
    const pub = await connectPublisher({ url: bs.url, token: bs.mint('publish', [stream]), stream, window: 0 });
    cleanup.push(() => pub.close());
    const started = performance.now();
    for (let w = 0; w < WINDOWS; w++) {
      pub.begin(w);
      for (let b = 0; b < BATCHES; b++) {
        pub.data(w, Array.from({ length: SIZE }, (_, k) => ({ w, i: b * SIZE + k, pad })));
        await pub.ready();
      }
      pub.end(w);
    }
    await slow.untilEnd(WINDOWS - 1);
    const seconds = (performance.now() - started) / 1000;
    sampling = false;
    await sampler;
    // onEnd of the last window is still sleeping before its purge: purge it now (idempotent).
    await control.purge(stream, WINDOWS - 1);
    const final = await control.stats();

    for (const t of slow.tuples as { w: number; i: number }[]) {
      if (t.w * BATCHES * SIZE + t.i !== next++) inOrder = false;
    }
    expect(next).toBe(WINDOWS * BATCHES * SIZE);
    expect(inOrder).toBe(true);
    expect(slow.ends).toEqual(Array.from({ length: WINDOWS }, (_, w) => w));

    const limit = 2 * 1024 * 1024;
    const maxMemory = Math.max(...samples.map((s) => s.memoryBytes));
    const maxSpool = Math.max(...samples.map((s) => s.spoolBytes));
    console.log(
      `bounds: ${((WINDOWS * BATCHES * SIZE * 1040) / 2 ** 20).toFixed(1)} MiB through a slow subscriber in ${seconds.toFixed(2)} s; ` +
        `peak memory ${final.peakMemoryBytes} B (limit ${limit}), sampled max memory ${maxMemory} B, max spool ${maxSpool} B (limit ${final.spoolLimit}), ` +
        `spilled ${final.spilledBytes} B, publisher paused ${final.pauses} time(s)`,
    );
    expect(final.memoryLimit).toBe(limit);
    expect(final.peakMemoryBytes).toBeLessThanOrEqual(limit);
    expect(maxMemory).toBeLessThanOrEqual(limit);
    expect(final.spilledBytes).toBeGreaterThan(0);
    expect(maxSpool).toBeGreaterThan(0);
    expect(maxSpool).toBeLessThanOrEqual(final.spoolLimit);
    expect(final.pauses).toBeGreaterThanOrEqual(1);
    expect(samples.some((s) => s.paused)).toBe(true);
    // Everything was purged as it was read: nothing left in memory or on disk.
    expect(final).toMatchObject({ memoryBytes: 0, spoolBytes: 0, paused: false });
    expect(final.streams[stream]!.tuplesIn).toBe(WINDOWS * BATCHES * SIZE);
  });
});
