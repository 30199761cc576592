import { connect } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientHandshake, ConnectionClosedError, STRAM_SAN_NAME, createLogger, encode, expectSan, makeKeyAndCsr, readCredentials, sanUri, tlsMaterial, tokenFromText, type ClientTls, type Credentials } from '@sluice/common';
import { Stram } from '@sluice/stram';
import { FakeContainer, NoopLauncher, writeTestApp } from '@sluice/stram/testing';
import { rawConnect } from './helpers/bs-clients.js';
import { tempDir, until } from './helpers/runtime-cli.js';
import { tcpRelay } from './helpers/tcp-relay.js';
import { appCa, leafFor } from './helpers/tls-material.js';

/**
 * The umbilical over TLS 1.3 (docs/protocol.md "Transport encryption"): STRAM serves a certificate
 * of the app CA naming `sluice://<app>/stram`; a container checks it against the roots in its
 * credentials, binds its proof to the TLS session (v:2) and, once enrolled, presents its own
 * certificate, which must name the container its token names.
 */
describe('the umbilical over TLS', () => {
  const tmp = tempDir('sluice-tls-umbilical-');
  let stram: Stram;
  let creds: (id: string) => Credentials;
  const trustStram = (c: Credentials): ClientTls => ({ ca: c.caRoots!.join(''), server: sanUri(c.app, STRAM_SAN_NAME) });
  const refusals = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const m of (await stram.metrics.text()).matchAll(/^sluice_auth_failures_total\{endpoint="umbilical",reason="([A-Z_]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  };

  beforeAll(async () => {
    const appDir = join(tmp.path, 'app');
    stram = await Stram.launch({ appModule: writeTestApp(tmp.path, 'pipeline'), appDir, launcher: new NoopLauncher(), logger: createLogger({ name: 't', level: 'silent' }), shutdownGraceMs: 100, tls: true });
    creds = (id) => readCredentials(join(appDir, 'containers', id, 'credentials'));
  });
  afterAll(async () => {
    await stram.shutdown('test over');
    tmp.remove();
  });

  it('is a wss:// URL whose certificate names STRAM, and the credentials carry the roots to check it by', async () => {
    const c = creds('c1');
    expect(stram.umbilicalUrl).toMatch(/^wss:\/\//);
    expect(c.stram).toMatch(/^wss:\/\//);
    const conn = await rawConnect(c.stram, { tls: trustStram(c) });
    expect((await conn.next())['v']).toBe(2);
    conn.ws.close();
    const fake = await FakeContainer.fromCredentials(join(tmp.path, 'app', 'containers', 'c1', 'credentials'));
    expect((await fake.heartbeat()).t).toBe('heartbeat-ack');
    fake.close();
  });

  it('gives a plain ws:// client no challenge', async () => {
    const err = await rawConnect(creds('c1').stram.replace('wss://', 'ws://')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ConnectionClosedError);
  });

  it('is refused by a client that does not trust the app CA, before it sends a proof', async () => {
    const c = creds('c1');
    const other = await leafFor(await appCa(c.app), 'c1');
    const err = await FakeContainer.connect({ url: c.stram, token: tokenFromText(c.stramToken), container: 'c1', tls: { ca: other.ca, server: sanUri(c.app, STRAM_SAN_NAME) } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONNECTION_CLOSED', message: expect.stringMatching(/self-signed certificate in certificate chain|unable to verify|unable to get local issuer/) });
    // Expecting another name than STRAM's is refused too: the client checks the SAN.
    const wrongName = await FakeContainer.connect({ url: c.stram, token: tokenFromText(c.stramToken), container: 'c1', tls: { ...trustStram(c), server: sanUri(c.app, 'c2') } }).catch((e: unknown) => e);
    expect(wrongName).toMatchObject({ message: expect.stringMatching(/names sluice:\/\/[^,]+\/stram, not sluice:\/\/[^ ]+\/c2/) });
  });

  it('refuses with 4401 BAD_PROOF a valid proof made on another TLS session', async () => {
    const c = creds('c1');
    const target = await rawConnect(c.stram, { tls: trustStram(c) });
    const victim = await rawConnect(c.stram, { tls: trustStram(c) });
    const challenge = await target.next();
    await victim.next();
    const before = (await refusals())['BAD_PROOF'] ?? 0;
    // The victim's proof for the target's challenge, bound to the victim's own session, relayed onto the target's.
    const hs = new ClientHandshake(tokenFromText(c.stramToken), { role: 'hello', container: 'c1' }, victim.binding);
    target.ws.send(hs.answer(encode(challenge), true));
    expect(await target.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/^BAD_PROOF.*TLS session/) });
    expect(target.frames.map((f) => f['t'])).toEqual(['challenge']);
    victim.ws.close();
    expect((await refusals())['BAD_PROOF']).toBe(before + 1);
  });

  it("welcomes c1 presenting its own certificate and refuses it (4401 CERT_WRONG_NAME) presenting c2's", async () => {
    const [c1, c2] = [creds('c1'), creds('c2')];
    const enrolled = async (c: Credentials): Promise<ReturnType<typeof tlsMaterial>> => {
      const fake = await FakeContainer.fromCredentials(join(tmp.path, 'app', 'containers', c.container, 'credentials'));
      const { keyPem, csr } = await makeKeyAndCsr(c.container);
      const cert = await fake.enrol(csr);
      fake.close();
      return tlsMaterial(cert.chain, cert.roots, keyPem);
    };
    const [own, others] = [await enrolled(c1), await enrolled(c2)];
    const as = (material: ReturnType<typeof tlsMaterial>) => ({ url: c1.stram, token: tokenFromText(c1.stramToken), container: 'c1', tls: { ...material, server: sanUri(c1.app, STRAM_SAN_NAME) } });
    const fake = await FakeContainer.connect(as(own));
    expect((await fake.heartbeat()).t).toBe('heartbeat-ack');
    fake.close();
    expect(await FakeContainer.refusal(as(others))).toMatchObject({ code: 4401, reason: expect.stringMatching(/^CERT_WRONG_NAME: token is container c1's but the client certificate names sluice:\/\/[^/]+\/c2/) });
    // A certificate of another app's CA does not get past TLS: refused with its reason.
    const foreign = await leafFor(await appCa(c1.app), 'c1');
    const err = await FakeContainer.connect(as({ ...foreign, ca: own.ca })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await refusals()).toMatchObject({ CERT_WRONG_NAME: 1, CERT_UNTRUSTED: 1 });
  });

  it('shows a TCP relay on the umbilical no token id, password or message text', async () => {
    const c = creds('c3');
    const relay = await tcpRelay(Number(new URL(c.stram).port));
    const token = tokenFromText(c.stramToken);
    const fake = await FakeContainer.connect({ url: `wss://127.0.0.1:${relay.port}`, token, container: 'c3', tls: trustStram(c) });
    expect((await fake.heartbeat()).t).toBe('heartbeat-ack');
    fake.close();
    await fake.closed;
    await relay.close();
    const bytes = relay.bytes();
    expect(bytes.length).toBeGreaterThan(1000);
    expect(bytes.includes(Buffer.from(token.identifier))).toBe(false);
    expect(bytes.includes(Buffer.from(token.password))).toBe(false);
    // Names and message fields (two-byte strings such as a container id turn up in any 8 KiB of ciphertext).
    for (const text of ['heartbeat', 'challenge', 'credentialsRevision', c.stramToken.slice(0, 16)]) expect(bytes.includes(text), text).toBe(false);
  });

  it("serves STRAM's renewed certificate to the next connections without a restart, and containers keep connecting", async () => {
    const appDir = join(tmp.path, 'short');
    const short = await Stram.launch({ appModule: writeTestApp(tmp.path, 'pipeline'), appDir, launcher: new NoopLauncher(), logger: createLogger({ name: 't', level: 'silent' }), shutdownGraceMs: 100, tls: true, certLifetimeMs: 3_000 });
    try {
      const credentials = join(appDir, 'containers', 'c1', 'credentials');
      const c = readCredentials(credentials);
      const served = (): Promise<{ serial: string; san: string }> =>
        new Promise((resolve, reject) => {
          const url = new URL(c.stram);
          const socket = connect({ host: url.hostname, port: Number(url.port), ca: c.caRoots!.join(''), checkServerIdentity: expectSan(sanUri(c.app, STRAM_SAN_NAME)), minVersion: 'TLSv1.3' }, () => {
            const peer = socket.getPeerCertificate();
            socket.destroy();
            resolve({ serial: peer.serialNumber, san: peer.subjectaltname ?? '' });
          });
          socket.once('error', reject);
        });
      const first = await served();
      expect(first.san).toBe(`URI:${sanUri(c.app, STRAM_SAN_NAME)}`);
      // Renewed at 75% of what is left of 3 s.
      await until(async () => (await served()).serial !== first.serial, 100);
      const fake = await FakeContainer.fromCredentials(credentials);
      expect((await fake.heartbeat()).t).toBe('heartbeat-ack');
      fake.close();
    } finally {
      await short.shutdown('test over');
    }
  });
});
