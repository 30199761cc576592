import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/common';
import { GatewayRefusal } from '../api.js';
import { LiveStreams } from './live.js';

/** The live stream over a real socket: its events, its end when the session does, and its bound. */

describe('live figures as server-sent events', () => {
  let server: Server;
  let url: string;
  let signedIn = true;
  let polls = 0;
  const live = new LiveStreams(20, createLogger({ name: 'test', level: 'silent' }), 1);

  beforeAll(async () => {
    server = createServer((_req, res) => {
      try {
        live.start(res, { poll: async () => ({ state: 'running', committedWindow: ++polls, operators: [], containers: [], renewalFailing: [], certificateFailing: [] }), signedIn: async () => signedIn });
      } catch (err) {
        res.writeHead((err as GatewayRefusal).status).end((err as Error).message);
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends figures that move, refuses a stream over the bound, and ends with signed-out once the session is gone', async () => {
    const res = await fetch(url);
    expect([res.status, res.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8']);
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/event: figures/g) ?? []).length < 2) text += new TextDecoder().decode((await reader.read()).value);
    const windows = [...text.matchAll(/"committedWindow":(\d+)/g)].map((m) => Number(m[1]));
    expect(windows[1]).toBeGreaterThan(windows[0]!);
    const second = await fetch(url);
    expect([second.status, await second.text()]).toEqual([503, 'the gateway already streams 1 live pages; close some, or reload this one later']);
    signedIn = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toMatch(/event: signed-out\ndata: \{"reason":"the session ended; sign in again"\}\n\n$/);
    signedIn = true;
    const again = await fetch(url);
    expect(again.status).toBe(200);
    await again.body!.cancel();
  });
});
