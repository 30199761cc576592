import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeIdentifier, readCredentials, tokenFromText } from '@sluice/common';
import { signWebToken } from '@sluice/stram';
import { API_PREFIX, AUDIT_FILE, AppState, Permission, RefusalCode, SESSION_AUDIENCE, SESSION_ISSUER, type AppDetail, type AppSummary, type AuditRecord, type LoginAnswer } from '@sluice/gateway';
import { TestRealm } from '@sluice/gateway/testing';
import { GATEWAY_PRINCIPAL, GatewayClient, type Answer, signWithGatewayKey, startGateway, writeLaunchPolicy, type GatewayRun } from './helpers/gateway-process.js';
import { WORDCOUNT, pidAlive, procFile, tempDir, until } from './helpers/runtime-cli.js';

const exec = promisify(execFile);

/**
 * `sluice gateway` end to end: a real MIT KDC on loopback, a real gateway process, real apps it
 * launches for alice and bob, and clients that authenticate as a person would (a ticket cache
 * and the kerberos library, curl --negotiate). Every refusal is asserted by its code and counted
 * in /metrics by that code.
 */

const ALICE = 'alice@EXAMPLE.TEST';
const BOB = 'bob@EXAMPLE.TEST';
const CAROL = 'carol@EXAMPLE.TEST';
const ALICE_CONFIG = { seed: 7, tuplesPerWindow: 40 };

describe.skipIf(TestRealm.unavailable())('sluice gateway: Kerberos in front, apps launched as their callers', () => {
  const tmp = tempDir('sluice-gateway-');
  const stateDir = join(tmp.path, 'state');
  let realm: TestRealm;
  let gw: GatewayRun;
  let gwArgs: string[];
  const gatewayLogs: string[] = [];
  let client: GatewayClient;
  let aliceApp: string;
  let bobApp: string;
  const appDir = (id: string) => join(stateDir, 'apps', id);
  const stramInfo = (id: string) => JSON.parse(readFileSync(join(appDir(id), 'stram.json'), 'utf8')) as { rest: string; appId: string; pid: number };
  /** Each app's STRAM and container pids. */
  const appPids = new Map<string, number[]>();
  let aliceLogin: LoginAnswer;

  const refusalCount = (code: string) => client.metric('sluice_gateway_auth_failures_total', `code="${code}"`);
  /** Refused with `status` and `code`, and the refusal counted in /metrics under that code. */
  const expectAuthRefusal = async (send: () => Promise<Answer>, status: number, code: string): Promise<Answer> => {
    const before = await refusalCount(code);
    const res = await send();
    expect([res.status, res.body.error]).toEqual([status, code]);
    expect(await refusalCount(code)).toBe(before + 1);
    return res;
  };
  const detail = async (id: string, user = 'alice') => (await client.call<AppDetail>('GET', `${API_PREFIX}/apps/${id}`, { user })).body;
  const outputWindows = (id: string) => (existsSync(join(appDir(id), 'output')) ? readdirSync(join(appDir(id), 'output')).filter((f) => f.startsWith('window-')).length : 0);
  const rememberPids = async (id: string, user: string) => {
    const containers = (await detail(id, user)).status!.containers as { pid: number | null }[];
    appPids.set(id, [stramInfo(id).pid, ...containers.flatMap((c) => (c.pid ? [c.pid] : []))]);
  };

  beforeAll(async () => {
    realm = await TestRealm.start({ dir: tmp.path, principals: ['alice', 'bob', 'carol', GATEWAY_PRINCIPAL, 'HTTP/otherhost@EXAMPLE.TEST'] });
    Object.assign(process.env, realm.env());
    const caches: Record<string, string> = {};
    for (const user of ['alice', 'bob', 'carol']) {
      caches[user] = join(tmp.path, `${user}.ccache`);
      await realm.kinit(user, caches[user]);
    }
    gwArgs = ['--proxy-users', `${ALICE},${BOB}`, '--policy', writeLaunchPolicy(join(tmp.path, 'policy.yaml'))];
    gw = await startGateway(realm, stateDir, tmp.path, gwArgs);
    client = new GatewayClient(gw.url, caches);
    const launched = await client.call<{ id: string }>('POST', `${API_PREFIX}/apps`, { user: 'alice' }, { app: 'demo', config: ALICE_CONFIG, settings: { window: '200ms' } });
    expect(launched.status, launched.text).toBe(201);
    aliceApp = launched.body.id;
    await until(async () => (await detail(aliceApp)).status?.containers.every((c) => (c as { state: string }).state === 'running') ?? false);
    await rememberPids(aliceApp, 'alice');
    aliceLogin = (await client.call<LoginAnswer>('POST', `${API_PREFIX}/login`, { user: 'alice' })).body;
  });

  afterAll(async () => {
    gatewayLogs.push(gw?.cli.stderr ?? '');
    gw?.cli.kill('SIGKILL');
    await gw?.cli.exited;
    for (const id of [aliceApp, bobApp]) {
      if (id && existsSync(join(appDir(id), 'stram.json'))) {
        const pid = stramInfo(id).pid;
        if (pidAlive(pid)) process.kill(pid, 'SIGTERM');
        await until(() => !pidAlive(pid));
      }
    }
    for (const pid of [...appPids.values()].flat()) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    for (const k of ['KRB5CCNAME', 'KRB5_CONFIG', 'KRB5_KDC_PROFILE']) delete process.env[k];
    await realm?.stop();
    tmp.remove();
  });

  it("launches alice's word count as alice: GET /apps shows her as owner and the gateway as realUser", async () => {
    const list = await client.call<AppSummary[]>('GET', `${API_PREFIX}/apps`, { user: 'alice' });
    expect(list.status).toBe(200);
    expect(list.body).toEqual([expect.objectContaining({ id: aliceApp, name: 'wordcount', owner: ALICE, realUser: GATEWAY_PRINCIPAL, state: AppState.running })]);
    expect(stramInfo(aliceApp).appId).toBe(aliceApp); // STRAM runs under the id the gateway lists
    const app = await detail(aliceApp);
    expect(app.status!.app).toMatchObject({ owner: ALICE, realUser: GATEWAY_PRINCIPAL, secure: true });
    expect(app.status!.containers).toHaveLength(4);
  });

  it("gives alice's containers STRAM tokens whose owner is alice and realUser the gateway", () => {
    const containers = readdirSync(join(appDir(aliceApp), 'containers'));
    expect(containers.sort()).toEqual(['c1', 'c2', 'c3', 'c4']);
    for (const c of containers) {
      const id = decodeIdentifier(tokenFromText(readCredentials(join(appDir(aliceApp), 'containers', c, 'credentials')).stramToken).identifier);
      expect({ owner: id.owner, realUser: id.realUser }).toEqual({ owner: ALICE, realUser: GATEWAY_PRINCIPAL });
    }
  });

  it('answers curl --negotiate -u : with alice as the principal', async () => {
    const { stdout } = await exec('curl', ['-s', '--fail', '--negotiate', '-u', ':', `${gw.url}${API_PREFIX}/whoami`], {
      env: { ...process.env, KRB5CCNAME: `FILE:${join(tmp.path, 'alice.ccache')}` },
    });
    expect(JSON.parse(stdout)).toEqual({ principal: ALICE, realUser: '', groups: [], roles: ['launcher'], permissions: [Permission.launchApps] });
  });

  it('serves /metrics without credentials, with counts only: its keytab login, logins, requests, apps by state', async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/^sluice_gateway_kerberos_logins_total 1$/m);
    expect(text).toMatch(/^sluice_gateway_kerberos_login_failures_total 0$/m);
    expect(text).toMatch(/^sluice_gateway_logins_total [1-9]/m);
    expect(text).toMatch(/^sluice_gateway_apps\{state="RUNNING"\} 1$/m);
    expect(text).toMatch(/^sluice_gateway_requests_total\{route="\/apps",status="201"\} 1$/m);
    for (const name of ['alice', 'EXAMPLE.TEST', aliceApp]) expect(text).not.toContain(name);
  });

  it('refuses a request without credentials: 401 with WWW-Authenticate: Negotiate', async () => {
    const res = await expectAuthRefusal(() => client.call('GET', `${API_PREFIX}/apps`, 'none'), 401, RefusalCode.noCredentials);
    expect(res.headers.get('www-authenticate')).toBe('Negotiate');
  });

  it('refuses a garbage Negotiate token, a replayed one and a ticket for another service', async () => {
    await expectAuthRefusal(() => client.call('GET', `${API_PREFIX}/whoami`, { authorization: `Negotiate ${Buffer.from('not a kerberos token').toString('base64')}` }), 401, RefusalCode.negotiateFailed);
    const once = await client.negotiate('alice');
    expect((await client.call('GET', `${API_PREFIX}/whoami`, { authorization: once })).status).toBe(200);
    await expectAuthRefusal(() => client.call('GET', `${API_PREFIX}/whoami`, { authorization: once }), 401, RefusalCode.replayed);
    // A ticket alice holds for HTTP/otherhost, another service of the realm.
    const ticket = await client.negotiate('alice', 'http://otherhost:1');
    await expectAuthRefusal(() => client.call('GET', `${API_PREFIX}/whoami`, { authorization: ticket }), 401, RefusalCode.wrongService);
  });

  it('refuses an expired session token, one signed with another key, and alg none', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await signWithGatewayKey(stateDir, { sub: ALICE, iat: now - 700, exp: now - 100 });
    await expectAuthRefusal(() => client.call('GET', `${API_PREFIX}/apps`, { authorization: `Bearer ${expired}` }), 401, RefusalCode.tokenExpired);
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ csrf: 'x' }).setProtectedHeader({ alg: 'ES256', kid: 'another-key' }).setIssuer(SESSION_ISSUER).setAudience(SESSION_AUDIENCE).setSubject(ALICE).setExpirationTime('5m').sign(privateKey);
    await expectAuthRefusal(() => client.call('GET', `${API_PREFIX}/apps`, { authorization: `Bearer ${forged}` }), 401, RefusalCode.badSignature);
    const none = new UnsecuredJWT({ csrf: 'x' }).setIssuer(SESSION_ISSUER).setAudience(SESSION_AUDIENCE).setSubject(ALICE).setExpirationTime('5m').encode();
    await expectAuthRefusal(() => client.call('GET', `${API_PREFIX}/apps`, { authorization: `Bearer ${none}` }), 401, RefusalCode.badToken);
    await expectAuthRefusal(() => client.call('GET', `${API_PREFIX}/apps`, { cookie: none }), 401, RefusalCode.badToken);
  });

  it('logs in with Negotiate: the bearer token and the HttpOnly SameSite=Strict cookie both work', async () => {
    const login = await client.call<LoginAnswer>('POST', `${API_PREFIX}/login`, { user: 'alice' });
    expect(login.status).toBe(200);
    expect(login.headers.get('set-cookie')).toMatch(/^sluice_session=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
    expect(login.body.expiresAt).toBeGreaterThan(Date.now());
    expect((await client.call('GET', `${API_PREFIX}/whoami`, { authorization: `Bearer ${login.body.token}` })).body.principal).toBe(ALICE);
    expect((await client.call('GET', `${API_PREFIX}/whoami`, { cookie: login.body.token })).body.principal).toBe(ALICE);
    // A session does not log in again: login takes a Kerberos ticket only.
    await expectAuthRefusal(() => client.call('POST', `${API_PREFIX}/login`, { authorization: `Bearer ${login.body.token}` }), 401, RefusalCode.noCredentials);
  });

  it('refuses a state-changing request made with the cookie but without its X-CSRF-Token', async () => {
    const grants = { view: [], manage: [] };
    const path = `${API_PREFIX}/apps/${aliceApp}/permissions`;
    await expectAuthRefusal(() => client.call('PUT', path, { cookie: aliceLogin.token }, grants), 403, RefusalCode.csrf);
    await expectAuthRefusal(() => client.call('PUT', path, { cookie: aliceLogin.token, csrf: 'a-guess' }, grants), 403, RefusalCode.csrf);
    const other = (await client.call<LoginAnswer>('POST', `${API_PREFIX}/login`, { user: 'alice' })).body;
    await expectAuthRefusal(() => client.call('PUT', path, { cookie: aliceLogin.token, csrf: other.csrfToken }, grants), 403, RefusalCode.csrf);
    expect((await client.call('PUT', path, { cookie: aliceLogin.token, csrf: aliceLogin.csrfToken }, grants)).status).toBe(200);
    // Bearer requests carry no ambient credential: no CSRF token needed.
    expect((await client.call('PUT', path, { authorization: `Bearer ${aliceLogin.token}` }, grants)).status).toBe(200);
  });

  it('refuses launches it may not make and bad bodies with one line each, and keeps serving', async () => {
    const launch = (auth: { user: string }, body: unknown) => client.call('POST', `${API_PREFIX}/apps`, auth, body);
    const carol = await launch({ user: 'carol' }, { app: 'demo' });
    expect([carol.status, carol.body.error, carol.body.permission]).toEqual([403, RefusalCode.forbidden, Permission.launchApps]);
    for (const body of ['{not json', { app: 'demo', owner: BOB }, { app: 'relative/app.js' }, { app: 'demo', settings: { appDir: '/tmp/x' } }, { app: 'demo', settings: { insecure: true } }, { app: '' }]) {
      const res = await launch({ user: 'alice' }, body);
      expect([res.status, res.body.error], res.text).toEqual([400, RefusalCode.badRequest]);
      expect(res.body.reason).not.toContain('\n');
    }
    const big = await launch({ user: 'alice' }, { app: 'demo', config: { pad: 'x'.repeat(70 * 1024) } });
    expect([big.status, big.body.error]).toEqual([413, RefusalCode.tooLarge]);
    const refused = await launch({ user: 'alice' }, { app: WORDCOUNT, config: { tuplesPerWindow: -1 } });
    expect([refused.status, refused.body.error], refused.text).toEqual([400, RefusalCode.badRequest]);
    expect(refused.body.reason).toMatch(/tuplesPerWindow/);
    // A launch that failed leaves nothing behind in the list or the state dir.
    expect((await client.call<AppSummary[]>('GET', `${API_PREFIX}/apps`, { user: 'alice' })).body.map((a) => a.id)).toEqual([aliceApp]);
    expect(readdirSync(join(stateDir, 'apps'))).toEqual([aliceApp]);
    expect((await client.call('GET', `${API_PREFIX}/nothing-here`, { user: 'alice' })).status).toBe(404);
    expect((await client.call('GET', `${API_PREFIX}/whoami`, { user: 'alice' })).status).toBe(200);
  });

  it('survives bytes that are not HTTP, an oversized header and a huge Negotiate token, and keeps serving', async () => {
    const port = Number(new URL(gw.url).port);
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.end('\x16\x03\x01 not http at all\r\n\r\n'));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.resume();
    });
    const huge = await fetch(`${gw.url}${API_PREFIX}/whoami`, { headers: { 'x-padding': 'A'.repeat(40_000) } });
    expect(huge.status).toBe(431);
    const token = await client.call('GET', `${API_PREFIX}/whoami`, { authorization: `Negotiate ${'A'.repeat(20_000)}` });
    expect([token.status, token.body.error]).toEqual([401, RefusalCode.negotiateFailed]);
    expect((await client.call('GET', `${API_PREFIX}/whoami`, { user: 'alice' })).status).toBe(200);
  });

  it("keeps bob out of alice's app until she shares it, and even then lets him only view it", async () => {
    const bobSees = async () => (await client.call<AppSummary[]>('GET', `${API_PREFIX}/apps`, { user: 'bob' })).body.map((a) => a.id);
    expect(await bobSees()).not.toContain(aliceApp);
    const view = await client.call('GET', `${API_PREFIX}/apps/${aliceApp}`, { user: 'bob' });
    expect([view.status, view.body.error, view.body.permission]).toEqual([403, RefusalCode.forbidden, Permission.viewOtherUsersApps]);
    const stop = await client.call('POST', `${API_PREFIX}/apps/${aliceApp}/shutdown`, { user: 'bob' });
    expect([stop.status, stop.body.error, stop.body.permission]).toEqual([403, RefusalCode.forbidden, Permission.manageOtherUsersApps]);
    const share = await client.call('PUT', `${API_PREFIX}/apps/${aliceApp}/permissions`, { user: 'bob' }, { view: [BOB], manage: [BOB] });
    expect([share.status, share.body.error]).toEqual([403, RefusalCode.forbidden]);

    const granted = await client.call('PUT', `${API_PREFIX}/apps/${aliceApp}/permissions`, { user: 'alice' }, { view: [BOB] });
    expect(granted.body).toEqual({ view: [BOB], manage: [] });
    expect(await bobSees()).toContain(aliceApp);
    expect((await detail(aliceApp, 'bob')).owner).toBe(ALICE);
    const stillNot = await client.call('POST', `${API_PREFIX}/apps/${aliceApp}/shutdown`, { user: 'bob' });
    expect([stillNot.status, stillNot.body.permission]).toEqual([403, Permission.manageOtherUsersApps]);
    expect((await client.call('GET', `${API_PREFIX}/apps`, { user: 'carol' })).body).toEqual([]);
  });

  it("restarts one of alice's containers for her: 404 for a container the app has not, 409 CONTAINER_BUSY while it is replaced, 403 for bob's view share", async () => {
    const restart = (container: string, user: string) => client.call('POST', `${API_PREFIX}/apps/${aliceApp}/containers/${container}/restart`, { user });
    const c2 = async () => ((await detail(aliceApp)).status!.containers as { id: string; pid: number | null; state: string; requestedRestarts: number }[]).find((c) => c.id === 'c2')!;
    const before = await c2();
    const unknown = await restart('c99', 'alice');
    expect([unknown.status, unknown.body.error, unknown.body.reason]).toEqual([404, RefusalCode.notFound, `app ${aliceApp}: no container c99 in this app`]);
    const bobs = await restart('c2', 'bob');
    expect([bobs.status, bobs.body.error, bobs.body.permission]).toEqual([403, RefusalCode.forbidden, Permission.manageOtherUsersApps]);
    // Alice's own cookie is not enough: a cross-site page could send it, so a restart needs its CSRF token too.
    await expectAuthRefusal(() => client.call('POST', `${API_PREFIX}/apps/${aliceApp}/containers/c2/restart`, { cookie: aliceLogin.token }), 403, RefusalCode.csrf);
    expect((await c2()).pid).toBe(before.pid);
    const done = await restart('c2', 'alice');
    expect([done.status, done.body]).toEqual([202, { id: aliceApp, container: 'c2', restart: 'requested' }]);
    const again = await restart('c2', 'alice');
    expect([again.status, again.body.error]).toEqual([409, RefusalCode.containerBusy]);
    expect(readFileSync(join(stateDir, AUDIT_FILE), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord).filter((r) => r.action === 'app.container.restart').map((r) => [r.principal, r.outcome, r.status])).toEqual([
      [ALICE, 'allowed', 404],
      [BOB, 'denied', 403],
      [ALICE, 'allowed', 202],
      [ALICE, 'allowed', 409],
    ]);
    await until(async () => {
      const now = await c2();
      return now.state === 'running' && now.pid !== null && now.pid !== before.pid;
    });
    expect((await c2()).requestedRestarts).toBe(1);
    if (before.pid && pidAlive(before.pid)) throw new Error(`the old c2 (pid ${before.pid}) still runs`);
    await rememberPids(aliceApp, 'alice');
  });

  it("STRAM's REST refuses the gateway's session token and a web token minted for another app", async () => {
    const launched = await client.call<{ id: string }>('POST', `${API_PREFIX}/apps`, { user: 'bob' }, { app: 'demo', config: { tuplesPerWindow: 5, windows: 3 }, settings: { window: '200ms' } });
    expect(launched.status, launched.text).toBe(201);
    bobApp = launched.body.id;
    await until(async () => (await detail(bobApp, 'bob')).status?.containers.every((c) => (c as { pid: number | null }).pid !== null) ?? false);
    await rememberPids(bobApp, 'bob');
    const rest = stramInfo(aliceApp).rest;
    const asks = async (token: string) => {
      const res = await fetch(`${rest}/ws/v1/app`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as { reason: string } };
    };
    expect(await asks(aliceLogin.token)).toEqual({ status: 401, body: expect.objectContaining({ reason: 'malformed' }) });
    const bobKey = Buffer.from(readFileSync(join(appDir(bobApp), 'stram', 'web-key'), 'utf8').trim(), 'hex');
    const forBob = await signWebToken(bobKey, { app: stramInfo(bobApp).appId, user: ALICE, now: Date.now(), ttlMs: 60_000 });
    expect(await asks(forBob)).toEqual({ status: 401, body: expect.objectContaining({ reason: 'wrong-app' }) });
  });

  it("answers for an app whose STRAM is gone with APP_UNREACHABLE and the registry's view", async () => {
    const pid = stramInfo(bobApp).pid;
    process.kill(pid, 'SIGKILL');
    await until(() => !pidAlive(pid));
    const view = await client.call('GET', `${API_PREFIX}/apps/${bobApp}`, { user: 'bob' });
    expect([view.status, view.body.error, view.body.app]).toEqual([503, RefusalCode.appUnreachable, expect.objectContaining({ id: bobApp, owner: BOB, state: AppState.unreachable })]);
    const stop = await client.call('POST', `${API_PREFIX}/apps/${bobApp}/shutdown`, { user: 'bob' });
    expect([stop.status, stop.body.error]).toEqual([503, RefusalCode.appUnreachable]);
    // Its containers would stream on without STRAM for a while: this test has no use for them.
    for (const p of appPids.get(bobApp)!) if (pidAlive(p)) process.kill(p, 'SIGKILL');
  });

  it("stops on SIGTERM with exit code 0 and leaves alice's app streaming", async () => {
    gw.cli.kill('SIGTERM');
    const stopped = await gw.cli.exited;
    gatewayLogs.push(stopped.stderr);
    expect(stopped.code, stopped.stderr.slice(-2000)).toBe(0);
    expect(pidAlive(stramInfo(aliceApp).pid)).toBe(true);
    const before = outputWindows(aliceApp);
    await until(() => outputWindows(aliceApp) > before);
    gw = await startGateway(realm, stateDir, tmp.path, gwArgs);
    client.url = gw.url;
  });

  it("outlives kill -9: alice's app streams on, and a restarted gateway lists it RUNNING, accepts her session and shuts it down", async () => {
    gw.cli.kill('SIGKILL');
    await gw.cli.exited;
    gatewayLogs.push(gw.cli.stderr);
    const before = outputWindows(aliceApp);
    await until(() => outputWindows(aliceApp) > before + 2);
    gw = await startGateway(realm, stateDir, tmp.path, gwArgs);
    client.url = gw.url;
    const list = await client.call<AppSummary[]>('GET', `${API_PREFIX}/apps`, { authorization: `Bearer ${aliceLogin.token}` });
    expect(list.body.find((a) => a.id === aliceApp)).toMatchObject({ owner: ALICE, state: AppState.running });
    expect(list.body.map((a) => a.id)).not.toContain(bobApp);
    const bobs = await client.call<AppSummary[]>('GET', `${API_PREFIX}/apps`, { user: 'bob' });
    expect(bobs.body.find((a) => a.id === bobApp)).toMatchObject({ owner: BOB, state: AppState.unreachable });
    // Secrets are checked while the processes still run.
    checkNoSecretsInProcesses();
    const stop = await client.call('POST', `${API_PREFIX}/apps/${aliceApp}/shutdown`, { user: 'alice' });
    expect(stop.status).toBe(202);
    await until(async () => (await detail(aliceApp)).state === AppState.finished);
    const late = await client.call('POST', `${API_PREFIX}/apps/${aliceApp}/containers/c1/restart`, { user: 'alice' });
    expect([late.status, late.body.error]).toEqual([409, RefusalCode.notRunning]);
    const { expectedCounts, readActualCounts } = (await import(WORDCOUNT)) as {
      expectedCounts(c: Record<string, unknown>, w: number[]): Record<string, number>;
      readActualCounts(dir: string): { windows: number[]; counts: Record<string, number> };
    };
    const actual = readActualCounts(appDir(aliceApp));
    expect(actual.windows.length).toBeGreaterThan(before + 2);
    expect(actual.windows).toEqual(actual.windows.map((_, i) => i + 1));
    expect(actual.counts).toEqual(expectedCounts(ALICE_CONFIG, actual.windows));
  });

  /** Secrets the gateway holds or hands out. */
  const secrets = (): string[] => {
    const keytab = readFileSync(realm.keytab(GATEWAY_PRINCIPAL));
    const keys = (JSON.parse(readFileSync(join(stateDir, 'session-keys.json'), 'utf8')) as { keys: { jwk: { d: string } }[] }).keys.map((k) => k.jwk.d);
    return [
      keytab.toString('base64'),
      keytab.toString('hex'),
      realm.keytab(GATEWAY_PRINCIPAL),
      join(tmp.path, 'alice.ccache'),
      readFileSync(join(tmp.path, 'alice.ccache')).toString('base64'),
      readFileSync(join(stateDir, 'krb5cc')).toString('base64'), // the gateway's own TGT
      aliceLogin.token,
      aliceLogin.csrfToken,
      ...keys,
    ];
  };

  function checkNoSecretsInProcesses(): void {
    const live = appPids.get(aliceApp)!.filter(pidAlive);
    expect(live.length).toBeGreaterThanOrEqual(5); // alice's STRAM and its four containers
    for (const pid of live) {
      const cmdline = procFile(pid, 'cmdline') ?? '';
      const environ = procFile(pid, 'environ') ?? '';
      for (const s of secrets()) {
        expect(cmdline).not.toContain(s);
        expect(environ).not.toContain(s);
      }
      expect(environ.split('\0').filter((kv) => kv.startsWith('KRB5'))).toEqual([]);
    }
  }

  it('puts no keytab, ticket, signing key or session token in a log line or a response', () => {
    const logs = [...gatewayLogs, gw.cli.stderr, ...[aliceApp, bobApp].map((id) => readFileSync(join(appDir(id), 'stram.log'), 'utf8'))].join('\n');
    expect(logs).toContain('"msg":"gateway serving"');
    const responses = client.bodies.filter((b) => !b.includes('"csrfToken"')); // login answers carry the session by design
    for (const s of secrets()) {
      expect(logs).not.toContain(s);
      for (const body of responses) expect(body).not.toContain(s);
    }
    for (const id of [aliceApp, bobApp]) expect(readdirSync(appDir(id)).filter((f) => /keytab|ccache|session-keys/.test(f))).toEqual([]);
  });
});
