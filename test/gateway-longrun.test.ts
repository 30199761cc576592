import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX, AppState, type AppDetail, type LoginAnswer } from '@sluice/gateway';
import { TestRealm } from '@sluice/gateway/testing';
import { GATEWAY_PRINCIPAL, GatewayClient, startGateway, writeLaunchPolicy, type GatewayRun } from './helpers/gateway-process.js';
import { WORDCOUNT, pidAlive, tempDir, until } from './helpers/runtime-cli.js';

/**
 * An app launched through the gateway outlives every Kerberos ticket: the gateway's own TGT lives
 * a few seconds and is renewed from its keytab, and while the KDC is down altogether the app keeps
 * streaming and STRAM keeps renewing and reissuing the app's own tokens (they are STRAM's, not
 * Kerberos's). A person already signed in keeps working on their session meanwhile; once the KDC
 * is back the gateway logs in again. Real KDC, real gateway, real app.
 */

const ALICE = 'alice@EXAMPLE.TEST';
const CONFIG = { seed: 11, tuplesPerWindow: 30 };
/** The gateway principal's tickets live this long (seconds): several lifetimes pass in the test. */
const GATEWAY_TICKET_S = 6;

interface Tokens {
  renewals: number;
  reissues: number;
  failing: number;
}

describe.skipIf(TestRealm.unavailable())('an app launched through the gateway outlives its tickets and the KDC', () => {
  const tmp = tempDir('sluice-gateway-longrun-');
  const stateDir = join(tmp.path, 'state');
  let realm: TestRealm;
  let gw: GatewayRun;
  let client: GatewayClient;
  let app: string;
  let session: LoginAnswer;
  const appDir = () => join(stateDir, 'apps', app);
  const bearer = () => ({ authorization: `Bearer ${session.token}` });
  const outputWindows = () => (existsSync(join(appDir(), 'output')) ? readdirSync(join(appDir(), 'output')).filter((f) => f.startsWith('window-')).length : 0);
  const tokens = async (): Promise<Tokens> => {
    const res = await client.call<AppDetail>('GET', `${API_PREFIX}/apps/${app}`, bearer());
    expect(res.status, res.text).toBe(200);
    return (res.body.status!.app as { tokens: Tokens }).tokens;
  };
  const metric = (name: string) => client.metric(name, '');

  beforeAll(async () => {
    realm = await TestRealm.start({ dir: tmp.path, principals: ['alice', { name: GATEWAY_PRINCIPAL, maxLife: GATEWAY_TICKET_S }] });
    Object.assign(process.env, realm.env());
    const cache = join(tmp.path, 'alice.ccache');
    await realm.kinit('alice', cache);
    gw = await startGateway(realm, stateDir, tmp.path, ['--proxy-users', ALICE, '--policy', writeLaunchPolicy(join(tmp.path, 'policy.yaml'))]);
    client = new GatewayClient(gw.url, { alice: cache });
    session = (await client.call<LoginAnswer>('POST', `${API_PREFIX}/login`, { user: 'alice' })).body;
    const launched = await client.call<{ id: string }>('POST', `${API_PREFIX}/apps`, bearer(), {
      app: 'demo',
      config: CONFIG,
      settings: { window: '200ms', renewInterval: '2s', maxLifetime: '6s' },
    });
    expect(launched.status, launched.text).toBe(201);
    app = launched.body.id;
  });

  afterAll(async () => {
    if (app && existsSync(join(appDir(), 'stram.json'))) {
      const pid = (JSON.parse(readFileSync(join(appDir(), 'stram.json'), 'utf8')) as { pid: number }).pid;
      if (pidAlive(pid)) process.kill(pid, 'SIGTERM');
      await until(() => !pidAlive(pid));
    }
    gw?.cli.kill('SIGKILL');
    await gw?.cli.exited;
    for (const k of ['KRB5CCNAME', 'KRB5_CONFIG', 'KRB5_KDC_PROFILE']) delete process.env[k];
    await realm?.stop();
    tmp.remove();
  });

  it('the gateway logs in again from its keytab before each short ticket expires', async () => {
    const first = await metric('sluice_gateway_kerberos_logins_total');
    await until(async () => (await metric('sluice_gateway_kerberos_logins_total')) >= first + 2, 250);
    expect(await metric('sluice_gateway_kerberos_tgt_expiry_seconds')).toBeGreaterThan(Date.now() / 1000);
  });

  it('with the KDC down the app streams on and STRAM renews and reissues its tokens; the session keeps working', async () => {
    await until(async () => outputWindows() > 2);
    const before = await tokens();
    const windowsBefore = outputWindows();
    const failuresBefore = await metric('sluice_gateway_kerberos_login_failures_total');
    await realm.stopKdc();
    const downAt = Date.now();
    // Down for longer than the app's max token lifetime (6 s) and the gateway's own ticket (6 s).
    await until(async () => {
      const t = await tokens();
      return Date.now() - downAt > 8_000 && t.reissues > before.reissues && t.renewals > before.renewals + 2;
    }, 250);
    expect(await metric('sluice_gateway_kerberos_tgt_expiry_seconds')).toBeLessThan(Date.now() / 1000); // its TGT has lapsed
    expect((await tokens()).failing).toBe(0);
    expect(outputWindows()).toBeGreaterThan(windowsBefore + 10);
    // The gateway's own re-login fails meanwhile and is retried, not fatal.
    await until(async () => (await metric('sluice_gateway_kerberos_login_failures_total')) > failuresBefore, 250);
    const list = await client.call('GET', `${API_PREFIX}/apps`, bearer());
    expect(list.status).toBe(200);
  });

  it('once the KDC is back the gateway logs in again, and the app ends with exact counts', async () => {
    const logins = await metric('sluice_gateway_kerberos_logins_total');
    await realm.startKdc();
    await until(async () => (await metric('sluice_gateway_kerberos_logins_total')) > logins, 250);
    const stop = await client.call('POST', `${API_PREFIX}/apps/${app}/shutdown`, { user: 'alice' });
    expect(stop.status, stop.text).toBe(202);
    await until(async () => (await client.call<AppDetail>('GET', `${API_PREFIX}/apps/${app}`, bearer())).body.state === AppState.finished, 250);
    const { expectedCounts, readActualCounts } = (await import(WORDCOUNT)) as {
      expectedCounts(c: Record<string, unknown>, w: number[]): Record<string, number>;
      readActualCounts(dir: string): { windows: number[]; counts: Record<string, number> };
    };
    const actual = readActualCounts(appDir());
    expect(actual.windows).toEqual(actual.windows.map((_, i) => i + 1));
    expect(actual.counts).toEqual(expectedCounts(CONFIG, actual.windows));
  });
});
