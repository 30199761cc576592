import type { Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { binaryFrameHead } from './ws-frame.js';

/** A ws server on 127.0.0.1 that writes header + payload straight to each client's TCP socket, as subscribers do. */
let wss: WebSocketServer;
let url: string;
beforeAll(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const payload = Buffer.alloc(data.readUInt32BE(0), 7);
      if (payload.length > 0) payload[payload.length - 1] = 9;
      const raw = (ws as WebSocket & { _socket: Socket })._socket;
      raw.write(binaryFrameHead(payload, true));
      raw.write(payload);
    });
  });
});
afterAll(() => wss.close());

async function roundTrip(n: number): Promise<{ data: Buffer; isBinary: boolean }> {
  const client = new WebSocket(url, { perMessageDeflate: false });
  await once(client, 'open');
  const got = once(client, 'message') as Promise<[Buffer, boolean]>;
  const ask = Buffer.alloc(4);
  ask.writeUInt32BE(n);
  client.send(ask);
  const [data, isBinary] = await got;
  client.close();
  return { data, isBinary };
}

describe('binaryFrameHead', () => {
  it.each([0, 1, 125, 126, 65_535, 65_536, 200_000])('a %d-byte payload arrives at a ws client as one binary message of those bytes', async (n) => {
    const { data, isBinary } = await roundTrip(n);
    expect(isBinary).toBe(true);
    const want = Buffer.alloc(n, 7);
    if (n > 0) want[n - 1] = 9;
    expect(data.equals(want)).toBe(true);
  });

  it('is made once per stored frame and shared; a frame made for one subscriber is not kept', () => {
    const stored = Buffer.alloc(300);
    expect(binaryFrameHead(stored, true)).toBe(binaryFrameHead(stored, true));
    expect(binaryFrameHead(stored, false)).not.toBe(binaryFrameHead(stored, true));
    expect(binaryFrameHead(stored, false)).toEqual(binaryFrameHead(stored, true));
  });
});
