import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SluiceError } from '@sluice/common';
import { TestRealm } from '@sluice/gateway/testing';
import { GatewayClient, checkGatewayFlags } from './gateway-client.js';

const why = TestRealm.unavailable();

/** The SluiceError `p` rejects with. */
const rejection = (p: Promise<unknown>): Promise<SluiceError> =>
  p.then(
    () => expect.unreachable('resolved') as never,
    (e: unknown) => (expect(e).toBeInstanceOf(SluiceError), e as SluiceError),
  );

describe('the --gateway flags', () => {
  it('refuses --keytab and --principal without --gateway, and local-only flags with it', () => {
    expect(() => checkGatewayFlags({ keytab: 'k' }, [])).toThrow(/--keytab only apply with --gateway/);
    expect(() => checkGatewayFlags({ gateway: 'http://localhost:1', appDir: '/x' }, ['appDir'])).toThrow(/--app-dir does not apply with --gateway/);
    expect(() => checkGatewayFlags({ gateway: 'http://localhost:1', insecure: false }, ['insecure'])).not.toThrow();
  });
});

describe.skipIf(why)(`the gateway client against servers that are not a gateway${why ? ` (skipped: ${why})` : ''}`, () => {
  let realm: TestRealm;
  let server: Server;
  let url: string;
  let answer: { status: number; type: string; body: string };

  beforeAll(async () => {
    realm = await TestRealm.start({ principals: ['alice', 'HTTP/localhost'] });
    Object.assign(process.env, realm.env(), { KRB5CCNAME: `FILE:${realm.dir}/alice.ccache` });
    await realm.kinit('alice', `FILE:${realm.dir}/alice.ccache`);
    server = createServer((_req, res) => res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://localhost:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await realm?.stop();
  });

  it('says a server that answers without JSON is not a gateway', async () => {
    answer = { status: 200, type: 'text/html', body: '<html>hello</html>' };
    const err = await rejection(GatewayClient.login({ gateway: url }));
    expect(err.code).toBe('CONNECTION_CLOSED');
    expect(err.message).toBe(`the gateway at ${url} answered POST /api/v1/login with 200 and no JSON: is ${url} a Sluice gateway?`);
  });

  it("gives a refusal's code and reason in one line", async () => {
    answer = { status: 401, type: 'application/json', body: JSON.stringify({ error: 'REPLAYED', reason: 'this Negotiate token was already used' }) };
    const err = await rejection(GatewayClient.login({ gateway: `${url}/` }));
    expect(err.code).toBe('GATEWAY_REFUSED');
    expect(err.message).toBe('the gateway refused (401 REPLAYED): this Negotiate token was already used');
  });

  it('says a gateway that does not answer is not answering', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await rejection(GatewayClient.login({ gateway: `http://localhost:${port}` }));
    expect(err.code).toBe('CONNECTION_CLOSED');
    expect(err.message).toMatch(/^the gateway at http:\/\/localhost:\d+ is not answering \(\w+\); is it running, and is the URL right\?$/);
  });
});
