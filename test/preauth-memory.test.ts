import { afterEach, describe, expect, it } from 'vitest';
import { connectControl } from '@sluice/buffer-server';
import { FakeContainer } from '@sluice/stram/testing';
import { startBsProcess } from './helpers/bs-process.js';
import { MiB, rawFrameClient, rssOf, rssSampler, type RawFrameClient } from './helpers/raw-ws.js';
import { startStramProcess } from './helpers/stram-process.js';

/**
 * Unauthenticated peers cannot make a server hold memory (docs/protocol.md "Limits before
 * welcome"): before welcome a frame over 16 KiB is closed 1009 from its header, and past 256
 * handshakes in flight a connection is closed 4408 at once — for STRAM's umbilical and a buffer
 * server alike, measured on the real processes' RSS.
 * Before these bounds each flooding connection made the server buffer its whole 8 MiB frame.
 */

const FLOOD = 200;
const FRAME = 8 * MiB;
/** How far above idle a server's RSS may go during a flood. */
const MARGIN = 16 * MiB;

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

/** FLOOD connections each declaring an 8 MiB frame: half send it at once, half in slow 64 KiB slices. */
function flood(url: string, n = FLOOD): RawFrameClient[] {
  return Array.from({ length: n }, (_, i) => rawFrameClient(url, i % 2 === 0 ? { declared: FRAME } : { declared: FRAME, slice: { bytes: 64 * 1024, everyMs: 20 } }));
}

/** Connections that each send all but the last byte of a frame just under the pre-welcome bound, then wait. */
function holders(url: string, n: number): RawFrameClient[] {
  return Array.from({ length: n }, () => rawFrameClient(url, { declared: 16 * 1024 - 1, send: 16 * 1024 - 2 }));
}

async function codes(clients: RawFrameClient[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of await Promise.all(clients.map((x) => x.closed))) out[c.code] = (out[c.code] ?? 0) + 1;
  return out;
}

describe('the pre-welcome memory bound', () => {
  it('a buffer server stays within 16 MiB of idle under 200 connections sending 8 MiB frames, and still welcomes a real client', async () => {
    const bs = await startBsProcess({ handshakeTimeout: '5s' });
    cleanup.push(async () => expect(await bs.stop()).toBe(0));
    await (await connectControl({ url: bs.url, token: bs.mint('control', []) })).close();
    const idle = await idleRss(bs.proc.pid!);

    const sampler = rssSampler(bs.proc.pid!);
    const clients = flood(bs.url);
    const control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
    const seen = await codes(clients);
    const peak = sampler.stop();
    console.log(`buffer server RSS: idle ${mib(idle)} MiB, peak during the flood ${mib(peak)} MiB (+${mib(peak - idle)}); close codes`, seen);

    expect(seen).toEqual({ 1009: FLOOD });
    expect(peak - idle).toBeLessThan(MARGIN);
    const stats = await control.stats();
    expect(stats.authRefusals).toMatchObject({ FRAME_TOO_BIG: FLOOD });
    expect(stats.pendingHandshakes).toBe(0);
    await control.close();
  });

  it('a buffer server closes with 4408 at once every connection past its pending-handshake bound, holding at most the bound\'s frames', async () => {
    const bs = await startBsProcess({ handshakeTimeout: '2s', maxPendingHandshakes: 32 });
    cleanup.push(async () => expect(await bs.stop()).toBe(0));
    await (await connectControl({ url: bs.url, token: bs.mint('control', []) })).close();
    const idle = await idleRss(bs.proc.pid!);

    const sampler = rssSampler(bs.proc.pid!);
    const held = holders(bs.url, 32);
    await sleep(300);
    const extra = flood(bs.url, 50);
    const extraCodes = await codes(extra);
    const peak = sampler.stop();
    console.log(`buffer server RSS: idle ${mib(idle)} MiB, peak with 32 held handshakes and 50 more ${mib(peak)} MiB (+${mib(peak - idle)}); close codes`, extraCodes);
    expect(extraCodes).toEqual({ 4408: 50 });
    expect(await Promise.all(extra.map((c) => c.closed.then((x) => [x.challenged, x.reason.split(':')[0]])))).toEqual(Array(50).fill([false, 'TOO_MANY_HANDSHAKES']));
    expect(peak - idle).toBeLessThan(MARGIN);

    // The held ones time out (4408, with a challenge first); then a real client gets in.
    expect(await codes(held)).toEqual({ 4408: 32 });
    const control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
    expect((await control.stats()).authRefusals).toMatchObject({ TOO_MANY_HANDSHAKES: 50, HANDSHAKE_TIMEOUT: 32 });
    await control.close();
  });

  it("STRAM's umbilical stays within 16 MiB of idle under 200 connections sending 8 MiB frames, and a container still connects", async () => {
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
    console.log(`STRAM RSS: idle ${mib(idle)} MiB, peak during the flood ${mib(peak)} MiB (+${mib(peak - idle)}); close codes`, seen);

    expect(ack.t).toBe('heartbeat-ack');
    expect(seen).toEqual({ 1009: FLOOD });
    expect(peak - idle).toBeLessThan(MARGIN);
    expect(await stram.metric('sluice_auth_failures_total{endpoint="umbilical",reason="FRAME_TOO_BIG"}')).toBe(FLOOD);
    container.close();
  });

  it("STRAM's umbilical closes with 4408 every connection past 256 handshakes in flight", async () => {
    const stram = await startStramProcess();
    cleanup.push(async () => expect(await stram.stop()).toBe(0));
    (await FakeContainer.fromCredentials(stram.credentials('c2'))).close();
    const idle = await idleRss(stram.pid);

    const sampler = rssSampler(stram.pid);
    const held = holders(stram.umbilical, 256);
    await sleep(500);
    const extra = flood(stram.umbilical, 50);
    const extraCodes = await codes(extra);
    const peak = sampler.stop();
    console.log(`STRAM RSS: idle ${mib(idle)} MiB, peak with 256 held handshakes and 50 more ${mib(peak)} MiB (+${mib(peak - idle)}); close codes`, extraCodes);
    expect(extraCodes).toEqual({ 4408: 50 });
    expect(peak - idle).toBeLessThan(MARGIN);
    expect(await stram.metric('sluice_auth_failures_total{endpoint="umbilical",reason="TOO_MANY_HANDSHAKES"}')).toBe(50);

    expect(await codes(held)).toEqual({ 4408: 256 });
    const container = await FakeContainer.fromCredentials(stram.credentials('c1'));
    expect((await container.heartbeat()).t).toBe('heartbeat-ack');
    container.close();
    expect(await stram.metric('sluice_auth_failures_total{endpoint="umbilical",reason="HANDSHAKE_TIMEOUT"}')).toBe(256);
  });
});
