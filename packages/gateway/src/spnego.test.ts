import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSluiceError } from '@sluice/common';
import { GatewayRefusal, RefusalCode } from './api.js';
import { negotiateHeader } from './negotiate-client.js';
import { KerberosAcceptor, MAX_NEGOTIATE_HEADER, gssServiceName } from './spnego.js';
import { TestRealm } from './testing/index.js';

const why = TestRealm.unavailable();

/** The refusal `p` rejects with (it must not resolve). */
const refusal = (p: Promise<unknown>): Promise<GatewayRefusal> =>
  p.then(
    () => expect.unreachable('accepted') as never,
    (e: unknown) => (expect(e).toBeInstanceOf(GatewayRefusal), e as GatewayRefusal),
  );

describe.skipIf(why)(`the SPNEGO acceptor against a real KDC${why ? ` (skipped: ${why})` : ''}`, () => {
  let realm: TestRealm;
  let acceptor: KerberosAcceptor;
  const url = 'http://localhost:8443';

  beforeAll(async () => {
    realm = await TestRealm.start({ principals: ['alice', 'bob', 'HTTP/localhost', 'HTTP/otherhost'] });
    Object.assign(process.env, realm.env());
    await realm.kinit('alice', `FILE:${realm.dir}/alice.ccache`);
    process.env['KRB5CCNAME'] = `FILE:${realm.dir}/alice.ccache`;
    acceptor = new KerberosAcceptor({ keytab: realm.keytab('HTTP/localhost'), principal: 'HTTP/localhost@EXAMPLE.TEST' });
  });
  afterAll(async () => {
    acceptor?.close();
    await realm?.stop();
  });

  it('accepts a real ticket of alice and names her principal', async () => {
    expect(acceptor.service).toBe('HTTP@localhost');
    const accepted = await acceptor.accept(await negotiateHeader(url));
    expect(accepted.principal).toBe('alice@EXAMPLE.TEST');
    // The answer for mutual authentication (WWW-Authenticate: Negotiate <it>).
    expect(accepted.response).toMatch(/^[A-Za-z0-9+/]{20,}={0,2}$/);
  });

  it('refuses a request without credentials with NO_CREDENTIALS', async () => {
    for (const header of [undefined, '', '  ']) {
      const r = await refusal(acceptor.accept(header));
      expect([r.status, r.code]).toEqual([401, RefusalCode.noCredentials]);
    }
  });

  it('refuses other schemes, non-base64, garbage and oversized headers with NEGOTIATE_FAILED', async () => {
    const bad = [
      'Basic YWxpY2U6c2VjcmV0',
      'Negotiate',
      'Negotiate !!!not-base64!!!',
      'Negotiate a',
      'Negotiate aGVsbG8gd29ybGQ=',
      `Negotiate ${'A'.repeat(MAX_NEGOTIATE_HEADER)}`,
    ];
    for (const header of bad) {
      const r = await refusal(acceptor.accept(header));
      expect([r.status, r.code], header.slice(0, 40)).toEqual([401, RefusalCode.negotiateFailed]);
    }
  });

  it('refuses a truncated real token with NEGOTIATE_FAILED', async () => {
    const header = await negotiateHeader(url);
    const cut = header.slice(0, 'Negotiate '.length + 120);
    const r = await refusal(acceptor.accept(cut));
    expect(r.code).toBe(RefusalCode.negotiateFailed);
  });

  it('refuses the same token a second time with REPLAYED', async () => {
    const header = await negotiateHeader(url);
    await expect(acceptor.accept(header)).resolves.toMatchObject({ principal: 'alice@EXAMPLE.TEST' });
    const r = await refusal(acceptor.accept(header));
    expect([r.status, r.code]).toEqual([401, RefusalCode.replayed]);
  });

  it('refuses a ticket for another service principal with WRONG_SERVICE', async () => {
    const header = await negotiateHeader('http://otherhost:8443');
    const r = await refusal(acceptor.accept(header));
    expect([r.status, r.code]).toEqual([401, RefusalCode.wrongService]);
    expect(r.message).toContain('HTTP/otherhost@EXAMPLE.TEST');
  });

  it('refuses a ticket for another principal in a shared keytab with WRONG_SERVICE', async () => {
    const shared = await realm.sharedKeytab('host', ['HTTP/localhost', 'HTTP/otherhost']);
    const strict = new KerberosAcceptor({ keytab: shared, principal: 'HTTP/localhost@EXAMPLE.TEST' });
    try {
      await expect(strict.accept(await negotiateHeader(url))).resolves.toMatchObject({ principal: 'alice@EXAMPLE.TEST' });
      const r = await refusal(strict.accept(await negotiateHeader('http://otherhost:8443')));
      expect([r.status, r.code]).toEqual([401, RefusalCode.wrongService]);
      expect(r.message).toContain('HTTP/otherhost@EXAMPLE.TEST');
    } finally {
      strict.close();
      // The acceptor's keytab is process-wide; give the other tests theirs back.
      acceptor.close();
      acceptor = new KerberosAcceptor({ keytab: realm.keytab('HTTP/localhost'), principal: 'HTTP/localhost@EXAMPLE.TEST' });
    }
  });

  it('survives 200 garbage headers in a row and still accepts a real ticket', async () => {
    const real = Buffer.from((await negotiateHeader(url)).slice('Negotiate '.length), 'base64');
    for (let i = 0; i < 200; i++) {
      // Random bytes, the real token's framing with random contents, and real prefixes cut short.
      const junk =
        i % 3 === 0
          ? randomBytes(1 + ((i * 37) % 3000))
          : i % 3 === 1
            ? Buffer.concat([real.subarray(0, 2), randomBytes(real.length - 2)])
            : real.subarray(0, 1 + ((i * 13) % (real.length - 1)));
      const r = await refusal(acceptor.accept(`Negotiate ${junk.toString('base64')}`));
      expect(r.status).toBe(401);
    }
    await expect(acceptor.accept(await negotiateHeader(url))).resolves.toMatchObject({ principal: 'alice@EXAMPLE.TEST' });
  });

  it('refuses a keytab that group or others may read, in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-kt-'));
    try {
      const loose = join(dir, 'http.keytab');
      copyFileSync(realm.keytab('HTTP/localhost'), loose);
      chmodSync(loose, 0o640);
      let err: unknown;
      try {
        new KerberosAcceptor({ keytab: loose, principal: 'HTTP/localhost@EXAMPLE.TEST' });
      } catch (e) {
        err = e;
      }
      expect(isSluiceError(err, 'BAD_CONFIG')).toBe(true);
      expect((err as Error).message).toContain(`chmod 600 ${loose}`);
      expect((err as Error).message).not.toContain('\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a --principal that is not a service principal', () => {
    expect(gssServiceName('HTTP/gw.example.com@EXAMPLE.COM')).toBe('HTTP@gw.example.com');
    expect(() => gssServiceName('alice@EXAMPLE.TEST')).toThrow(/HTTP\/<host>@REALM/);
  });
});
