import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectControl, connectPublisher } from '@sluice/buffer-server';
import {
  ClientHandshake,
  ConnectionClosedError,
  decode,
  deriveSessionKeys,
  encode,
  messageMac,
  readCredentials,
  tokenFromText,
  type AuthRequest,
  type SessionKeys,
  type Token,
} from '@sluice/common';
import { FakeContainer } from '@sluice/stram/testing';
import { rawAuth, rawConnect, record, type RawConn } from './helpers/bs-clients.js';
import { startBsProcess, type BsProcess } from './helpers/bs-process.js';
import { startStramProcess, type StramProcess } from './helpers/stram-process.js';

/**
 * The wire is standard MessagePack only (docs/protocol.md "1. Transport and encoding"): a frame
 * holding any extension type but the standard timestamp, or the reserved byte 0xc1, is closed
 * 4400 MALFORMED_FRAME on every role and path — the auth of publish, subscribe, control and the
 * umbilical's hello, and after welcome a publisher's tuples (nothing of such a frame is stored),
 * a subscriber's or control's frames, the umbilical's envelope and the MAC'd body inside it.
 * Against the real `sluice buffer-server` command and a real STRAM process.
 */

interface Sample {
  name: string;
  bytes: Buffer;
  reason: RegExp;
}

const EXTENSION = /^MALFORMED_FRAME: frame holds an extension type other than the timestamp \(-1\) at byte \d+/;
const TIMESTAMP = /^MALFORMED_FRAME: frame holds a malformed timestamp/;
const RESERVED = /^MALFORMED_FRAME: frame holds the reserved byte 0xc1/;

/**
 * Every extension header form (fixext 1/2/4/8/16, ext 8/16/32) with type bytes msgpackr and
 * others use — undefined (0), BigInt (0x42), records (0x72), Set (0x73), positive, negative —,
 * type -1 in every form that is no timestamp, a timestamp with 10^9 nanoseconds, and 0xc1.
 */
function samples(): Sample[] {
  const forms: [string, (type: number) => Buffer][] = [
    ['fixext1', (t) => Buffer.from([0xd4, t, 0])],
    ['fixext2', (t) => Buffer.from([0xd5, t, 0, 0])],
    ['fixext4', (t) => Buffer.concat([Buffer.from([0xd6, t]), Buffer.alloc(4)])],
    ['fixext8', (t) => Buffer.concat([Buffer.from([0xd7, t]), Buffer.alloc(8)])],
    ['fixext16', (t) => Buffer.concat([Buffer.from([0xd8, t]), Buffer.alloc(16)])],
    ['ext8', (t) => Buffer.from([0xc7, 3, t, 1, 2, 3])],
    ['ext16', (t) => Buffer.from([0xc8, 0, 3, t, 1, 2, 3])],
    ['ext32', (t) => Buffer.from([0xc9, 0, 0, 0, 3, t, 1, 2, 3])],
  ];
  const out: Sample[] = [];
  for (const [form, make] of forms) {
    for (const type of [0x00, 0x01, 0x42, 0x72, 0x73, 0x7f, 0x80, 0xfe]) out.push({ name: `${form} type 0x${type.toString(16)}`, bytes: make(type), reason: EXTENSION });
    if (form !== 'fixext4' && form !== 'fixext8') out.push({ name: `${form} type -1`, bytes: make(0xff), reason: TIMESTAMP });
  }
  out.push({ name: 'timestamp of 10^9 ns', bytes: Buffer.from('d7ffee6b280000000000', 'hex'), reason: TIMESTAMP });
  out.push({ name: 'reserved 0xc1', bytes: Buffer.from([0xc1]), reason: RESERVED });
  return out;
}
const SAMPLES = samples();

const SLOT = 'SLOT\u0001';
const SLOT_BYTES = encode(SLOT);

/** `value` encoded, with its one SLOT string replaced by `bytes`. */
function frameWith(value: unknown, bytes: Buffer): Buffer {
  const frame = encode(value);
  const at = frame.indexOf(SLOT_BYTES);
  if (at < 0) throw new Error('no SLOT in the value');
  return Buffer.concat([frame.subarray(0, at), bytes, frame.subarray(at + SLOT_BYTES.length)]);
}

/** Answers the challenge with a real proof for `request`, plus a field `x` holding `bytes`. */
async function authWith(url: string, token: Token, request: AuthRequest, bytes: Buffer): Promise<RawConn> {
  const conn = await rawConnect(url);
  const challenge = await conn.next();
  const auth = decode(new ClientHandshake(token, request).answer(encode(challenge), true)) as Record<string, unknown>;
  conn.ws.send(frameWith({ ...auth, x: SLOT }, bytes));
  return conn;
}

/** The msgpackr record form of a map (what the outside attacker sent): d4 72 40, the keys, then the values. */
function asRecord(message: Record<string, unknown>): Buffer {
  return Buffer.concat([Buffer.from([0xd4, 0x72, 0x40]), encode(Object.keys(message)), ...Object.values(message).map((v) => encode(v))]);
}

describe('buffer server: extension types refused on every role', () => {
  let bs: BsProcess;
  beforeAll(async () => {
    bs = await startBsProcess({ handshakeTimeout: '2s' });
  });
  afterAll(async () => {
    expect(await bs.stop()).toBe(0);
  });

  const requests: [string, AuthRequest, () => Token][] = [
    ['publish', { role: 'publish', stream: 's', window: 0 }, () => bs.mint('publish', ['s'])],
    ['subscribe', { role: 'subscribe', stream: 's', subscriber: 'x', window: 0 }, () => bs.mint('subscribe', ['s'])],
    ['control', { role: 'control' }, () => bs.mint('control', [])],
  ];

  it('closes with 4400 an auth holding any extension or 0xc1, for publish, subscribe and control, before any welcome', async () => {
    for (const [role, request, token] of requests) {
      for (const s of SAMPLES) {
        const conn = await authWith(bs.url, token(), request, s.bytes);
        const closed = await conn.closed;
        expect([role, s.name, closed.code, closed.reason]).toEqual([role, s.name, 4400, expect.stringMatching(s.reason)]);
        expect(conn.frames.map((f) => f['t'])).toEqual(['challenge']);
      }
    }
    const control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
    expect((await control.stats()).authRefusals).toMatchObject({ MALFORMED_FRAME: requests.length * SAMPLES.length });
    await control.close();
  });

  it('closes with 4400 a genuine auth sent as a msgpackr record (the reported bypass)', async () => {
    for (const [role, request, token] of requests) {
      const conn = await rawConnect(bs.url);
      const challenge = await conn.next();
      const auth = decode(new ClientHandshake(token(), request).answer(encode(challenge), true)) as Record<string, unknown>;
      conn.ws.send(asRecord(auth));
      expect([role, await conn.closed]).toEqual([role, { code: 4400, reason: expect.stringMatching(EXTENSION) }]);
      expect(conn.frames.map((f) => f['t'])).toEqual(['challenge']);
    }
  });

  it('closes a publisher with 4400 for an extension inside a tuple, and stores nothing of that frame', async () => {
    const watchers: Awaited<ReturnType<typeof record>>[] = [];
    for (const [k, s] of SAMPLES.entries()) {
      const stream = `ext-${k}`;
      const sub = await record({ url: bs.url, token: bs.mint('subscribe', [stream]), stream, subscriber: 'watch', window: 0 });
      const pub = await rawAuth(bs.url, bs.mint('publish', [stream]), { role: 'publish', stream, window: 0 });
      expect((await pub.next())['t']).toBe('welcome');
      pub.ws.send(encode({ t: 'begin', w: 0 }));
      pub.ws.send(encode({ t: 'data', w: 0, tuples: ['before'] }));
      pub.ws.send(frameWith({ t: 'data', w: 0, tuples: ['a', { deep: [1, SLOT] }, 'b'], p: [1, 2, 3] }, s.bytes));
      pub.ws.send(encode({ t: 'data', w: 0, tuples: ['after'] }));
      expect([s.name, await pub.closed]).toEqual([s.name, { code: 4400, reason: expect.stringMatching(s.reason) }]);
      await expect.poll(() => sub.tuples).toEqual(['before']);
      watchers.push(sub);
    }
    // Only the frame before the bad one was stored, and only it reached the subscriber.
    const control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
    const stats = await control.stats();
    for (const k of SAMPLES.keys()) expect([k, stats.streams[`ext-${k}`]?.tuplesIn]).toEqual([k, 1]);
    await control.close();
    for (const w of watchers) {
      expect([w.events, w.tuples, w.closed]).toEqual([['b0', 'd0'], ['before'], null]);
      await w.sub.close();
    }
  });

  it('closes a subscriber and a control connection with 4400 for an extension in any frame after welcome', async () => {
    for (const s of SAMPLES) {
      const sub = await rawAuth(bs.url, bs.mint('subscribe', ['quiet']), { role: 'subscribe', stream: 'quiet', subscriber: 'x', window: 0 });
      expect((await sub.next())['t']).toBe('welcome');
      sub.ws.send(frameWith({ t: 'stats', x: SLOT }, s.bytes));
      expect([s.name, await sub.closed]).toEqual([s.name, { code: 4400, reason: expect.stringMatching(s.reason) }]);

      const control = await rawAuth(bs.url, bs.mint('control', []), { role: 'control' });
      expect((await control.next())['t']).toBe('welcome');
      control.ws.send(frameWith({ t: 'purge', stream: 'quiet', w: SLOT }, s.bytes));
      expect([s.name, await control.closed]).toEqual([s.name, { code: 4400, reason: expect.stringMatching(s.reason) }]);
      expect(control.frames.map((f) => f['t'])).toEqual(['challenge', 'welcome']);
    }
    // The server is still serving: a publisher and a subscriber on a fresh stream go through.
    const pub = await connectPublisher({ url: bs.url, token: bs.mint('publish', ['after']), stream: 'after', window: 0 });
    const sub = await record({ url: bs.url, token: bs.mint('subscribe', ['after']), stream: 'after', subscriber: 'y', window: 0 });
    pub.begin(0);
    pub.data(0, [{ ok: true, at: new Date(1000) }]);
    pub.end(0);
    await sub.untilEnd(0);
    expect(sub.tuples).toEqual([{ ok: true, at: new Date(1000) }]);
    await pub.close();
    await sub.sub.close();
  });
});

describe("STRAM's umbilical: extension types refused before and after welcome", () => {
  let stram: StramProcess;
  beforeAll(async () => {
    stram = await startStramProcess();
  });
  afterAll(async () => {
    expect(await stram.stop()).toBe(0);
  });

  const c1Token = (): Token => tokenFromText(readCredentials(stram.credentials('c1')).stramToken);
  const hello: AuthRequest = { role: 'hello', container: 'c1' };
  const heartbeat = { t: 'heartbeat', container: 'c1', bufferServer: null, state: 'running', operators: [] };

  /** A welcomed umbilical connection as c1, with the session keys derived from what crossed the wire. */
  async function helloSession(): Promise<{ conn: RawConn; keys: SessionKeys }> {
    const token = c1Token();
    const conn = await rawConnect(stram.umbilical);
    const challenge = await conn.next();
    const handshake = new ClientHandshake(token, hello);
    const auth = handshake.answer(encode(challenge), true);
    conn.ws.send(auth);
    handshake.welcome(encode(await conn.next()), true);
    const { cnonce } = decode(auth) as { cnonce: Uint8Array };
    return { conn, keys: deriveSessionKeys(token.password, challenge['nonce'] as Uint8Array, cnonce) };
  }

  it('closes with 4400 a hello auth holding any extension or 0xc1, or sent as a msgpackr record, and counts each', async () => {
    for (const s of SAMPLES) {
      const conn = await authWith(stram.umbilical, c1Token(), hello, s.bytes);
      expect([s.name, await conn.closed]).toEqual([s.name, { code: 4400, reason: expect.stringMatching(s.reason) }]);
      expect(conn.frames.map((f) => f['t'])).toEqual(['challenge']);
    }
    const conn = await rawConnect(stram.umbilical);
    const challenge = await conn.next();
    conn.ws.send(asRecord(decode(new ClientHandshake(c1Token(), hello).answer(encode(challenge), true)) as Record<string, unknown>));
    expect(await conn.closed).toEqual({ code: 4400, reason: expect.stringMatching(EXTENSION) });
    expect(await stram.metric('sluice_auth_failures_total{endpoint="umbilical",reason="MALFORMED_FRAME"}')).toBe(SAMPLES.length + 1);
  });

  it('closes with 4400 a sealed envelope, or the MAC-checked body inside one, that holds an extension', async () => {
    for (const s of SAMPLES) {
      const outer = await FakeContainer.fromCredentials(stram.credentials('c1'));
      const envelope = frameWith({ t: 'msg', seq: 1, body: encode(heartbeat), mac: Buffer.alloc(32), x: SLOT }, s.bytes);
      const err = await outer.request(envelope).then(() => null, (e: unknown) => e);
      expect([s.name, err]).toEqual([s.name, expect.any(ConnectionClosedError)]);
      expect([s.name, (err as ConnectionClosedError).remoteCode, (err as ConnectionClosedError).remoteReason]).toEqual([s.name, 4400, expect.stringMatching(s.reason)]);

      // No encoder writes such a body, so the test seals it itself with the client→server key.
      const inner = await helloSession();
      const body = frameWith({ ...heartbeat, operators: [SLOT] }, s.bytes);
      inner.conn.ws.send(encode({ t: 'msg', seq: 1, body, mac: messageMac(inner.keys.clientToServer, 1, body) }));
      expect([s.name, await inner.conn.closed]).toEqual([s.name, { code: 4400, reason: expect.stringMatching(s.reason) }]);
    }
    // A container speaking plain MessagePack is served as before.
    const fake = await FakeContainer.fromCredentials(stram.credentials('c1'));
    expect((await fake.heartbeat()).t).toBe('heartbeat-ack');
    fake.close();
  });
});
