import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectControl, connectPublisher, connectSubscriber } from '@sluice/buffer-server';
import { ConnectionClosedError, decodeIdentifier, encode, generateSecret, type AuthRequest, type Token } from '@sluice/common';
import { startBsProcess, type BsProcess } from './helpers/bs-process.js';
import { rawAuth, rawConnect, record } from './helpers/bs-clients.js';

/**
 * Every refusal by close code and reason (docs/protocol.md "Authenticated connection" step 3), against the
 * real command. A refusal is the close frame alone: the only frame a refused client ever sees is
 * the challenge.
 */

let bs: BsProcess;
beforeAll(async () => {
  bs = await startBsProcess({ handshakeTimeout: '400ms', maxPayload: '64KiB' });
});
afterAll(async () => {
  expect(await bs.stop()).toBe(0);
  // Secrets never reach the logs.
  expect(bs.stderr()).not.toContain(bs.secret.toString('hex'));
});

const sub = (stream: string): AuthRequest => ({ role: 'subscribe', stream, subscriber: 'x', window: 0 });
const pub = (stream: string): AuthRequest => ({ role: 'publish', stream, window: 0 });

async function refused(token: Token, request: AuthRequest, mutate?: (a: Record<string, unknown>) => Record<string, unknown>): Promise<{ code: number; reason: string }> {
  const conn = await rawAuth(bs.url, token, request, mutate);
  const closed = await conn.closed;
  expect(conn.frames.map((f) => f['t'])).toEqual(['challenge']);
  return closed;
}

describe('buffer server refusals (close code and reason)', () => {
  it('refuses a wrong proof with 4401', async () => {
    const c = await refused(bs.mint('subscribe', ['s']), sub('s'), (a) => ({ ...a, proof: randomBytes(32) }));
    expect(c).toMatchObject({ code: 4401, reason: expect.stringMatching(/^BAD_PROOF/) });
  });

  it('refuses a subscriber whose token names another stream with 4403', async () => {
    const c = await refused(bs.mint('subscribe', ['a']), sub('b'));
    expect(c).toMatchObject({ code: 4403, reason: expect.stringMatching(/OUT_OF_SCOPE.*not in the token's scope/) });
  });

  it('refuses a subscribe token used to publish with 4403', async () => {
    const c = await refused(bs.mint('subscribe', ['s']), pub('s'));
    expect(c).toMatchObject({ code: 4403, reason: expect.stringMatching(/a subscribe token may not publish/) });
  });

  it('refuses a publish token used as control, and a control token used to subscribe, with 4403', async () => {
    expect(await refused(bs.mint('publish', ['s']), { role: 'control' })).toMatchObject({ code: 4403 });
    expect(await refused(bs.mint('control', ['s']), sub('s'))).toMatchObject({ code: 4403 });
    expect(await refused(bs.mint('publish', ['s']), { role: 'hello', container: 'c1' })).toMatchObject({ code: 4403, reason: expect.stringMatching(/NOT_ALLOWED/) });
  });

  it('refuses the token of another buffer server: 4401 under another secret, 4403 naming another id', async () => {
    const other = bs.mint('subscribe', ['s'], { secret: generateSecret(), bs: 'bs-other' });
    // The client checks the challenge's service; present the token as if it were for this server.
    expect(await refused({ ...other, service: bs.id }, sub('s'))).toMatchObject({ code: 4401, reason: expect.stringMatching(/BAD_PROOF/) });
    const misnamed = bs.mint('subscribe', ['s'], { bs: 'bs-other' });
    expect(await refused({ ...misnamed, service: bs.id }, sub('s'))).toMatchObject({ code: 4403, reason: expect.stringMatching(/WRONG_BUFFER_SERVER/) });
  });

  it('refuses an expired token with 4401 and a reason that says expired', async () => {
    const token = bs.mint('subscribe', ['s'], { ttlMs: 1 });
    await new Promise((r) => setTimeout(r, 5));
    const c = await refused(token, sub('s'));
    expect(c).toMatchObject({ code: 4401, reason: expect.stringMatching(/TOKEN_EXPIRED: token expired at/) });
  });

  it('refuses a replayed auth: on a new connection (4401) and a second auth on the same one (4400)', async () => {
    const token = bs.mint('subscribe', ['s']);
    const first = await rawAuth(bs.url, token, sub('s'));
    expect((await first.next())['t']).toBe('welcome');
    // The same auth bytes again on a fresh connection: the server's nonce differs, so the proof fails.
    const second = await rawConnect(bs.url);
    await second.next();
    second.ws.send(first.authFrame);
    expect(await second.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/BAD_PROOF/) });
    expect(second.frames.map((f) => f['t'])).toEqual(['challenge']);
    first.ws.send(first.authFrame);
    expect(await first.closed).toMatchObject({ code: 4400, reason: expect.stringMatching(/UNEXPECTED_MESSAGE.*"auth"/) });
  });

  it('closes a connection silent past the handshake timeout with 4408', async () => {
    const conn = await rawConnect(bs.url);
    expect(await conn.closed).toMatchObject({ code: 4408, reason: expect.stringMatching(/HANDSHAKE_TIMEOUT/) });
    expect(conn.frames.map((f) => f['t'])).toEqual(['challenge']);
  });

  it('closes a malformed frame with 4400: garbage, text, unknown type, missing field', async () => {
    for (const [send, pattern] of [
      [Buffer.from([0xc1, 0xff, 0x00]), /MALFORMED_FRAME/],
      ['{"t":"auth"}', /MALFORMED_FRAME.*text frames/],
      [encode({ t: 'hack' }), /UNKNOWN_MESSAGE/],
      [encode({ t: 'auth', role: 'control' }), /INVALID_MESSAGE/],
      [encode([1, 2, 3]), /INVALID_MESSAGE/],
    ] as const) {
      const conn = await rawConnect(bs.url);
      await conn.next();
      conn.ws.send(send);
      expect(await conn.closed).toMatchObject({ code: 4400, reason: expect.stringMatching(pattern) });
      expect(conn.frames.map((f) => f['t'])).toEqual(['challenge']);
    }
  });

  it('closes an oversized message with 1009', async () => {
    const p = await connectPublisher({ url: bs.url, token: bs.mint('publish', ['big']), stream: 'big', window: 0 });
    p.begin(0);
    p.data(0, [Buffer.alloc(100 * 1024)]);
    await p.closed;
    await expect(p.ready()).rejects.toMatchObject({ remoteCode: 1009 });
  });

  it('closes a publisher that breaks window order with 4400, keeping what it published', async () => {
    const stream = 'order';
    const cases: [(p: Awaited<ReturnType<typeof connectPublisher>>) => void, RegExp][] = [
      [(p) => p.data(5, [1]), /outside begin\/end/],
      [(p) => (p.begin(5), p.end(5), p.begin(5)), /WINDOW_OUT_OF_ORDER/],
      [(p) => (p.begin(6), p.end(7)), /WINDOW_OUT_OF_ORDER.*window 6 is open/],
      [(p) => (p.begin(7), p.begin(8)), /while window 7 is open/],
      [(p) => p.begin(1), /WINDOW_OUT_OF_ORDER.*at least 5/],
    ];
    for (const [act, reason] of cases) {
      let closed: { code: number; reason: string } | null = null;
      const p = await connectPublisher({ url: bs.url, token: bs.mint('publish', [stream]), stream, window: 5, onClose: (code, r) => (closed = { code, reason: r }) });
      act(p);
      await p.closed;
      expect(closed).toMatchObject({ code: 4400, reason: expect.stringMatching(reason) });
    }
  });

  it('sends nothing of the stream before welcome, then the stream', async () => {
    const stream = 'first';
    const p = await connectPublisher({ url: bs.url, token: bs.mint('publish', [stream]), stream, window: 0 });
    p.begin(0);
    p.data(0, [{ a: 1 }]);
    p.end(0);
    await p.ready();
    const conn = await rawAuth(bs.url, bs.mint('subscribe', [stream]), { role: 'subscribe', stream, subscriber: 'raw', window: 0 });
    for (let i = 0; i < 4; i++) await conn.next();
    expect(conn.frames.map((f) => f['t'])).toEqual(['challenge', 'welcome', 'begin', 'data', 'end']);
    conn.ws.close();
    await p.close();
  });

  it('closes a live connection whose token expires with 4401 and a reason that says expired', async () => {
    const rec = await record({ url: bs.url, token: bs.mint('subscribe', ['s'], { ttlMs: 800 }), stream: 's', subscriber: 'short', window: 0 });
    await rec.sub.closed;
    expect(rec.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/TOKEN_EXPIRED: token expired at \d{4}-/) });
  });

  it('closes a connection at its token expiry when the token lives past a whole second (both legs of the expiry timer)', async () => {
    // Expiry timers wait whole seconds first, then the rest (connection.ts armExpiry): both legs run here.
    const token = bs.mint('subscribe', ['s'], { ttlMs: 2_300 });
    const { maxDate } = decodeIdentifier(token.identifier);
    const rec = await record({ url: bs.url, token, stream: 's', subscriber: 'stepped', window: 0 });
    await rec.sub.closed;
    expect(rec.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/TOKEN_EXPIRED/) });
    expect(Date.now()).toBeGreaterThanOrEqual(maxDate);
  });

  it('replaces a subscriber by a newer connection of the same name with 4409', async () => {
    const a = await record({ url: bs.url, token: bs.mint('subscribe', ['s']), stream: 's', subscriber: 'same', window: 0 });
    const b = await record({ url: bs.url, token: bs.mint('subscribe', ['s']), stream: 's', subscriber: 'same', window: 0 });
    await a.sub.closed;
    expect(a.closed).toMatchObject({ code: 4409 });
    await b.sub.close();
  });

  it('revokes: control revoke closes live connections of those tokens with 4401 and refuses them after', async () => {
    const token = bs.mint('subscribe', ['s'], { sequenceNumber: 424242 });
    const rec = await record({ url: bs.url, token, stream: 's', subscriber: 'rev', window: 0 });
    const control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
    expect(await control.revoke([424242])).toMatchObject({ t: 'ack', of: 'revoke' });
    await rec.sub.closed;
    expect(rec.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/TOKEN_REVOKED/) });
    const err = await connectSubscriber({ url: bs.url, token, stream: 's', subscriber: 'rev', window: 0, onBegin() {}, onData() {}, onEnd() {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionClosedError);
    expect(err).toMatchObject({ remoteCode: 4401, remoteReason: expect.stringMatching(/TOKEN_REVOKED/) });
    await control.close();
  });

  it('lets only control-role connections purge, reset, revoke or ask for stats', async () => {
    // A subscriber or publisher sending control messages is a malformed conversation: 4400.
    const s = await rawAuth(bs.url, bs.mint('subscribe', ['s']), sub('s'));
    await s.next();
    s.ws.send(encode({ t: 'purge', stream: 's', w: 10 }));
    expect(await s.closed).toMatchObject({ code: 4400, reason: expect.stringMatching(/UNEXPECTED_MESSAGE.*"purge" is not allowed/) });
    const p = await rawAuth(bs.url, bs.mint('publish', ['s']), pub('s'));
    await p.next();
    p.ws.send(encode({ t: 'stats' }));
    expect(await p.closed).toMatchObject({ code: 4400 });
    // A control token scoped to some streams may not purge others: 4403.
    let closed: { code: number; reason: string } | null = null;
    const c = await connectControl({ url: bs.url, token: bs.mint('control', ['mine']), onClose: (code, reason) => (closed = { code, reason }) });
    expect(await c.purge('mine', 1)).toMatchObject({ of: 'purge' });
    await expect(c.purge('theirs', 1)).rejects.toThrow(/4403/);
    expect(closed).toMatchObject({ code: 4403, reason: expect.stringMatching(/OUT_OF_SCOPE/) });
  });
});
