import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '@sluice/common';
import { Stram } from './stram.js';
import { signWebToken } from './rest.js';
import { FakeContainer, NoopLauncher, writeTestApp } from './testing/index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function launch(): Promise<Stram> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-rest-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const stram = await Stram.launch({
    appModule: writeTestApp(dir, 'pipeline'),
    appDir: join(dir, 'app'),
    launcher: new NoopLauncher(),
    logger: createLogger({ name: 'rest-test', level: 'silent' }),
    shutdownGraceMs: 100,
  });
  cleanups.push(() => stram.shutdown('test over'));
  return stram;
}

const webToken = (s: Stram) => readFileSync(s.dir.webToken, 'utf8').trim();
const webKey = (s: Stram) => Buffer.from(readFileSync(s.dir.webKey, 'utf8').trim(), 'hex');

async function get(s: Stram, path: string, token?: string): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${s.restUrl}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

describe('STRAM REST API', () => {
  it('issues the web token to the launching user into a 0600 file and serves app, containers and operators', async () => {
    const s = await launch();
    expect(statSync(s.dir.webToken).mode & 0o777).toBe(0o600);
    expect(statSync(s.dir.webKey).mode & 0o777).toBe(0o600);
    const app = await get(s, '/ws/v1/app', webToken(s));
    expect(app.status).toBe(200);
    expect(app.body).toMatchObject({ id: s.appId, name: 'pipeline', state: 'running', secure: true, containers: { total: 4 } });
    const containers = await get(s, '/ws/v1/containers', webToken(s));
    expect(containers.body.containers.map((c: { id: string }) => c.id)).toEqual(['c1', 'c2', 'c3', 'c4']);
    const operators = await get(s, '/ws/v1/operators', webToken(s));
    expect(operators.body.operators.map((o: { id: string }) => o.id)).toEqual(['gen#0', 'count#0', 'count#1', 'sink#0']);
  });

  it('answers GET /ws/v1/status with app, containers and operators together, as the three calls give them, and refuses it without a token (401) or without view (403)', async () => {
    const s = await launch();
    const status = await get(s, '/ws/v1/status', webToken(s));
    expect(status.status).toBe(200);
    expect(status.body.app).toMatchObject({ id: s.appId, name: 'pipeline', state: 'running', containers: { total: 4 } });
    expect(status.body.containers.map((c: { id: string }) => c.id)).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(status.body.operators.map((o: { id: string }) => o.id)).toEqual(['gen#0', 'count#0', 'count#1', 'sink#0']);
    expect((await get(s, '/ws/v1/status')).body).toMatchObject({ error: 'unauthorized', reason: 'missing' });
    const none = await signWebToken(webKey(s), { app: s.appId, user: 'bob@R', now: Date.now(), ttlMs: 60_000, scope: [] });
    const refused = await get(s, '/ws/v1/status', none);
    expect([refused.status, refused.body]).toEqual([403, expect.objectContaining({ reason: 'scope', permission: 'view' })]);
  });

  it('refuses a request without a token with 401 "missing"', async () => {
    const s = await launch();
    const r = await get(s, '/ws/v1/app');
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ error: 'unauthorized', reason: 'missing' });
  });

  it('refuses an expired token with 401 "expired"', async () => {
    const s = await launch();
    const expired = await signWebToken(webKey(s), { app: s.appId, user: 'me', now: Date.now() - 3_600_000, ttlMs: 60_000 });
    const r = await get(s, '/ws/v1/app', expired);
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ reason: 'expired' });
  });

  it("refuses another app's token with 401 \"wrong-app\"", async () => {
    const a = await launch();
    const b = await launch();
    const r = await get(a, '/ws/v1/containers', webToken(b));
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ reason: 'wrong-app' });
  });

  it('refuses a token signed with another key for this app with 401 "bad-signature", and a garbled one as "malformed"', async () => {
    const s = await launch();
    const forged = await signWebToken(Buffer.alloc(32, 1), { app: s.appId, user: 'me', now: Date.now(), ttlMs: 60_000 });
    expect((await get(s, '/ws/v1/app', forged)).body).toMatchObject({ reason: 'bad-signature' });
    expect((await get(s, '/ws/v1/app', 'not.a.jwt')).body).toMatchObject({ reason: 'malformed' });
  });

  it('counts refusals by reason in /metrics, which itself needs a token', async () => {
    const s = await launch();
    expect((await get(s, '/metrics')).status).toBe(401);
    await get(s, '/ws/v1/app', 'garbage');
    const m = await get(s, '/metrics', webToken(s));
    expect(m.status).toBe(200);
    expect(m.text).toContain('sluice_auth_failures_total{endpoint="rest",reason="missing"} 1');
    expect(m.text).toContain('sluice_auth_failures_total{endpoint="rest",reason="malformed"} 1');
    expect(m.text).toContain('sluice_token_expiry_seconds{container="c1"}');
  });

  it('shuts the app down on POST /ws/v1/shutdown', async () => {
    const s = await launch();
    const res = await fetch(`${s.restUrl}/ws/v1/shutdown`, { method: 'POST', headers: { authorization: `Bearer ${webToken(s)}` } });
    expect(res.status).toBe(202);
    await s.stopped;
    expect(s.appState).toBe('stopped');
  });

  it('holds a token to its scope: a view token reads but gets 403 "scope" (permission manage) on shutdown; a manage token shuts down', async () => {
    const s = await launch();
    const token = (scope: ('view' | 'manage')[]) => signWebToken(webKey(s), { app: s.appId, user: 'bob@R', now: Date.now(), ttlMs: 60_000, scope });
    const view = await token(['view']);
    expect((await get(s, '/ws/v1/app', view)).status).toBe(200);
    const post = (t: string) => fetch(`${s.restUrl}/ws/v1/shutdown`, { method: 'POST', headers: { authorization: `Bearer ${t}` } });
    const refused = await post(view);
    expect([refused.status, await refused.json()]).toEqual([403, expect.objectContaining({ error: 'forbidden', reason: 'scope', permission: 'manage' })]);
    const none = await token([]);
    expect((await get(s, '/ws/v1/operators', none)).body).toMatchObject({ reason: 'scope', permission: 'view' });
    expect((await get(s, '/metrics', webToken(s))).text).toContain('sluice_auth_failures_total{endpoint="rest",reason="scope"} 2');
    expect(s.appState).toBe('running');
    expect((await post(await token(['view', 'manage']))).status).toBe(202);
    await s.stopped;
  });
});

describe('restarting a container over REST', () => {
  it('replaces a running container at once without counting it as a failure, and refuses view tokens (403), unknown containers (404) and a container already being replaced (409)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-rest-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const launcher = new NoopLauncher();
    // Restart strategy none: a single failure would fail the app, so a requested restart must not count as one.
    const s = await Stram.launch({ appModule: writeTestApp(dir, 'pipeline'), appDir: join(dir, 'app'), launcher, logger: createLogger({ name: 'rest-test', level: 'silent' }), shutdownGraceMs: 100, restart: 'none' });
    cleanups.push(() => s.shutdown('test over'));
    const fake = await FakeContainer.fromCredentials(s.dir.credentials('c1'));
    cleanups.push(() => fake.close());
    await fake.heartbeat({ state: 'running' });
    const token = (scope: ('view' | 'manage')[]) => signWebToken(webKey(s), { app: s.appId, user: 'alice@R', now: Date.now(), ttlMs: 60_000, scope });
    const restart = async (id: string, t: string) => {
      const res = await fetch(`${s.restUrl}/ws/v1/containers/${id}/restart`, { method: 'POST', headers: { authorization: `Bearer ${t}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const manage = await token(['view', 'manage']);

    expect(await restart('c1', await token(['view']))).toEqual({ status: 403, body: expect.objectContaining({ error: 'forbidden', reason: 'scope', permission: 'manage' }) });
    expect(launcher.launches('c1')).toBe(1);
    expect(await restart('c99', manage)).toEqual({ status: 404, body: { error: 'not-found', reason: 'no container c99 in this app' } });
    // c2 never heartbeated: still launching, so there is nothing running to restart.
    expect(await restart('c2', manage)).toEqual({ status: 409, body: { error: 'busy', reason: 'container c2 is launching, not running; ask again once it runs' } });

    expect(await restart('c1', manage)).toEqual({ status: 202, body: { container: 'c1', restart: 'requested' } });
    await vi.waitFor(() => expect(launcher.launches('c1')).toBe(2), { timeout: 10_000 });
    expect((await restart('c1', manage)).status).toBe(409);
    expect(s.appState).toBe('running');
    const c1 = (await get(s, '/ws/v1/containers', webToken(s))).body.containers.find((c: { id: string }) => c.id === 'c1');
    expect(c1).toMatchObject({ restarts: 1, requestedRestarts: 1, lastRestart: { cause: 'requested' }, failures: [] });
    const metrics = (await get(s, '/metrics', webToken(s))).text;
    expect(metrics).toContain('sluice_container_restarts_requested_total{container="c1"} 1');
    expect(metrics).toContain('sluice_container_restarts_total{container="c1"} 1');
  });
});
