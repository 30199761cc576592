import { afterEach, describe, expect, it } from 'vitest';
import { connectControl } from '@sluice/buffer-server';
import { FakeContainer } from '@sluice/stram/testing';
import { startBsProcess } from './helpers/bs-process.js';
import { MiB, rawFrameClient, rssOf, rssSampler, type RawFrameClient } from './helpers/raw-ws.js';
import { startStramProcess } from './helpers/stram-process.js';

/**
 * Unauthenticated peers cannot make a server hold memory (docs/protocol.md "Limits before
 * welcome"): before welcome a frame over 16 KiB is closed 1009 from its header, and past 256
 * handshakes in flight a connection is closed 4408 at once and never read — for STRAM's umbilical
 * and a buffer server alike, measured on the real processes' RSS, at the flood's peak and a few
 * seconds after it. Before these bounds each flooding connection made the server buffer its
 * whole 8 MiB frame: forty of them cost STRAM 600 MiB.
 *
 * Why the bounds are per connection and not "a few MiB" — a flood of 200 moves RSS by 3 to 18 MiB,
 * run to run, and RSS stays there after it, though the server holds nothing (measured in-process
 * with --expose-gc: after a collection the heap is within 1 MiB of idle and external memory at
 * idle, flood after flood):
 * - Node reads a socket 64 KiB at a time (libuv's read size; there is no per-socket knob), and a
 *   peer that writes its 8 MiB at once has more than that queued before the server can read the
 *   frame header. So each flooding connection costs one 64 KiB read, 12.5 MiB for 200, freed only
 *   when V8 next collects (the server lets go of it at the refusal, so it dies young and floods do
 *   not pile up: four floods in a row grew RSS by ~40 MiB before, by ~20 MiB since).
 * - Setting up a connection (HTTP upgrade, ws, the challenge) allocates ~40 KiB of short-lived
 *   objects (V8's sampling heap profiler), which 200 at once spread over heap pages the idle
 *   process had not touched.
 * - RSS is a high-water mark: V8 keeps its heap pages and glibc its freed chunks, so after a flood
 *   RSS stays near its peak until the process needs the memory again.
 * Connections past the pending-handshake bound are refused before any of their frame is read, so
 * they cost their set-up only.
 */

const FLOOD = 200;
const FRAME = 8 * MiB;
/** The one socket read a flooding connection costs until V8 collects it (see above). */
const READ = 64 * 1024;
/** What setting up one connection allocates (see above). */
const SETUP = 40 * 1024;
/** The largest frame a holder keeps pending (just under the 16 KiB bound). */
const HELD = 16 * 1024;
/** How far above idle a server's RSS may go: what its connections' set-up and reads cost, and no frame. */
const bound = (o: { connections: number; reads: number; heldBytes?: number }): number => o.connections * SETUP + o.reads * READ + (o.heldBytes ?? 0);

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (bytes: number): string => (bytes / MiB).toFixed(1);

/** Idle RSS once the process has settled. */
async function idleRss(pid: number): Promise<number> {
  await sleep(500);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssOf(pid));
    await sleep(50);
  }
  return Math.max(...samples);
}

/** RSS once the refused sockets are gone (each is cut at the latest 1 s after its refusal), 3 s after the flood. */
async function afterRss(pid: number): Promise<number> {
  await sleep(3000);
  return rssOf(pid);
}

/** FLOOD connections each declaring an 8 MiB frame: half send it at once, half in slow 64 KiB slices. */
function flood(url: string, n = FLOOD): RawFrameClient[] {
  return Array.from({ length: n }, (_, i) => rawFrameClient(url, i % 2 === 0 ? { declared: FRAME } : { declared: FRAME, slice: { bytes: 64 * 1024, everyMs: 20 } }));
}

/** Connections that each send all but the last byte of a frame just under the pre-welcome bound, then wait. */
function holders(url: string, n: number): RawFrameClient[] {
  return Array.from({ length: n }, () => rawFrameClient(url, { declared: HELD - 1, send: HELD - 2 }));
}

async function codes(clients: RawFrameClient[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of await Promise.all(clients.map((x) => x.closed))) out[c.code] = (out[c.code] ?? 0) + 1;
  return out;
}

describe('the pre-welcome memory bound', () => {
  it('a buffer server buffers no frame of 200 connections sending 8 MiB: RSS during and after stays within their set-up and one read each, and a real client is still welcomed', async () => {
    const bs = await startBsProcess({ handshakeTimeout: '5s' });
    cleanup.push(async () => expect(await bs.stop()).toBe(0));
    await (await connectControl({ url: bs.url, token: bs.mint('control', []) })).close();
    const idle = await idleRss(bs.proc.pid!);

    const sampler = rssSampler(bs.proc.pid!);
    const clients = flood(bs.url);
    const control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
    const seen = await codes(clients);
    const peak = sampler.stop();
    const after = await afterRss(bs.proc.pid!);
    console.log(`buffer server RSS: idle ${mib(idle)} MiB, peak during the flood ${mib(peak)} MiB (+${mib(peak - idle)}), 3 s after it ${mib(after)} MiB (+${mib(after - idle)}); close codes`, seen);

    expect(seen).toEqual({ 1009: FLOOD });
    expect(peak - idle).toBeLessThan(bound({ connections: FLOOD, reads: FLOOD }));
    expect(after - idle).toBeLessThan(bound({ connections: FLOOD, reads: FLOOD }));
    const stats = await control.stats();
    expect(stats.authRefusals).toMatchObject({ FRAME_TOO_BIG: FLOOD });
    expect(stats.pendingHandshakes).toBe(0);
    await control.close();
  });

  it('a buffer server closes with 4408 at once, unread, every connection past its pending-handshake bound', async () => {
    const bs = await startBsProcess({ handshakeTimeout: '2s', maxPendingHandshakes: 32 });
    cleanup.push(async () => expect(await bs.stop()).toBe(0));
    await (await connectControl({ url: bs.url, token: bs.mint('control', []) })).close();
    const idle = await idleRss(bs.proc.pid!);

    const sampler = rssSampler(bs.proc.pid!);
    const held = holders(bs.url, 32);
    await sleep(300);
    const extra = flood(bs.url);
    const extraCodes = await codes(extra);
    const peak = sampler.stop();
    console.log(`buffer server RSS: idle ${mib(idle)} MiB, peak with 32 held handshakes and ${FLOOD} more ${mib(peak)} MiB (+${mib(peak - idle)}); close codes`, extraCodes);
    expect(extraCodes).toEqual({ 4408: FLOOD });
    expect(await Promise.all(extra.map((c) => c.closed.then((x) => [x.challenged, x.reason.split(':')[0]])))).toEqual(Array(FLOOD).fill([false, 'TOO_MANY_HANDSHAKES']));
    // The held frames and everyone's set-up; no read of a refused connection.
    expect(peak - idle).toBeLessThan(bound({ connections: 32 + FLOOD, reads: 0, heldBytes: 32 * HELD }));

    // The held ones time out (4408, with a challenge first); then a real client gets in.
    expect(await codes(held)).toEqual({ 4408: 32 });
    const control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
    expect((await control.stats()).authRefusals).toMatchObject({ TOO_MANY_HANDSHAKES: FLOOD, HANDSHAKE_TIMEOUT: 32 });
    await control.close();
  });

  it("STRAM's umbilical buffers no frame of 200 connections sending 8 MiB: RSS during and after stays within their set-up and one read each, and a container still connects", async () => {
    const stram = await startStramProcess();
    cleanup.push(async () => expect(await stram.stop()).toBe(0));
    (await FakeContainer.fromCredentials(stram.credentials('c2'))).close();
    const idle = await idleRss(stram.pid);

    const sampler = rssSampler(stram.pid);
    const clients = flood(stram.umbilical);
    const container = await FakeContainer.fromCredentials(stram.credentials('c1'));
    const ack = await container.heartbeat();
    const seen = await codes(clients);
    const peak = sampler.stop();
    const after = await afterRss(stram.pid);
    console.log(`STRAM RSS: idle ${mib(idle)} MiB, peak during the flood ${mib(peak)} MiB (+${mib(peak - idle)}), 3 s after it ${mib(after)} MiB (+${mib(after - idle)}); close codes`, seen);

    expect(ack.t).toBe('heartbeat-ack');
    expect(seen).toEqual({ 1009: FLOOD });
    expect(peak - idle).toBeLessThan(bound({ connections: FLOOD, reads: FLOOD }));
    expect(after - idle).toBeLessThan(bound({ connections: FLOOD, reads: FLOOD }));
    expect(await stram.metric('sluice_auth_failures_total{endpoint="umbilical",reason="FRAME_TOO_BIG"}')).toBe(FLOOD);
    container.close();
  });

  it("STRAM's umbilical closes with 4408 at once, unread, every connection past 256 handshakes in flight", async () => {
    const stram = await startStramProcess();
    cleanup.push(async () => expect(await stram.stop()).toBe(0));
    (await FakeContainer.fromCredentials(stram.credentials('c2'))).close();
    const idle = await idleRss(stram.pid);

    const sampler = rssSampler(stram.pid);
    const held = holders(stram.umbilical, 256);
    await sleep(500);
    const extra = flood(stram.umbilical);
    const extraCodes = await codes(extra);
    const peak = sampler.stop();
    console.log(`STRAM RSS: idle ${mib(idle)} MiB, peak with 256 held handshakes and ${FLOOD} more ${mib(peak)} MiB (+${mib(peak - idle)}); close codes`, extraCodes);
    expect(extraCodes).toEqual({ 4408: FLOOD });
    // The held frames (4 MiB) and everyone's set-up; no read of a refused connection.
    expect(peak - idle).toBeLessThan(bound({ connections: 256 + FLOOD, reads: 0, heldBytes: 256 * HELD }));
    expect(await stram.metric('sluice_auth_failures_total{endpoint="umbilical",reason="TOO_MANY_HANDSHAKES"}')).toBe(FLOOD);

    expect(await codes(held)).toEqual({ 4408: 256 });
    const container = await FakeContainer.fromCredentials(stram.credentials('c1'));
    expect((await container.heartbeat()).t).toBe('heartbeat-ack');
    container.close();
    expect(await stram.metric('sluice_auth_failures_total{endpoint="umbilical",reason="HANDSHAKE_TIMEOUT"}')).toBe(256);
  });
});
