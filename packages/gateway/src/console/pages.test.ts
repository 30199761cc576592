import { describe, expect, it } from 'vitest';
import { AppState, type AppDetail } from '../api.js';
import { appPage } from './app-pages.js';
import { healthPage } from './health-pages.js';
import type { PageFrame } from './page.js';
import { figuresOf } from './views.js';

/** The warnings a person must see while a renewal fails, and not otherwise. */

const frame: PageFrame = { viewer: { principal: 'alice@R', csrf: 'c', canAudit: false }, devLogin: false };
const refusals = { byCode: [], byPermission: [] };
const keytab = { logins: 3, failures: 2, expiresAt: Date.parse('2030-01-01T00:00:00Z') };

function detail(consecutiveFailures: number, certificate?: Record<string, unknown>): AppDetail {
  const tokens = { expiry: '2030-01-01T00:00:00Z', lastRenewal: null, consecutiveFailures, lastError: consecutiveFailures ? 'STRAM refused the renewal' : null };
  return {
    id: 'demo-1', name: 'wordcount', owner: 'alice@R', realUser: '', state: AppState.running, startedAt: 0,
    status: { app: { state: 'running', uptimeMs: 1000, committedWindow: 4, tls: certificate !== undefined, dag: { operators: [{ name: 'a', partitions: 1 }], streams: [] } }, containers: [{ id: 'c1', state: 'running', operators: ['a#0'], restarts: 0, tokens, certificate }], operators: [] },
  };
}

describe('the console warns while a renewal fails', () => {
  it("shows the gateway's failing Kerberos re-login as an alert, and none while it is healthy", () => {
    const failing = healthPage(frame, { keytab: { ...keytab, failuresSinceLogin: 2 }, refusals, apps: [], tls: false, now: 0 }).text;
    expect(failing).toMatch(/class="warning" role="alert">The gateway's Kerberos re-login is failing \(2 attempts since the last success\)/);
    const healthy = healthPage(frame, { keytab: { ...keytab, failuresSinceLogin: 0 }, refusals, apps: [], tls: false, now: 0 }).text;
    expect(healthy).not.toContain('role="alert"');
  });

  it("shows an app's failing token renewal with its error, and hides the warning while renewals succeed", () => {
    const failing = detail(1);
    expect(appPage(frame, failing, figuresOf(failing), { canManage: false, now: 0 }).text).toMatch(/role="alert" data-renewal-warning >Token renewal is failing for c1: STRAM refused the renewal/);
    const healthy = detail(0);
    expect(appPage(frame, healthy, figuresOf(healthy), { canManage: false, now: 0 }).text).toMatch(/data-renewal-warning hidden>/);
  });

  it("shows a failing certificate renewal with STRAM's reason, hides the warning while it is healthy, and has no certificates section without TLS", () => {
    const cert = { notAfter: '2030-01-01T00:00:04.000Z', serial: '0abc', lastRenewal: '2030-01-01T00:00:00.000Z', consecutiveFailures: 0, lastError: null, failing: false };
    const healthy = detail(0, cert);
    const page = appPage(frame, healthy, figuresOf(healthy), { canManage: false, now: 0 }).text;
    expect(page).toMatch(/data-cert-warning hidden>/);
    expect(page).toContain('<td data-field="certNotAfter">2030-01-01T00:00:04.000Z</td>');
    const failing = detail(0, { ...cert, consecutiveFailures: 1, lastError: 'csr signature does not verify', failing: true });
    expect(appPage(frame, failing, figuresOf(failing), { canManage: false, now: 0 }).text).toMatch(/role="alert" data-cert-warning >Certificate renewal is failing for c1: csr signature does not verify/);
    const plain = detail(0);
    expect(appPage(frame, plain, figuresOf(plain), { canManage: false, now: 0 }).text).not.toContain('Certificate renewal');
  });

  it('offers shutdown and container restarts only to those who may manage the app', () => {
    const d = detail(0);
    const manager = appPage(frame, d, figuresOf(d), { canManage: true, now: 0 }).text;
    expect(manager).toContain('data-shutdown="/api/v1/apps/demo-1/shutdown"');
    expect(manager).toContain('data-restart="/api/v1/apps/demo-1/containers/c1/restart"');
    const viewer = appPage(frame, d, figuresOf(d), { canManage: false, now: 0 }).text;
    expect(viewer).not.toContain('data-shutdown');
    expect(viewer).not.toContain('data-restart');
  });
});
