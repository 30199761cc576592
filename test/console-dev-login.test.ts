import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { TestRealm } from '@sluice/gateway/testing';
import { browserUnavailable, launchBrowser } from './helpers/browser.js';
import { GATEWAY_PRINCIPAL, startGateway, type GatewayRun } from './helpers/gateway-process.js';
import { tempDir } from './helpers/runtime-cli.js';

/**
 * The console's development sign-in exists only under `sluice gateway --insecure-dev-login`,
 * and then every page says so in red. (Without the flag it is absent: console.test.ts.)
 */

const why = TestRealm.unavailable() ?? browserUnavailable();

describe.skipIf(why)(`the console's insecure development sign-in${why ? ` (skipped: ${why})` : ''}`, () => {
  const tmp = tempDir('sluice-console-dev-');
  let realm: TestRealm;
  let gw: GatewayRun;
  let browser: BrowserContext;

  beforeAll(async () => {
    realm = await TestRealm.start({ dir: tmp.path, principals: [GATEWAY_PRINCIPAL] });
    gw = await startGateway(realm, join(tmp.path, 'state'), tmp.path, ['--insecure-dev-login']);
    browser = await launchBrowser(realm.env(), undefined, tmp.path);
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    gw?.cli.kill('SIGKILL');
    await gw?.cli.exited;
    await realm?.stop();
    tmp.remove();
  });

  it('warns on start, offers the form with a red banner, and signs in whoever is typed', async () => {
    expect(gw.cli.stderr).toContain('--insecure-dev-login');
    const page = browser.pages()[0] ?? (await browser.newPage());
    const res = await page.goto(`${gw.url}/console/`);
    expect(res?.status()).toBe(401);
    const banner = page.locator('.insecure[role="alert"]');
    expect(await banner.textContent()).toContain('Insecure development sign-in is on');
    expect(await banner.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor)).toBe('rgb(166, 27, 27)');
    await page.getByLabel('Principal').fill('mallory@EXAMPLE.TEST');
    await page.getByRole('button', { name: 'Sign in without Kerberos' }).click();
    await page.waitForURL('**/console/');
    expect(await page.locator('[data-principal]').textContent()).toBe('mallory@EXAMPLE.TEST');
    expect(await page.locator('.insecure[role="alert"]').count()).toBe(1);
    await page.goto(`${gw.url}/console/security`);
    expect(await page.locator('.insecure[role="alert"]').count()).toBe(1);
  });

  it('refuses a principal that is not one, in one line, without a session', async () => {
    const res = await fetch(`${gw.url}/console/dev-login`, { method: 'POST', body: new URLSearchParams({ principal: '<script>' }), redirect: 'manual' });
    const text = await res.text();
    expect([res.status, res.headers.get('set-cookie')]).toEqual([400, null]);
    expect(text).toContain('give a principal such as alice@EXAMPLE.COM');
    expect(text).not.toContain('<script>');
  });
});
