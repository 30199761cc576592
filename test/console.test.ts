import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { API_PREFIX, AUDIT_FILE, AppState, Permission, RefusalCode, type AuditRecord, type LoginAnswer } from '@sluice/gateway';
import { TestRealm } from '@sluice/gateway/testing';
import { browserUnavailable, launchBrowser, loadNegotiate, screenshot } from './helpers/browser.js';
import { GATEWAY_PRINCIPAL, GatewayClient, startGateway, stopGatewayTest, type GatewayRun } from './helpers/gateway-process.js';
import { WORDCOUNT, pidAlive, tempDir, until } from './helpers/runtime-cli.js';

/**
 * The web console in a real headless Chromium against a real gateway and KDC: alice signs in
 * with her Kerberos ticket (SPNEGO), sees her demo's DAG and figures that move, and stops it;
 * bob, with a view share, sees it read-only and is refused when he forges the action; a browser
 * without a ticket gets the sign-in page and no data.
 */

const R = '@EXAMPLE.TEST';
const ALICE = `alice${R}`;
const BOB = `bob${R}`;
const POLICY = `roles:
  launcher: [LAUNCH_APPS]
  auditor: [VIEW_AUDIT]
bindings:
  - role: launcher
    principals: [${ALICE}]
  - role: auditor
    principals: [${ALICE}]
`;

const DEMO_CONFIG = { tuplesPerWindow: 20 };

const why = TestRealm.unavailable() ?? browserUnavailable();

describe.skipIf(why)(`the web console in a browser${why ? ` (skipped: ${why})` : ''}`, () => {
  const tmp = tempDir('sluice-console-');
  const stateDir = join(tmp.path, 'state');
  const caches: Record<string, string> = { alice: join(tmp.path, 'alice.ccache'), bob: join(tmp.path, 'bob.ccache') };
  let realm: TestRealm;
  let gw: GatewayRun;
  let client: GatewayClient;
  let app: string;
  let tlsApp: string | undefined;
  let aliceToken: string;
  const browsers: BrowserContext[] = [];
  const pages: Record<string, Page> = {};

  const auditLines = (): AuditRecord[] => readFileSync(join(stateDir, AUDIT_FILE), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
  const appState = async () => (await client.call('GET', `${API_PREFIX}/apps/${app}`, { authorization: `Bearer ${aliceToken}` })).body?.state as string;
  type ContainerStatus = { id: string; state: string; pid: number | null; restarts: number; requestedRestarts: number; lastRestart: { cause: string } | null };
  const containerStatus = async (id: string) => ((await client.call('GET', `${API_PREFIX}/apps/${app}`, { authorization: `Bearer ${aliceToken}` })).body?.status?.containers as ContainerStatus[]).find((c) => c.id === id)!;
  async function browserPage(ccache: string | undefined): Promise<Page> {
    const browser = await launchBrowser(realm.env(), ccache, tmp.path);
    browsers.push(browser);
    const page = browser.pages()[0] ?? (await browser.newPage());
    if (ccache) await loadNegotiate(page, gw.url);
    return page;
  }

  beforeAll(async () => {
    realm = await TestRealm.start({ dir: tmp.path, principals: ['alice', 'bob', GATEWAY_PRINCIPAL] });
    Object.assign(process.env, realm.env());
    await realm.kinit('alice', caches['alice']!);
    await realm.kinit('bob', caches['bob']!);
    writeFileSync(join(tmp.path, 'policy.yaml'), POLICY);
    gw = await startGateway(realm, stateDir, tmp.path, ['--policy', join(tmp.path, 'policy.yaml')]);
    client = new GatewayClient(gw.url, caches);
    aliceToken = (await client.call<LoginAnswer>('POST', `${API_PREFIX}/login`, { user: 'alice' })).body.token;
    const launched = await client.call<{ id: string }>('POST', `${API_PREFIX}/apps`, { authorization: `Bearer ${aliceToken}` }, { app: 'demo', config: DEMO_CONFIG, settings: { window: '200ms' } });
    expect(launched.status, launched.text).toBe(201);
    app = launched.body.id;
    const shared = await client.call('PUT', `${API_PREFIX}/apps/${app}/permissions`, { authorization: `Bearer ${aliceToken}` }, { view: [BOB], manage: [] });
    expect(shared.status, shared.text).toBe(200);
    await until(async () => (await client.call('GET', `${API_PREFIX}/apps/${app}`, { authorization: `Bearer ${aliceToken}` })).body?.status?.containers?.every((c: { state: string }) => c.state === 'running') ?? false);
  });

  afterAll(async () => {
    for (const b of browsers) await b.close().catch(() => undefined);
    if (tlsApp) await client.call('POST', `${API_PREFIX}/apps/${tlsApp}/shutdown`, { authorization: `Bearer ${aliceToken}` }).catch(() => undefined);
    await stopGatewayTest(gw, stateDir, app, realm);
    tmp.remove();
  });

  it('gives a request without a session the sign-in page with 401 Negotiate, and none of the data', async () => {
    for (const path of ['/console/', `/console/apps/${app}`, `/console/apps/${app}/live`, `/console/apps/${app}/containers/c1/log`, '/console/security', '/console/audit']) {
      const res = await fetch(`${gw.url}${path}`);
      const text = await res.text();
      expect([res.status, res.headers.get('www-authenticate'), res.headers.get('content-type')], path).toEqual([401, 'Negotiate', 'text/html; charset=utf-8']);
      expect(text).toContain('<h1>Sign in</h1>');
      for (const secret of [ALICE, 'counter', 'generator', 'tuples']) expect(text, `${path} shows ${secret}`).not.toContain(secret);
    }
    // A browser without a ticket tries Negotiate, fails, and shows that page.
    const page = await browserPage(undefined);
    const res = await page.goto(`${gw.url}/console/apps/${app}`);
    expect(res?.status()).toBe(401);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');
    expect(await page.locator('svg.dag').count()).toBe(0);
    await screenshot(page, 'console-sign-in');
  });

  it('has no development sign-in without --insecure-dev-login', async () => {
    const text = await (await fetch(`${gw.url}/console/`)).text();
    expect(text).not.toContain('dev-login');
    expect(text).not.toContain('Insecure');
    const res = await fetch(`${gw.url}/console/dev-login`, { method: 'POST', body: new URLSearchParams({ principal: ALICE }), redirect: 'manual' });
    expect([res.status, res.headers.get('set-cookie')]).toEqual([404, null]);
  });

  it('signs alice in with her Kerberos ticket into a cookie session and lists her app', async () => {
    const page = (pages['alice'] = await browserPage(caches['alice']));
    const res = await page.goto(`${gw.url}/console/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
    expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(await page.locator('[data-principal]').textContent()).toBe(ALICE);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'sluice_session');
    expect([cookie?.httpOnly, cookie?.sameSite]).toEqual([true, 'Strict']);
    const row = page.locator(`tr[data-app="${app}"]`);
    expect(await row.locator('td').nth(1).textContent()).toBe(ALICE);
    expect(await row.locator('td').nth(2).textContent()).toBe(AppState.running);
    await screenshot(page, 'console-apps');
  });

  it("shows alice's app: its DAG, its physical plan, and operator figures that move without a reload", async () => {
    const page = pages['alice']!;
    await page.getByRole('link', { name: app }).click();
    await page.waitForURL(`**/console/apps/${app}`);
    expect(await page.locator('svg.dag g.dag-operator').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-operator')))).toEqual(['generator', 'counter', 'output']);
    expect(await page.locator('svg.dag g.dag-operator[data-operator="counter"]').textContent()).toContain('2 partitions');
    expect(await page.locator('svg.dag g.dag-stream').count()).toBe(2);
    expect(await page.locator('table.containers tbody tr').count()).toBeGreaterThan(0);
    const cell = page.locator('tr[data-op="generator#0"] [data-field="tuplesOut"]');
    const first = Number(await cell.textContent());
    const window = Number(await page.locator('[data-live="committedWindow"]').textContent());
    await expect.poll(async () => Number(await cell.textContent()), { timeout: 30_000 }).toBeGreaterThan(first);
    await expect.poll(async () => Number(await page.locator('[data-live="committedWindow"]').textContent()), { timeout: 30_000 }).toBeGreaterThan(window);
    expect(Number(await page.locator('[data-live-src]').getAttribute('data-updates'))).toBeGreaterThan(0);
    expect(await page.locator('button[data-shutdown]').count()).toBe(1);
    await screenshot(page, 'console-app');
  });

  it("lets bob, who has a view share, see alice's app read-only, and refuses his forged shutdown with 403", async () => {
    const page = (pages['bob'] = await browserPage(caches['bob']));
    await page.goto(`${gw.url}/console/apps/${app}`);
    expect(await page.locator('[data-principal]').textContent()).toBe(BOB);
    expect(await page.locator('svg.dag').count()).toBe(1);
    expect(await page.locator('button[data-shutdown]').count()).toBe(0);
    expect(await page.locator('button[data-restart]').count()).toBe(0);
    expect(await page.getByText('You may view this app but not manage it.').count()).toBe(1);
    expect(await page.getByRole('link', { name: 'Audit trail' }).count()).toBe(0);
    const forge = (headers: Record<string, string>, path = `${API_PREFIX}/apps/${app}/shutdown`): Promise<{ status: number; body: { error?: string; permission?: string } }> =>
      page.evaluate(async ([url, h]) => {
        const res = await fetch(url!, { method: 'POST', headers: h as Record<string, string> });
        return { status: res.status, body: (await res.json()) as { error?: string; permission?: string } };
      }, [path, headers] as const);
    const csrf = (await page.locator('meta[name="csrf-token"]').getAttribute('content'))!;
    expect(csrf.length).toBeGreaterThan(10);
    const forged = await forge({ 'x-csrf-token': csrf });
    expect([forged.status, forged.body.error, forged.body.permission]).toEqual([403, RefusalCode.forbidden, Permission.manageOtherUsersApps]);
    expect(auditLines().at(-1)).toMatchObject({ principal: BOB, action: 'app.shutdown', app, outcome: 'denied', status: 403 });
    const c2 = await containerStatus('c2');
    const restart = await forge({ 'x-csrf-token': csrf }, `${API_PREFIX}/apps/${app}/containers/c2/restart`);
    expect([restart.status, restart.body.error, restart.body.permission]).toEqual([403, RefusalCode.forbidden, Permission.manageOtherUsersApps]);
    expect(auditLines().at(-1)).toMatchObject({ principal: BOB, action: 'app.container.restart', app, outcome: 'denied', status: 403 });
    expect(await containerStatus('c2')).toMatchObject({ pid: c2.pid, restarts: c2.restarts });
    const noCsrf = await forge({});
    expect([noCsrf.status, noCsrf.body.error]).toEqual([403, RefusalCode.csrf]);
    expect(await appState()).toBe(AppState.running);
    const audit = await page.goto(`${gw.url}/console/audit`);
    expect(audit?.status()).toBe(403);
    expect(await page.locator('main').textContent()).toContain(Permission.viewAudit);
    expect(auditLines().at(-1)).toMatchObject({ principal: BOB, action: 'audit.read', outcome: 'denied', status: 403 });
  });

  it("shows alice the audit trail with bob's refusals, the refusal counts, and a container's log", async () => {
    const page = pages['alice']!;
    await page.goto(`${gw.url}/console/audit`);
    const denied = page.locator('table.audit tr.outcome-denied');
    expect(await denied.first().textContent()).toContain(BOB);
    await screenshot(page, 'console-audit');
    await page.goto(`${gw.url}/console/security`);
    expect(await page.locator(`tr[data-refusal="${Permission.manageOtherUsersApps}"] td`).textContent()).toBe('2');
    expect(Number(await page.locator(`tr[data-refusal="${RefusalCode.noCredentials}"] td`).textContent())).toBeGreaterThan(0);
    expect(await page.getByRole('heading', { name: 'Gateway Kerberos login' }).count()).toBe(1);
    await screenshot(page, 'console-security');
    await page.goto(`${gw.url}/console/apps/${app}/containers/c1/log`);
    expect((await page.locator('pre.log').textContent())!.length).toBeGreaterThan(0);
    const missing = await page.goto(`${gw.url}/console/apps/${app}/containers/c99/log`);
    expect(missing?.status()).toBe(404);
  });

  it('lets alice restart a container from its page: a new process takes over, counted as requested', async () => {
    const page = pages['alice']!;
    await page.goto(`${gw.url}/console/apps/${app}`);
    const before = await containerStatus('c2');
    expect(before.state).toBe('running');
    await page.getByRole('button', { name: 'Restart c2' }).click();
    await expect.poll(() => page.locator('[data-action-result]').textContent(), { timeout: 30_000 }).toContain('Restart of c2 requested');
    await until(async () => {
      const c = await containerStatus('c2');
      return c.state === 'running' && c.pid !== null && c.pid !== before.pid;
    });
    const after = await containerStatus('c2');
    expect(after).toMatchObject({ restarts: before.restarts + 1, requestedRestarts: 1, lastRestart: { cause: 'requested' } });
    expect(before.pid !== null && pidAlive(before.pid)).toBe(false);
    // The live stream moves the physical plan's cells without a reload.
    const row = page.locator('tr[data-container="c2"]');
    await expect.poll(() => row.locator('[data-field="pid"]').textContent(), { timeout: 30_000 }).toBe(String(after.pid));
    expect(await row.locator('[data-field="restarts"]').textContent()).toBe(`${after.restarts} (1 requested)`);
    expect(await row.locator('[data-field="lastRestart"]').textContent()).toMatch(/^requested at /);
    expect(auditLines().filter((r) => r.action === 'app.container.restart' && r.principal === ALICE).map((r) => [r.outcome, r.status])).toEqual([['allowed', 202]]);
    const metrics = await (await fetch(`${JSON.parse(readFileSync(join(stateDir, 'apps', app, 'stram.json'), 'utf8')).rest}/metrics`, { headers: { authorization: `Bearer ${readFileSync(join(stateDir, 'apps', app, 'web-token'), 'utf8').trim()}` } })).text();
    expect(metrics).toContain('sluice_container_restarts_requested_total{container="c2"} 1');
  });

  it('lets alice stop her app from its page, and its counts are exact across the restart', async () => {
    const page = pages['alice']!;
    await page.goto(`${gw.url}/console/apps/${app}`);
    await page.getByRole('button', { name: `Shut down ${app}` }).click();
    await expect.poll(() => page.locator('[data-action-result]').textContent(), { timeout: 30_000 }).toContain('Shutdown requested');
    await until(async () => (await appState()) === AppState.finished);
    await expect.poll(() => page.locator('[data-live="state"]').textContent(), { timeout: 30_000 }).toBe(AppState.finished);
    expect(auditLines().filter((r) => r.action === 'app.shutdown' && r.principal === ALICE).map((r) => [r.outcome, r.status])).toEqual([['allowed', 202]]);
    const { expectedCounts, readActualCounts } = (await import(WORDCOUNT)) as {
      expectedCounts(c: Record<string, unknown>, w: number[]): Record<string, number>;
      readActualCounts(dir: string): { windows: number[]; counts: Record<string, number> };
    };
    const actual = readActualCounts(join(stateDir, 'apps', app));
    expect(actual.windows.length).toBeGreaterThan(0);
    expect(actual.windows).toEqual(actual.windows.map((_, i) => i + 1));
    expect(actual.counts).toEqual(expectedCounts(DEMO_CONFIG, actual.windows));
  });

  it("shows the certificates of an app launched with TLS, their expiry moving forward as they renew", async () => {
    const launched = await client.call<{ id: string }>('POST', `${API_PREFIX}/apps`, { authorization: `Bearer ${aliceToken}` }, { app: 'demo', config: DEMO_CONFIG, settings: { window: '200ms', tls: 'on', certLifetime: '4s' } });
    expect(launched.status, launched.text).toBe(201);
    const id = (tlsApp = launched.body.id);
    await until(async () => (await client.call('GET', `${API_PREFIX}/apps/${id}`, { authorization: `Bearer ${aliceToken}` })).body?.status?.containers?.every((c: { state: string }) => c.state === 'running') ?? false);
    const page = pages['alice']!;
    await page.goto(`${gw.url}/console/apps/${id}`);
    expect(await page.getByRole('heading', { name: 'Certificate renewal' }).count()).toBe(1);
    const expiry = page.locator('tr[data-cert="c1"] [data-field="certNotAfter"]');
    const serial = page.locator('tr[data-cert="c1"] [data-field="certSerial"]');
    await expect.poll(async () => (await expiry.textContent()) ?? '', { timeout: 30_000 }).toMatch(/^\d{4}-\d\d-\d\dT/);
    const first = { expiry: (await expiry.textContent())!, serial: (await serial.textContent())! };
    expect(Date.parse(first.expiry)).toBeGreaterThan(Date.now() - 1_000);
    // Renewed at 75% of 4 s: the live figures carry a later expiry and a new serial, with no reload.
    await expect.poll(async () => Date.parse((await expiry.textContent()) ?? ''), { timeout: 30_000 }).toBeGreaterThan(Date.parse(first.expiry));
    expect(await serial.textContent()).not.toBe(first.serial);
    expect(await page.locator('[data-cert-warning]').isHidden()).toBe(true);
    expect(await page.locator('tr[data-cert="c1"] [data-field="certHealth"]').textContent()).toBe('healthy');
    await screenshot(page, 'console-certificates');
    const stop = await client.call('POST', `${API_PREFIX}/apps/${id}/shutdown`, { authorization: `Bearer ${aliceToken}` });
    expect(stop.status).toBe(202);
  });

  it('signs alice out: the session cookie is gone from the browser', async () => {
    const page = pages['alice']!;
    await page.goto(`${gw.url}/console/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/console/signed-out');
    expect((await page.context().cookies()).map((c) => c.name)).not.toContain('sluice_session');
    expect(await page.locator('[data-principal]').count()).toBe(0);
  });
});
