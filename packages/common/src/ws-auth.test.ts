import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { bufferTokenPassword, checkBufferTokenLive, mintBufferToken } from './buffer-token.js';
import { decode, encode } from './codec.js';
import { SluiceError } from './errors.js';
import { ClientHandshake, ServerHandshake, type TokenAuthority } from './handshake.js';
import { HandshakeGate } from './handshake-gate.js';
import type { AuthRequest } from './protocol.js';
import type { Token } from './token.js';
import { ConnectionClosedError, acceptAuthenticated, connectAuthenticated, toBuffer } from './ws-auth.js';

const secret = randomBytes(32);
const authority: TokenAuthority = {
  password: (idBytes) => bufferTokenPassword(secret, idBytes).password,
  checkLive: (id) => checkBufferTokenLive(id, Date.now(), new Set()),
  authorize: (id, request) => {
    if (request.role !== 'publish' || !(id.scope['streams'] as string[]).includes(request.stream)) {
      throw new SluiceError('OUT_OF_SCOPE', 'not in scope');
    }
  },
};
const publish: AuthRequest = { role: 'publish', stream: 'orders', window: 0 };

function token(over: Partial<Parameters<typeof mintBufferToken>[0]> = {}): Token {
  return mintBufferToken({ secret, bs: 'bs-1', streams: ['orders'], access: 'publish', owner: 'alice', now: Date.now(), ttlMs: 60_000, ...over });
}

interface Served {
  url: string;
  refusals: SluiceError[];
  accepted: number;
  /** Sizes of the frames welcomed connections sent after their auth. */
  afterWelcome: number[];
}

const servers: WebSocketServer[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (wss) =>
        new Promise<void>((resolve) => {
          for (const c of wss.clients) c.terminate();
          wss.close(() => resolve());
        }),
    ),
  );
});

/** A server on 127.0.0.1, port 0, that authenticates each connection and records the sizes of later frames. */
async function serve(options: { timeoutMs?: number; maxPayload?: number; gate?: HandshakeGate } = {}): Promise<Served> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: options.maxPayload ?? 1024 * 1024 });
  servers.push(wss);
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const served: Served = { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, refusals: [], accepted: 0, afterWelcome: [] };
  wss.on('connection', (socket) => {
    acceptAuthenticated(socket, new ServerHandshake('bs-1', authority), {
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.gate ? { gate: options.gate } : {}),
      onAccepted: (accepted) => {
        served.accepted++;
        socket.on('message', (data) => served.afterWelcome.push(toBuffer(data).length));
        socket.send(accepted.welcome({ from: 0 }));
      },
      onRefused: (err) => served.refusals.push(err),
    });
  });
  return served;
}

async function refusedWith(p: Promise<unknown>): Promise<ConnectionClosedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectionClosedError);
  return err as ConnectionClosedError;
}

/** A raw client: records every frame received and how the connection closed. */
function rawClient(url: string): { socket: WebSocket; frames: { data: Buffer; isBinary: boolean }[]; closed: Promise<{ code: number; reason: string }> } {
  const socket = new WebSocket(url);
  const frames: { data: Buffer; isBinary: boolean }[] = [];
  socket.on('message', (data, isBinary) => frames.push({ data: toBuffer(data), isBinary }));
  socket.on('error', () => undefined); // the close event carries what the test asserts
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
  return { socket, frames, closed };
}

describe('authenticated connections over ws', () => {
  it('welcomes a valid token', async () => {
    const { url } = await serve();
    const conn = await connectAuthenticated(url, token(), publish);
    expect(conn.welcome).toMatchObject({ t: 'welcome', from: 0 });
    conn.socket.close();
  });

  it('refuses a wrong proof with 4401, as a ConnectionClosedError', async () => {
    const served = await serve();
    const err = await refusedWith(connectAuthenticated(served.url, { ...token(), password: randomBytes(32) }, publish));
    expect(err.remoteCode).toBe(4401);
    expect(err.remoteReason).toMatch(/^BAD_PROOF/);
    expect(served.refusals.map((e) => e.code)).toEqual(['BAD_PROOF']);
  });

  it('refuses a stream outside the token scope with 4403', async () => {
    const { url } = await serve();
    const err = await refusedWith(connectAuthenticated(url, token(), { role: 'publish', stream: 'payments', window: 0 }));
    expect(err.remoteCode).toBe(4403);
    expect(err.remoteReason).toMatch(/^OUT_OF_SCOPE/);
  });

  it('closes a silent client with 4408 after the handshake timeout', async () => {
    const served = await serve({ timeoutMs: 100 });
    const client = rawClient(served.url);
    const closed = await client.closed;
    expect(closed.code).toBe(4408);
    expect(closed.reason).toMatch(/^HANDSHAKE_TIMEOUT/);
    expect(client.frames).toHaveLength(1);
    expect(served.refusals.map((e) => e.code)).toEqual(['HANDSHAKE_TIMEOUT']);
  });

  it('closes with 1009 when the auth frame is over maxPayload', async () => {
    const served = await serve({ maxPayload: 512 });
    const err = await refusedWith(connectAuthenticated(served.url, token(), { role: 'publish', stream: 'o'.repeat(256) + 'x'.repeat(300), window: 0 } as AuthRequest));
    expect(err.remoteCode).toBe(1009);
    // the server survives (no uncaught 'error') and reports the refusal
    await expect.poll(() => served.refusals.map((e) => [e.code, e.closeCode])).toEqual([['FRAME_TOO_BIG', 1009]]);
    const conn = await connectAuthenticated(served.url, token(), publish);
    conn.socket.close();
  });

  it('closes a malformed auth frame with 4400', async () => {
    const served = await serve();
    const client = rawClient(served.url);
    await new Promise<void>((resolve) => client.socket.once('message', () => resolve()));
    client.socket.send(encode({ t: 'auth', id: 'not binary' }));
    const closed = await client.closed;
    expect(closed.code).toBe(4400);
    const text = rawClient(served.url);
    await new Promise<void>((resolve) => text.socket.once('message', () => resolve()));
    text.socket.send('{"t":"auth"}');
    expect((await text.closed).code).toBe(4400);
    expect(served.refusals.map((e) => e.closeCode)).toEqual([4400, 4400]);
  });

  it('sends nothing but the challenge before welcome, and nothing but the challenge on refusal', async () => {
    const served = await serve();
    for (const good of [true, false]) {
      const t = good ? token() : { ...token(), password: randomBytes(32) };
      const client = rawClient(served.url);
      const handshake = new ClientHandshake(t, publish);
      client.socket.once('message', (data, isBinary) => client.socket.send(handshake.answer(toBuffer(data), isBinary)));
      if (good) {
        await new Promise<void>((resolve) => client.socket.on('message', () => client.frames.length === 2 && resolve()));
        client.socket.close();
      }
      const closed = await client.closed;
      const types = client.frames.map((f) => (decode(f.data) as { t: string }).t);
      expect(client.frames.every((f) => f.isBinary)).toBe(true);
      if (good) {
        expect(types).toEqual(['challenge', 'welcome']);
        handshake.welcome(client.frames[1]!.data, true);
      } else {
        expect(types).toEqual(['challenge']);
        expect(closed.code).toBe(4401);
      }
    }
    expect(served.accepted).toBe(1);
  });

  it('keeps serving others after refusing a client', async () => {
    const served = await serve();
    await refusedWith(connectAuthenticated(served.url, { ...token(), password: randomBytes(32) }, publish));
    const conn = await connectAuthenticated(served.url, token(), publish);
    conn.socket.close();
  });
});

/** Resolves once the socket has received its first frame (the challenge). */
const challenged = (socket: WebSocket): Promise<void> => new Promise((resolve) => socket.once('message', () => resolve()));

describe('bounds before welcome (docs/protocol.md "Limits before welcome")', () => {
  it('closes with 1009 a frame over the pre-welcome bound, yet takes frames up to maxPayload once welcomed', async () => {
    const gate = new HandshakeGate({ preAuthMaxPayload: 16 * 1024 });
    const served = await serve({ gate });
    const client = rawClient(served.url);
    await challenged(client.socket);
    client.socket.send(Buffer.alloc(16 * 1024 + 1));
    expect((await client.closed).code).toBe(1009);
    await expect.poll(() => served.refusals.map((e) => [e.code, e.closeCode])).toEqual([['FRAME_TOO_BIG', 1009]]);
    // A frame of exactly the bound is read (and refused as the malformed auth it is).
    const exact = rawClient(served.url);
    await challenged(exact.socket);
    exact.socket.send(Buffer.alloc(16 * 1024));
    expect(await exact.closed).toMatchObject({ code: 4400, reason: expect.stringMatching(/^MALFORMED_FRAME/) });

    const conn = await connectAuthenticated(served.url, token(), publish);
    conn.socket.send(Buffer.alloc(512 * 1024));
    await expect.poll(() => served.afterWelcome).toEqual([512 * 1024]);
    conn.socket.close();
    expect(Object.fromEntries(gate.refusals)).toEqual({ FRAME_TOO_BIG: 1, MALFORMED_FRAME: 1 });
  });

  it('closes with 1008 an auth sent in more than a few fragments', async () => {
    const served = await serve({ gate: new HandshakeGate() });
    const client = rawClient(served.url);
    await challenged(client.socket);
    for (let i = 0; i < 8; i++) client.socket.send(Buffer.from([0x80]), { fin: false });
    expect((await client.closed).code).toBe(1008);
    await expect.poll(() => served.refusals.map((e) => [e.code, e.closeCode])).toEqual([['TOO_MANY_FRAGMENTS', 1008]]);
  });

  it('closes with 4408 at once a connection past the pending-handshake bound, and takes one again when a slot frees', async () => {
    const gate = new HandshakeGate({ maxPendingHandshakes: 3 });
    const served = await serve({ gate, timeoutMs: 10_000 });
    const silent = Array.from({ length: 3 }, () => rawClient(served.url));
    await Promise.all(silent.map((c) => challenged(c.socket)));
    expect(gate.pendingHandshakes).toBe(3);
    const extra = rawClient(served.url);
    expect(await extra.closed).toMatchObject({ code: 4408, reason: expect.stringMatching(/^TOO_MANY_HANDSHAKES: 3 connections are already authenticating/) });
    expect(extra.frames).toHaveLength(0); // not even a challenge
    const refused = await refusedWith(connectAuthenticated(served.url, token(), publish));
    expect(refused.remoteCode).toBe(4408);

    silent[0]!.socket.close();
    await expect.poll(() => gate.pendingHandshakes).toBe(2);
    const conn = await connectAuthenticated(served.url, token(), publish);
    expect(gate.pendingHandshakes).toBe(2);
    conn.socket.close();
    expect(Object.fromEntries(gate.refusals)).toEqual({ TOO_MANY_HANDSHAKES: 2 });
  });

  it('gives back the slot on every outcome: welcome, refusal, timeout, framing error, peer gone', async () => {
    const gate = new HandshakeGate({ preAuthMaxPayload: 2048 });
    const served = await serve({ gate, timeoutMs: 200 });
    (await connectAuthenticated(served.url, token(), publish)).socket.close();
    await refusedWith(connectAuthenticated(served.url, { ...token(), password: randomBytes(32) }, publish));
    await rawClient(served.url).closed; // timeout
    const big = rawClient(served.url);
    await challenged(big.socket);
    big.socket.send(Buffer.alloc(4096));
    await big.closed;
    const gone = rawClient(served.url);
    await challenged(gone.socket);
    gone.socket.terminate();
    await expect.poll(() => gate.pendingHandshakes).toBe(0);
    expect(Object.fromEntries(gate.refusals)).toEqual({ BAD_PROOF: 1, HANDSHAKE_TIMEOUT: 1, FRAME_TOO_BIG: 1 });
  });

  it('refuses nonsense bounds as BAD_CONFIG naming the option', () => {
    expect(() => new HandshakeGate({ preAuthMaxPayload: 100 })).toThrow(/preAuthMaxPayload/);
    expect(() => new HandshakeGate({ maxPendingHandshakes: 0 })).toThrow(/maxPendingHandshakes/);
  });
});
