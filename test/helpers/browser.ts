import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './runtime-cli.js';

/**
 * Debian's Chromium, headless, driven by playwright-core (never a downloaded browser). Each
 * browser is one person: its Kerberos ticket cache in KRB5CCNAME, and SPNEGO allowed for
 * `localhost` only, the host the gateway's service principal names.
 */

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserUnavailable(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `Debian's chromium is not installed (no ${CHROMIUM}); run scripts/chromium.sh ensure`;
}

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/**
 * A browser holding the tickets of `ccache` (none: a browser with no Kerberos ticket), with a
 * fresh profile of its own. A persistent profile, not an incognito context: Chromium does no
 * ambient authentication (Negotiate) in an off-the-record profile.
 */
export function launchBrowser(realmEnv: Record<string, string>, ccache: string | undefined, parent = tmpdir()): Promise<BrowserContext> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...realmEnv, KRB5CCNAME: ccache ? `FILE:${ccache}` : 'FILE:/nonexistent/sluice-no-ticket' };
  const profile = mkdtempSync(join(parent, 'chromium-profile-'));
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: [...FLAGS, '--auth-server-allowlist=localhost'], env, viewport: { width: 1280, height: 900 } });
}

/**
 * Chromium loads its GSSAPI library when it first meets a Negotiate challenge, and that first
 * challenge fails (ERR_UNSUPPORTED_AUTH_SCHEME in its log): the page shows the 401. One
 * challenge answered before the test's own navigation loads the library; the sign-in page
 * (401 Negotiate, or a sign-in straight away once the library is there) is that challenge.
 */
export async function loadNegotiate(page: Page, gatewayUrl: string): Promise<void> {
  await page.goto(`${gatewayUrl}/console/sign-in`);
}

/** With SLUICE_SCREENSHOTS=1, the page as it looks now into docs/images/<name>.png (how the docs' pictures are made). */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env['SLUICE_SCREENSHOTS'] !== '1') return;
  const dir = join(ROOT, 'docs', 'images');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}
