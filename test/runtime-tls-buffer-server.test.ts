import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectControl, connectPublisher } from '@sluice/buffer-server';
import { ClientHandshake, ConnectionClosedError, encode, type ClientTls, type TlsMaterial } from '@sluice/common';
import type { CertificateAuthority } from '@sluice/stram';
import { startBsProcess, type BsProcess } from './helpers/bs-process.js';
import { rawConnect, record } from './helpers/bs-clients.js';
import { tcpRelay } from './helpers/tcp-relay.js';
import { appCa, clientOf, leafFor, selfSigned } from './helpers/tls-material.js';

/**
 * A real `sluice buffer-server --tls-cert/--tls-key/--tls-ca` (docs/protocol.md "Transport
 * encryption"): mutual TLS 1.3 with the app's CA, the token handshake bound to the TLS session,
 * and every refusal by its code in the server's log and its stats.
 */

const APP = 'app-tls';
let ca: CertificateAuthority;
let bs: BsProcess;
/** Container A's certificate: the client side of every link here. */
let a: TlsMaterial;
const toB = (m: TlsMaterial): ClientTls => clientOf(m, APP, 'B');

beforeAll(async () => {
  ca = await appCa(APP);
  a = await leafFor(ca, 'A');
  // The server is container B's buffer server.
  bs = await startBsProcess({ id: 'bs-B', tls: await leafFor(ca, 'B') });
});
afterAll(async () => {
  expect(await bs.stop()).toBe(0);
  expect(bs.stderr()).not.toContain('PRIVATE KEY');
});

async function refusals(): Promise<Record<string, number>> {
  const control = await connectControl({ url: bs.url, token: bs.mint('control', []), tls: toB(a) });
  const stats = await control.stats();
  await control.close();
  return stats.authRefusals;
}

/** The connection fails before any WebSocket frame: not even the challenge reaches the client. */
async function tlsRefused(tls: ClientTls): Promise<void> {
  await expect(rawConnect(bs.url, { tls })).rejects.toThrow();
}

describe('buffer server over mutual TLS', () => {
  it('listens on wss:// and carries a stream between clients holding app certificates', async () => {
    expect(bs.url).toMatch(/^wss:\/\//);
    const rec = await record({ url: bs.url, token: bs.mint('subscribe', ['s']), stream: 's', subscriber: 'x', window: 0, tls: toB(a) });
    const pub = await connectPublisher({ url: bs.url, token: bs.mint('publish', ['s']), stream: 's', window: 0, tls: toB(a) });
    pub.begin(1);
    pub.data(1, ['one', 'two']);
    pub.end(1);
    await rec.untilEnd(1);
    expect(rec.tuples).toEqual(['one', 'two']);
    await pub.close();
    await rec.sub.close();
  });

  it('refuses a client without a certificate, with a self-signed one, and with one of another app CA, each by its code', async () => {
    const before = await refusals();
    const { cert: _c, key: _k, ...noCert } = toB(a);
    await tlsRefused(noCert as ClientTls);
    await tlsRefused(toB(await selfSigned(APP, a)));
    const otherApp = await appCa(APP);
    await tlsRefused(toB({ ...(await leafFor(otherApp, 'A')), ca: a.ca }));
    const after = await refusals();
    for (const code of ['CLIENT_CERT_MISSING', 'CERT_SELF_SIGNED', 'CERT_UNTRUSTED']) {
      expect(after[code] ?? 0, code).toBe((before[code] ?? 0) + 1);
      // Logs are written asynchronously: the line may follow the stats by a moment.
      await vi.waitFor(() => expect(bs.stderr()).toMatch(new RegExp(`"code":"${code}".*TLS client refused`)));
    }
  });

  it('refuses an expired client certificate with CERT_EXPIRED', async () => {
    const expired = await leafFor(ca, 'A', { lifetimeMs: 1_000, now: Date.now() - 3600_000 });
    const before = await refusals();
    await tlsRefused(toB(expired));
    expect((await refusals())['CERT_EXPIRED'] ?? 0).toBe((before['CERT_EXPIRED'] ?? 0) + 1);
    await vi.waitFor(() => expect(bs.stderr()).toMatch(/"code":"CERT_EXPIRED".*TLS client refused/));
  });

  it('does not send a proof to a server whose certificate names another container', async () => {
    const meantC = clientOf(a, APP, 'C');
    const err = await connectPublisher({ url: bs.url, token: bs.mint('publish', ['s']), stream: 's', window: 0, tls: meantC }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/names sluice:\/\/app-tls\/B, not sluice:\/\/app-tls\/C/);
  });

  it("refuses with 4401 a token of one container presented with another container's certificate", async () => {
    const stolen = bs.mint('subscribe', ['s'], { container: 'C' });
    const err = await connectPublisher({ url: bs.url, token: bs.mint('publish', ['s'], { container: 'C' }), stream: 's', window: 0, tls: toB(a) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ remoteCode: 4401, remoteReason: expect.stringMatching(/^CERT_WRONG_NAME: token is container C's but the client certificate names sluice:\/\/app-tls\/A/) });
    const sub = await record({ url: bs.url, token: stolen, stream: 's', subscriber: 'c-sub', window: 0, tls: toB(await leafFor(ca, 'C')) });
    await sub.sub.close();
    expect(await refusals()).toMatchObject({ CERT_WRONG_NAME: 1 });
  });

  it('refuses with 4401 a valid proof relayed from the TLS session it was bound to onto another one', async () => {
    const target = await rawConnect(bs.url, { tls: toB(a) });
    const victim = await rawConnect(bs.url, { tls: toB(a) });
    const challenge = await target.next();
    await victim.next();
    // The victim answers the target's challenge on its own TLS session; the relay forwards it.
    const hs = new ClientHandshake(bs.mint('subscribe', ['s']), { role: 'subscribe', stream: 's', subscriber: 'r', window: 0 }, victim.binding);
    target.ws.send(hs.answer(encode(challenge), true));
    const closed = await target.closed;
    expect(closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/^BAD_PROOF.*TLS session/) });
    expect(target.frames.map((f) => f['t'])).toEqual(['challenge']);
    victim.ws.close();
    expect(await refusals()).toMatchObject({ BAD_PROOF: expect.any(Number) });
  });

  it('challenges with v:2, which a client without channel binding does not answer', async () => {
    const conn = await rawConnect(bs.url, { tls: toB(a) });
    const challenge = await conn.next();
    expect(challenge['v']).toBe(2);
    const hs = new ClientHandshake(bs.mint('subscribe', ['s']), { role: 'subscribe', stream: 's', subscriber: 'r', window: 0 });
    expect(() => hs.answer(encode(challenge), true)).toThrow(expect.objectContaining({ code: 'INVALID_MESSAGE' }));
    conn.ws.close();
  });

  it('shows a TCP relay between publisher and subscriber no tuple text', async () => {
    const relay = await tcpRelay(Number(new URL(bs.url).port));
    const via = `wss://127.0.0.1:${relay.port}`;
    const rec = await record({ url: via, token: bs.mint('subscribe', ['r']), stream: 'r', subscriber: 'x', window: 0, tls: toB(a) });
    const pub = await connectPublisher({ url: via, token: bs.mint('publish', ['r']), stream: 'r', window: 0, tls: toB(a) });
    pub.begin(1);
    pub.data(1, ['confidential-tuple-text', 'another-private-word']);
    pub.end(1);
    await rec.untilEnd(1);
    expect(rec.tuples).toEqual(['confidential-tuple-text', 'another-private-word']);
    await pub.close();
    await rec.sub.close();
    await relay.close();
    const bytes = relay.bytes();
    expect(bytes.length).toBeGreaterThan(1000);
    expect(bytes.includes('confidential')).toBe(false);
    expect(bytes.includes('private-word')).toBe(false);
  });

  it('gives a plain ws:// client no challenge, and keeps serving TLS clients', async () => {
    const err = await rawConnect(bs.url.replace('wss://', 'ws://')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ConnectionClosedError);
    expect(await refusals()).toBeDefined();
  });
});
