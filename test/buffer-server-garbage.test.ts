import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectControl, connectPublisher } from '@sluice/buffer-server';
import { encode } from '@sluice/common';
import { startBsProcess } from './helpers/bs-process.js';
import { rawAuth, record } from './helpers/bs-clients.js';

/** Bad input never crashes the server or disturbs other connections. */

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One garbage connection of kind k; resolves with how it ended (close code, or 'tcp'). */
async function garbage(url: string, k: number): Promise<string> {
  const { hostname, port } = new URL(url);
  switch (k % 7) {
    case 0: // not even HTTP
      return new Promise((resolve) => {
        const s = connect(Number(port), hostname, () => s.end(randomBytes(200)));
        s.on('error', () => resolve('tcp'));
        s.on('close', () => resolve('tcp'));
        s.resume();
      });
    case 1: // plain HTTP, no upgrade
      return fetch(`http://${hostname}:${port}/`).then((r) => `http ${r.status}`);
    default: {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('error', () => {});
      const closed = new Promise<string>((resolve) => ws.once('close', (code) => resolve(String(code))));
      await new Promise<void>((resolve) => {
        ws.once('open', resolve);
        ws.once('close', () => resolve());
      });
      if (ws.readyState !== WebSocket.OPEN) return closed;
      if (k % 7 === 2) ws.send(randomBytes(64));
      else if (k % 7 === 3) ws.send('garbage text');
      else if (k % 7 === 4) ws.send(encode({ t: 'data', w: 0, tuples: [1] }));
      else if (k % 7 === 5) ws.terminate();
      else {
        ws.close();
      }
      return closed;
    }
  }
}

describe('buffer server under garbage', () => {
  it('keeps a good subscriber receiving everything intact through 1,000 garbage connections', async () => {
    const bs = await startBsProcess();
    cleanup.push(async () => expect(await bs.stop()).toBe(0));
    const stream = 'steady';
    const good = await record({ url: bs.url, token: bs.mint('subscribe', [stream]), stream, subscriber: 'good', window: 0 });
    cleanup.push(() => good.sub.close());
    const pub = await connectPublisher({ url: bs.url, token: bs.mint('publish', [stream]), stream, window: 0 });
    cleanup.push(() => pub.close());
    const WINDOWS = 60;
    let publishing = true;
    const publishing$ = (async () => {
      for (let w = 0; w < WINDOWS; w++) {
        pub.begin(w);
        for (let b = 0; b < 5; b++) pub.data(w, Array.from({ length: 100 }, (_, i) => ({ w, i: b * 100 + i, s: `t${w}.${b}.${i}` })), Array.from({ length: 100 }, (_, i) => i));
        pub.end(w);
        await pub.ready();
        await sleep(5);
      }
      publishing = false;
    })();

    const outcomes = new Map<string, number>();
    const TOTAL = 1000;
    let started = 0;
    const worker = async (): Promise<void> => {
      while (started < TOTAL) {
        const k = started++;
        let outcome: string;
        if (k % 50 === 49) {
          // A well-formed but wrongly proven auth, and a publisher that breaks the protocol after welcome.
          const c = await rawAuth(bs.url, bs.mint('subscribe', [stream]), { role: 'subscribe', stream, subscriber: `g${k}`, window: 0 }, (a) => ({ ...a, proof: randomBytes(32) }));
          outcome = String((await c.closed).code);
          const p = await rawAuth(bs.url, bs.mint('publish', ['other']), { role: 'publish', stream: 'other', window: 0 });
          await p.next();
          p.ws.send(encode({ t: 'end', w: 3 }));
          const bad = `bad publisher ${(await p.closed).code}`;
          outcomes.set(bad, (outcomes.get(bad) ?? 0) + 1);
        } else {
          outcome = await garbage(bs.url, k);
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 25 }, worker));
    await publishing$;
    expect(publishing).toBe(false);
    await good.untilEnd(WINDOWS - 1);
    console.log('garbage outcomes:', Object.fromEntries(outcomes));

    expect(good.tuples).toHaveLength(WINDOWS * 500);
    good.tuples.forEach((t, n) => {
      const w = Math.floor(n / 500);
      const i = n % 500;
      expect(t).toEqual({ w, i, s: `t${w}.${Math.floor(i / 100)}.${i % 100}` });
    });
    expect(good.closed).toBeNull();
    expect(outcomes.get('4400')).toBeGreaterThan(0);
    expect(outcomes.get('4401')).toBe(TOTAL / 50);
    expect([...outcomes.keys()].every((o) => /^(4400|4401|1005|1006|tcp|http 426|bad publisher 4400)$/.test(o))).toBe(true);

    // Still healthy: answers control, and only the good connections remain.
    const control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
    const stats = await control.stats();
    expect(stats.streams[stream]).toMatchObject({ tuplesIn: WINDOWS * 500, publisher: true });
    expect(stats.streams[stream]!.subscribers['good']).toMatchObject({ tuplesOut: WINDOWS * 500, lagWindows: 0 });
    expect(stats.connections).toBeLessThanOrEqual(4);
    await control.close();
  });
});

describe('buffer server shutdown', () => {
  it('is not held by a peer that sent half an HTTP request: SIGTERM ends it with 0 and its spool gone', async () => {
    const bs = await startBsProcess();
    const { hostname, port } = new URL(bs.url);
    const peer = connect(Number(port), hostname);
    const ended = new Promise<void>((resolve) => peer.once('close', () => resolve()));
    peer.on('error', () => {});
    await new Promise<void>((resolve) => peer.once('connect', () => resolve()));
    peer.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'); // headers never finished
    await sleep(100);
    // Before the fix the process stayed up, waiting on this socket, until the test's timeout.
    expect(await bs.stop()).toBe(0);
    await ended;
    expect(existsSync(bs.spoolDir) ? readdirSync(bs.spoolDir) : []).toEqual([]);
  });
});
