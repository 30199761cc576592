import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectControl, connectPublisher, type Publisher } from '@sluice/buffer-server';
import { startBsProcess, type BsProcess } from './helpers/bs-process.js';
import { record, type Recording } from './helpers/bs-clients.js';

/** Cross-process: the real `sluice buffer-server` command (docs/protocol.md "Buffer server stream"). */

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function server(o: Parameters<typeof startBsProcess>[0] = {}): Promise<BsProcess> {
  const bs = await startBsProcess(o);
  cleanup.push(async () => expect(await bs.stop()).toBe(0));
  return bs;
}

async function publisher(bs: BsProcess, stream: string, window = 0): Promise<Publisher> {
  const pub = await connectPublisher({ url: bs.url, token: bs.mint('publish', [stream]), stream, window });
  cleanup.push(() => pub.close());
  return pub;
}

async function subscribe(bs: BsProcess, stream: string, name: string, window = 0, partitions?: { mask: number; keys: number[] }): Promise<Recording> {
  const rec = await record({ url: bs.url, token: bs.mint('subscribe', [stream]), stream, subscriber: name, window, ...(partitions ? { partitions } : {}) });
  cleanup.push(() => rec.sub.close());
  return rec;
}

/** Publishes windows [from, to) of `batches` × `size` tuples `{w, i}`; p = i when `partitioned`. */
async function publishWindows(pub: Publisher, from: number, to: number, batches: number, size: number, partitioned = false): Promise<void> {
  for (let w = from; w < to; w++) {
    pub.begin(w);
    for (let b = 0; b < batches; b++) {
      const tuples = Array.from({ length: size }, (_, k) => ({ w, i: b * size + k }));
      pub.data(w, tuples, partitioned ? tuples.map((t) => t.i) : undefined);
      await pub.ready();
    }
    pub.end(w);
  }
  await pub.ready();
}

function expectedTuples(from: number, to: number, n: number): { w: number; i: number }[] {
  const out: { w: number; i: number }[] = [];
  for (let w = from; w < to; w++) for (let i = 0; i < n; i++) out.push({ w, i });
  return out;
}

describe('buffer server stream (sluice buffer-server)', () => {
  it('replays every retained window, in order, to a subscriber that joins late', async () => {
    const bs = await server();
    const pub = await publisher(bs, 'orders');
    await publishWindows(pub, 0, 10, 3, 10);
    const control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
    cleanup.push(() => control.close());
    // Wait until the server holds all ten windows before the late subscriber joins.
    for (let i = 0; (await control.stats()).streams['orders']?.lastWindow !== 9 && i < 500; i++) await new Promise((r) => setTimeout(r, 10));
    const late = await subscribe(bs, 'orders', 'late');
    expect(late.sub.from).toBe(0);
    await late.untilEnd(9);
    expect(late.tuples).toEqual(expectedTuples(0, 10, 30));
    const windows = late.events.filter((e) => !e.startsWith('d'));
    expect(windows).toEqual(Array.from({ length: 10 }, (_, w) => [`b${w}`, `e${w}`]).flat());
    // Re-subscribing after a crash from an older window: everything from there on, once.
    await late.sub.close();
    const again = await subscribe(bs, 'orders', 'late', 6);
    expect(again.sub.from).toBe(6);
    await publishWindows(pub, 10, 11, 1, 5);
    await again.untilEnd(10);
    expect(again.tuples).toEqual([...expectedTuples(6, 10, 30), ...expectedTuples(10, 11, 5)]);
    const stats = await control.stats();
    expect(stats.streams['orders']).toMatchObject({ firstWindow: 0, lastWindow: 10, windows: 11, tuplesIn: 305 });
    expect(stats.streams['orders']!.subscribers['late']).toMatchObject({ tuplesOut: 125, lagWindows: 0 });
  });

  it('gives each of four subscribers every tuple', async () => {
    const bs = await server();
    const subs = await Promise.all([0, 1, 2, 3].map((k) => subscribe(bs, 'ticks', `s${k}`)));
    const pub = await publisher(bs, 'ticks');
    const started = performance.now();
    await publishWindows(pub, 0, 20, 10, 500);
    await Promise.all(subs.map((s) => s.untilEnd(19)));
    const seconds = (performance.now() - started) / 1000;
    console.log(`four subscribers: ${Math.round((4 * 100_000) / seconds)} tuples/s delivered in total (${seconds.toFixed(2)} s)`);
    const expected = expectedTuples(0, 20, 5000);
    for (const s of subs) {
      expect(s.tuples.length).toBe(expected.length);
      expect(s.tuples).toEqual(expected);
    }
  });

  it('splits a stream by partition mask with nothing lost or duplicated', async () => {
    const bs = await server();
    const subs = await Promise.all([0, 1, 2, 3].map((k) => subscribe(bs, 'keyed', `p${k}`, 0, { mask: 3, keys: [k] })));
    const pub = await publisher(bs, 'keyed');
    await publishWindows(pub, 0, 5, 4, 50, true);
    // Data without p goes to every subscriber (docs/protocol.md "Subscriber").
    pub.begin(5);
    pub.data(5, [{ w: 5, i: -1 }]);
    pub.end(5);
    await Promise.all(subs.map((s) => s.untilEnd(5)));
    const seen = new Map<string, number>();
    subs.forEach((s, k) => {
      for (const t of s.tuples as { w: number; i: number }[]) {
        if (t.i === -1) continue;
        expect(t.i & 3).toBe(k);
        const key = `${t.w}:${t.i}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
      expect(s.tuples.filter((t) => (t as { i: number }).i === -1)).toHaveLength(1);
      // begin and end of every window reach every subscriber, even with nothing for it inside.
      expect(s.ends).toEqual([0, 1, 2, 3, 4, 5]);
    });
    expect(seen.size).toBe(5 * 200);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });


  it('tuples published one at a time arrive in fewer frames, each once, in order, inside their window', async () => {
    const bs = await server();
    const plain = await subscribe(bs, 'singles', 'plain');
    const halves = await Promise.all([0, 1].map((k) => subscribe(bs, 'singles', `half${k}`, 0, { mask: 1, keys: [k] })));
    const pub = await publisher(bs, 'singles');
    for (let w = 0; w < 4; w++) {
      pub.begin(w);
      for (let i = 0; i < 1000; i++) {
        pub.data(w, [{ w, i }], [i]);
        if (i % 250 === 249) await new Promise((r) => setImmediate(r)); // a turn ends mid-window
      }
      pub.end(w);
      await pub.ready();
    }
    await plain.untilEnd(3);
    await Promise.all(halves.map((h) => h.untilEnd(3)));
    expect(plain.tuples).toEqual(expectedTuples(0, 4, 1000));
    // Every window's data sits between its begin and its end, in far fewer frames than tuples.
    const frames = plain.events.filter((e) => e.startsWith('d'));
    expect(frames.length).toBeLessThan(4 * 1000 / 10);
    let open = -1;
    for (const e of plain.events) {
      if (e.startsWith('b')) open = Number(e.slice(1));
      else if (e.startsWith('d')) expect(Number(e.slice(1))).toBe(open);
      else open = -1;
    }
    halves.forEach((h, k) => expect(h.tuples).toEqual(expectedTuples(0, 4, 1000).filter((t) => (t.i & 1) === k)));
  });
  it('purge frees memory and deletes spool files; stop removes the spool', async () => {
    const bs = await server({ memoryLimit: '256KiB', spoolLimit: '64MiB' });
    const pub = await publisher(bs, 'big');
    const blob = 'x'.repeat(1000);
    for (let w = 0; w < 20; w++) {
      pub.begin(w);
      for (let b = 0; b < 10; b++) pub.data(w, Array.from({ length: 10 }, (_, i) => ({ i, blob })));
      pub.end(w);
      await pub.ready();
    }
    const control = await connectControl({ url: bs.url, token: bs.mint('control', ['big']) });
    cleanup.push(() => control.close());
    let stats = await control.stats();
    for (let i = 0; stats.streams['big']?.lastWindow !== 19 && i < 500; i++) stats = await control.stats();
    expect(stats.spoolBytes).toBeGreaterThan(0);
    expect(stats.memoryBytes).toBeLessThanOrEqual(stats.memoryLimit);
    const spoolRoot = join(bs.spoolDir, readdirSync(bs.spoolDir)[0]!);
    expect(readdirSync(spoolRoot).length).toBeGreaterThan(0);
    await control.purge('big', 9);
    const half = await control.stats();
    expect(half.streams['big']).toMatchObject({ firstWindow: 10, windows: 10 });
    expect(half.spoolBytes + half.memoryBytes).toBeLessThan(stats.spoolBytes + stats.memoryBytes);
    expect(await control.purge('big', 19)).toMatchObject({ of: 'purge', stream: 'big', w: 19 });
    const after = await control.stats();
    expect(after).toMatchObject({ memoryBytes: 0, spoolBytes: 0 });
    expect(readdirSync(spoolRoot)).toEqual([]);
    // A subscriber from an old window starts at the oldest retained one (none: the next to come).
    const sub = await subscribe(bs, 'big', 'after-purge', 3);
    expect(sub.sub.from).toBe(20);
    await sub.sub.close();
    await control.close();
    await pub.close();
    expect(await bs.stop()).toBe(0);
    cleanup.length = 0;
    expect(() => readdirSync(spoolRoot)).toThrow(/ENOENT/);
  });

  it('a restarted publisher replaces the windows from the one it names, without duplicates', async () => {
    const bs = await server();
    const live = await subscribe(bs, 'ops', 'live');
    const first = await publisher(bs, 'ops');
    await publishWindows(first, 0, 5, 1, 3);
    await live.untilEnd(4);
    await first.close();
    const second = await publisher(bs, 'ops', 3);
    for (let w = 3; w < 6; w++) {
      second.begin(w);
      second.data(w, [{ w, i: 100 }]);
      second.end(w);
    }
    await live.untilEnd(5);
    // The live subscriber had windows 0..4 already: it gets only window 5, once.
    expect(live.tuples).toEqual([...expectedTuples(0, 5, 3), { w: 5, i: 100 }]);
    const fresh = await subscribe(bs, 'ops', 'fresh');
    await fresh.untilEnd(5);
    expect(fresh.tuples).toEqual([...expectedTuples(0, 3, 3), { w: 3, i: 100 }, { w: 4, i: 100 }, { w: 5, i: 100 }]);
    expect(fresh.ends).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
