import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SluiceError, isSluiceError } from '@sluice/common';
import { gatewayService, negotiateHeader } from './negotiate-client.js';
import { KerberosAcceptor } from './spnego.js';
import { TestRealm } from './testing/index.js';

const why = TestRealm.unavailable();

const failure = (p: Promise<unknown>): Promise<SluiceError> =>
  p.then(
    () => expect.unreachable('made a token') as never,
    (e: unknown) => (expect(e).toBeInstanceOf(SluiceError), e as SluiceError),
  );

describe.skipIf(why)(`negotiateHeader against a real KDC${why ? ` (skipped: ${why})` : ''}`, () => {
  let realm: TestRealm;
  let acceptor: KerberosAcceptor;
  const url = 'http://localhost:8443/api/v1/login';

  beforeAll(async () => {
    realm = await TestRealm.start({ principals: ['alice', 'bob', 'carol', 'HTTP/localhost'] });
    Object.assign(process.env, realm.env());
    acceptor = new KerberosAcceptor({ keytab: realm.keytab('HTTP/localhost'), principal: 'HTTP/localhost@EXAMPLE.TEST' });
  });
  afterAll(async () => {
    acceptor?.close();
    await realm?.stop();
  });
  beforeEach(() => {
    process.env['KRB5CCNAME'] = `FILE:${realm.dir}/nobody.ccache`;
  });

  it('names the service HTTP@<host of the gateway URL>', () => {
    expect(gatewayService('https://gw.example.com:8443/x')).toBe('HTTP@gw.example.com');
    expect(() => gatewayService('not a url')).toThrow(/is not a URL/);
  });

  it('makes a token from the ticket cache in KRB5CCNAME that the gateway accepts as alice', async () => {
    const cc = `FILE:${realm.dir}/alice.ccache`;
    await realm.kinit('alice', cc);
    process.env['KRB5CCNAME'] = cc;
    const header = await negotiateHeader(url);
    expect(header).toMatch(/^Negotiate [A-Za-z0-9+/]+=*$/);
    await expect(acceptor.accept(header)).resolves.toMatchObject({ principal: 'alice@EXAMPLE.TEST' });
  });

  it('makes a token from a keytab and principal without touching the ticket cache', async () => {
    const header = await negotiateHeader(url, { keytab: realm.keytab('bob'), principal: 'bob@EXAMPLE.TEST' });
    await expect(acceptor.accept(header)).resolves.toMatchObject({ principal: 'bob@EXAMPLE.TEST' });
    expect(process.env['KRB5CCNAME']).toBe(`FILE:${realm.dir}/nobody.ccache`);
    expect(process.env['KRB5_CLIENT_KTNAME']).toBeUndefined();
    // Nothing was written to the cache in use.
    expect(() => execFileSync('klist', ['-s'], { env: process.env })).toThrow();
  });

  it('without a ticket says to run kinit, in one line', async () => {
    const err = await failure(negotiateHeader(url));
    expect(err.code).toBe('NO_TICKET');
    expect(err.message).toBe('no valid Kerberos ticket for realm EXAMPLE.TEST: run kinit <you>@EXAMPLE.TEST (or give --keytab and --principal)');
    expect(err.message).not.toContain('\n');
  });

  it('with an expired ticket names its principal and says to run kinit', async () => {
    const cc = `FILE:${realm.dir}/carol.ccache`;
    await realm.kinit('carol', cc, { lifetime: 1 });
    process.env['KRB5CCNAME'] = cc;
    // Wait until the one-second ticket has run out (klist -s fails on an expired cache).
    while (spawnOk('klist', ['-s'])) await new Promise((r) => setTimeout(r, 200));
    // GSSAPI counts whole seconds and still uses a ticket in its last one: wait one more.
    await new Promise((r) => setTimeout(r, 1_100));
    const err = await failure(negotiateHeader(url));
    expect(err.code).toBe('NO_TICKET');
    expect(err.message).toBe(
      'no valid Kerberos ticket for carol@EXAMPLE.TEST (the ticket expired): run kinit carol@EXAMPLE.TEST (or give --keytab and --principal)',
    );
  });

  it('says to name the gateway by its host name when the KDC knows no such service', async () => {
    const cc = `FILE:${realm.dir}/alice.ccache`;
    await realm.kinit('alice', cc);
    process.env['KRB5CCNAME'] = cc;
    const err = await failure(negotiateHeader('http://127.0.0.1:8443'));
    expect(err.code).toBe('NO_TICKET');
    expect(err.message).toBe(
      "the KDC knows no service HTTP/127.0.0.1@EXAMPLE.TEST for the gateway http://127.0.0.1:8443: give --gateway with the host name of the gateway's principal (HTTP/<host>), not an IP address or an alias",
    );
  });

  it('refuses a keytab without a principal, and a keytab that does not hold the principal', async () => {
    expect(isSluiceError(await failure(negotiateHeader(url, { keytab: realm.keytab('bob') })), 'BAD_USAGE')).toBe(true);
    const err = await failure(negotiateHeader(url, { keytab: realm.keytab('bob'), principal: 'alice@EXAMPLE.TEST' }));
    expect(err.code).toBe('NO_TICKET');
    expect(err.message).toContain('alice@EXAMPLE.TEST');
    expect(err.message).not.toContain('\n');
  });
});

function spawnOk(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { env: process.env, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
