import { mkdtempSync, rmSync, statSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CloseCode,
  createLogger,
  decodeIdentifier,
  encodeIdentifier,
  parseFrame,
  readCredentials,
  tokenFromText,
  type Command,
  type Token,
} from '@sluice/common';
import { Stram, planModule, type StramOptions } from './stram.js';
import { FakeContainer, NoopLauncher, writeTestApp } from './testing/index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-stram-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function launch(extra: Partial<StramOptions> = {}): Promise<{ stram: Stram; launcher: NoopLauncher; cred(id: string): string }> {
  const dir = tempDir();
  const launcher = new NoopLauncher();
  const stram = await Stram.launch({
    appModule: writeTestApp(dir, 'pipeline'),
    appDir: join(dir, 'app'),
    launcher,
    logger: createLogger({ name: 'stram-test', level: 'silent' }),
    shutdownGraceMs: 100,
    ...extra,
  });
  cleanups.push(() => stram.shutdown('test over'));
  return { stram, launcher, cred: (id) => stram.dir.credentials(id) };
}

async function connect(path: string): Promise<FakeContainer> {
  const fake = await FakeContainer.fromCredentials(path);
  cleanups.push(() => fake.close());
  return fake;
}

function stramToken(path: string): Token {
  return tokenFromText(readCredentials(path).stramToken);
}

async function metric(stram: Stram, line: string): Promise<number> {
  const text = await stram.metrics.text();
  const found = text.split('\n').find((l) => l.startsWith(line));
  return found ? Number(found.slice(line.length).trim()) : 0;
}

const commandsOf = (acks: { commands: Command[] }[], c: Command['c']) => acks.flatMap((a) => a.commands).filter((x) => x.c === c);

describe('STRAM umbilical', () => {
  it('deploys a container once every upstream container has reported its buffer server', async () => {
    const { stram, cred } = await launch();
    expect(stram.plan.containers.map((c) => c.id)).toEqual(['c1', 'c2', 'c3', 'c4']);
    const c1 = await connect(cred('c1'));
    const c2 = await connect(cred('c2'));
    const early = await c2.heartbeat({ bufferServer: 'ws://127.0.0.1:1/c2' });
    expect(commandsOf([early], 'deploy')).toEqual([]);
    const first = await c1.heartbeat({ bufferServer: 'ws://127.0.0.1:1/c1' });
    const deploy1 = commandsOf([first], 'deploy');
    expect(deploy1).toHaveLength(1);
    // With the names its downstream containers subscribe under at its buffer server (docs/protocol.md "Subscriber names").
    expect(deploy1[0]).toMatchObject({ boundNames: { words: { 'count#0.in': 'c2', 'count#1.in': 'c3' } } });
    const later = await c2.heartbeat({ bufferServer: 'ws://127.0.0.1:1/c2' });
    const [deploy2] = commandsOf([later], 'deploy') as Extract<Command, { c: 'deploy' }>[];
    expect(deploy2!.operators.map((o) => o.id)).toEqual(['count#0']);
    expect(deploy2!.boundNames).toEqual({ counts: { 'sink#0.in': 'c4' } });
    expect(deploy2!.operators[0]!.inputs[0]!.upstreams[0]).toMatchObject({ operator: 'gen#0', bufferServer: 'bs-c1', url: 'ws://127.0.0.1:1/c1' });
    // Sent once only.
    expect(commandsOf([await c2.heartbeat()], 'deploy')).toEqual([]);
    expect(stram.containers().find((c) => c.id === 'c2')).toMatchObject({ state: 'running', deployed: true, heartbeats: 3 });
  });

  it('writes 0600 credentials whose subscribe tokens name exactly the streams the container reads', async () => {
    const { cred } = await launch();
    for (const id of ['c1', 'c2', 'c3', 'c4']) expect(statSync(cred(id)).mode & 0o777).toBe(0o600);
    const c4 = readCredentials(cred('c4'));
    expect(Object.keys(c4.subscribe).sort()).toEqual(['bs-c2', 'bs-c3']);
    const scope = decodeIdentifier(tokenFromText(c4.subscribe['bs-c2']!).identifier).scope;
    expect(scope).toEqual({ bs: 'bs-c2', streams: ['counts'], access: 'subscribe', container: 'c4' });
    expect(readCredentials(cred('c1')).subscribe).toEqual({});
    // A distinct secret per buffer server.
    const secrets = new Set(['c1', 'c2', 'c3', 'c4'].map((id) => readCredentials(cred(id)).bufferServer.secret));
    expect(secrets.size).toBe(4);
    expect(decodeIdentifier(stramToken(cred('c2')).identifier).scope).toEqual({ app: readCredentials(cred('c2')).app, container: 'c2' });
  });

  it('refuses a forged token (random password) with 4401 and counts it', async () => {
    const { stram, cred } = await launch();
    const real = stramToken(cred('c1'));
    const forged = { ...real, password: Buffer.alloc(32, 7) };
    const r = await FakeContainer.refusal({ url: stram.umbilicalUrl, token: forged, container: 'c1' });
    expect(r.code).toBe(CloseCode.unauthenticated);
    expect(r.reason).toMatch(/^BAD_PROOF/);
    expect(await metric(stram, 'sluice_auth_failures_total{endpoint="umbilical",reason="BAD_PROOF"}')).toBe(1);
  });

  it('refuses a tampered token (scope rewritten to another container) with 4401', async () => {
    const { stram, cred } = await launch();
    const real = stramToken(cred('c1'));
    const id = decodeIdentifier(real.identifier);
    const tampered = { ...real, identifier: encodeIdentifier({ ...id, scope: { ...id.scope, container: 'c2' } }) };
    const r = await FakeContainer.refusal({ url: stram.umbilicalUrl, token: tampered, container: 'c2' });
    expect(r.code).toBe(CloseCode.unauthenticated);
    expect(r.reason).toMatch(/^BAD_PROOF/);
  });

  it("refuses another app's token with 4401", async () => {
    const a = await launch();
    const b = await launch();
    const r = await FakeContainer.refusal({ url: a.stram.umbilicalUrl, token: { ...stramToken(b.cred('c1')), service: `stram:${a.stram.appId}` }, container: 'c1' });
    expect(r.code).toBe(CloseCode.unauthenticated);
    expect(r.reason).toMatch(/^(BAD_PROOF|TOKEN_UNKNOWN)/);
    expect(await metric(a.stram, 'sluice_auth_failures_total{endpoint="umbilical",reason="BAD_PROOF"}')).toBe(1);
  });

  it("in insecure mode still refuses another app's token, by scope (4403)", async () => {
    const a = await launch({ insecure: true });
    const b = await launch({ insecure: true });
    const r = await FakeContainer.refusal({ url: a.stram.umbilicalUrl, token: { ...stramToken(b.cred('c1')), service: `stram:${a.stram.appId}` }, container: 'c1' });
    // Both apps use the well-known zero key: the proof checks out, the token is simply not on record here.
    expect([CloseCode.unauthenticated, CloseCode.forbidden]).toContain(r.code);
    expect(r.reason).toMatch(/^(TOKEN_UNKNOWN|OUT_OF_SCOPE)/);
  });

  it("refuses a container's token used to speak for another container (4403)", async () => {
    const { stram, cred } = await launch();
    const r = await FakeContainer.refusal({ url: stram.umbilicalUrl, token: stramToken(cred('c1')), container: 'c2' });
    expect(r.code).toBe(CloseCode.forbidden);
    expect(r.reason).toMatch(/^OUT_OF_SCOPE: token is for container c1/);
    expect(await metric(stram, 'sluice_auth_failures_total{endpoint="umbilical",reason="OUT_OF_SCOPE"}')).toBe(1);
  });

  it('closes with 4403 a heartbeat that names another container, so it never sees that container\'s deploy', async () => {
    const { stram, cred } = await launch();
    const c1 = await connect(cred('c1'));
    await c1.heartbeat({ bufferServer: 'ws://127.0.0.1:1/c1' });
    await expect(c1.heartbeat({ container: 'c2', bufferServer: 'ws://127.0.0.1:1/x' })).rejects.toMatchObject({ remoteCode: CloseCode.forbidden });
    const closed = await c1.closed;
    expect(closed.reason).toMatch(/^OUT_OF_SCOPE: heartbeat names container c2/);
    expect(stram.containers().find((c) => c.id === 'c2')!.bufferServerUrl).toBeNull();
    expect(c1.acks.flatMap((a) => a.commands).filter((c) => c.c === 'deploy').flatMap((c) => (c as Extract<Command, { c: 'deploy' }>).operators.map((o) => o.id))).toEqual(['gen#0']);
  });

  it("closes with 4403 a heartbeat that reports another container's operators", async () => {
    const { stram, cred } = await launch();
    const c1 = await connect(cred('c1'));
    const stats = { id: 'count#0', window: 5, tuplesIn: 1, tuplesOut: 1, latencyMs: 1, checkpoint: 1_000 };
    await expect(c1.heartbeat({ operators: [stats] })).rejects.toMatchObject({ remoteCode: CloseCode.forbidden, remoteReason: expect.stringMatching(/^OUT_OF_SCOPE/) });
    expect(stram.operators().find((o) => o.id === 'count#0')!.checkpoint).toBe(0);
  });

  it('closes with 4401 a sealed message with a bad MAC, and one replayed', async () => {
    const { stram, cred } = await launch();
    const c1 = await connect(cred('c1'));
    const frame = c1.session.seal({ t: 'heartbeat', container: 'c1', bufferServer: null, state: 'running', operators: [] });
    const bad = Buffer.from(frame);
    bad[bad.length - 1]! ^= 1;
    await expect(c1.request(bad)).rejects.toMatchObject({ remoteCode: CloseCode.unauthenticated, remoteReason: expect.stringMatching(/^BAD_MAC/) });

    const c2 = await connect(cred('c2'));
    const once = c2.session.seal({ t: 'heartbeat', container: 'c2', bufferServer: null, state: 'running', operators: [] });
    await c2.request(once);
    await expect(c2.request(once)).rejects.toMatchObject({ remoteCode: CloseCode.unauthenticated, remoteReason: expect.stringMatching(/^BAD_SEQUENCE/) });
    expect(await metric(stram, 'sluice_auth_failures_total{endpoint="umbilical",reason="BAD_MAC"}')).toBe(1);
    expect(await metric(stram, 'sluice_auth_failures_total{endpoint="umbilical",reason="BAD_SEQUENCE"}')).toBe(1);
  });

  it("closes with 4401 BAD_MAC a reflected message: STRAM's own sealed ack sent back to it", async () => {
    const { stram, cred } = await launch();
    const c1 = await connect(cred('c1'));
    const frames: Buffer[] = [];
    c1.socket.on('message', (data: Buffer) => frames.push(Buffer.from(data)));
    await c1.heartbeat();
    const ack = frames[0]!;
    // A genuine frame: MAC'd by STRAM (with the server→client key), and it opens at the container.
    expect(parseFrame(ack, true, ['msg']).seq).toBe(1);
    await expect(c1.request(ack)).rejects.toMatchObject({ remoteCode: CloseCode.unauthenticated, remoteReason: expect.stringMatching(/^BAD_MAC/) });
    expect(await metric(stram, 'sluice_auth_failures_total{endpoint="umbilical",reason="BAD_MAC"}')).toBe(1);
    // The container reconnects and is served as before.
    const again = await connect(cred('c1'));
    expect((await again.heartbeat()).t).toBe('heartbeat-ack');
  });

  it('sends the committed window (minimum checkpoint over every operator) to every container', async () => {
    const { stram, cred } = await launch({ heartbeatIntervalMs: 50 });
    const fakes = await Promise.all(['c1', 'c2', 'c3', 'c4'].map((id) => connect(cred(id))));
    const ops = [['gen#0'], ['count#0'], ['count#1'], ['sink#0']];
    const beat = (i: number, checkpoint: number) =>
      fakes[i]!.heartbeat({ bufferServer: `ws://127.0.0.1:1/c${i + 1}`, operators: ops[i]!.map((id) => ({ id, window: checkpoint + 3, tuplesIn: 10, tuplesOut: 10, latencyMs: 2, checkpoint })) });
    // STRAM recomputes the committed window once per heartbeat interval; beat until every container has it.
    while (fakes.some((f) => commandsOf(f.acks, 'committed').length === 0)) {
      for (let i = 0; i < 4; i++) await beat(i, 60 + i * 60);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(stram.committedWindow).toBe(60);
    for (const f of fakes) expect(commandsOf(f.acks, 'committed')).toEqual([{ c: 'committed', w: 60 }]);
  });

  it('tells every container to shut down, then removes credentials and the token files', async () => {
    const { stram, launcher, cred } = await launch();
    const c1 = await connect(cred('c1'));
    const done = stram.shutdown('test');
    const ack = await c1.heartbeat();
    expect(ack.commands).toEqual([{ c: 'shutdown', reason: 'test' }]);
    for (const id of ['c1', 'c2', 'c3', 'c4']) launcher.exit(id);
    await done;
    expect(stram.appState).toBe('stopped');
    for (const id of ['c1', 'c2', 'c3', 'c4']) expect(existsSync(cred(id))).toBe(false);
    expect(existsSync(stram.dir.webToken)).toBe(false);
    expect(existsSync(stram.dir.info)).toBe(false);
    // Tokens were cancelled: the old credentials no longer open the umbilical (the server is gone too).
  });

  it('reissues a token before its max date and pushes it sealed; the old token is then cancelled', async () => {
    const { stram, cred } = await launch({ renewIntervalMs: 1_000, maxLifetimeMs: 1_500, keyUpdateIntervalMs: 60_000 });
    const before = readCredentials(cred('c1'));
    const c1 = await connect(cred('c1'));
    let pushed: Extract<Command, { c: 'credentials' }> | undefined;
    while (!pushed) {
      const ack = await c1.heartbeat();
      pushed = ack.commands.find((c) => c.c === 'credentials') as typeof pushed;
      if (!pushed) await new Promise((r) => setTimeout(r, 100));
    }
    const opened = c1.openCredentials(pushed);
    expect(opened.container).toBe('c1');
    expect(opened.stramToken).not.toBe(before.stramToken);
    // The file was rewritten too (0600), and the new token opens the umbilical.
    expect(readCredentials(cred('c1')).stramToken).toBe(opened.stramToken);
    expect(statSync(cred('c1')).mode & 0o777).toBe(0o600);
    // The next heartbeat shows the container got the push; the old token is cancelled then.
    await c1.heartbeat();
    const again = await connect(cred('c1'));
    expect((await again.heartbeat()).t).toBe('heartbeat-ack');
    const old = await FakeContainer.refusal({ url: stram.umbilicalUrl, token: tokenFromText(before.stramToken), container: 'c1' });
    expect(old).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^TOKEN_(CANCELLED|EXPIRED)/) });
  });

  it('refuses a DAG with a cycle, naming it', async () => {
    const dir = tempDir();
    await expect(planModule(writeTestApp(dir, 'cycle'))).rejects.toMatchObject({ code: 'INVALID_DAG', message: expect.stringMatching(/cycle/i) });
  });

  it('keeps secrets out of the REST views and stram.json', async () => {
    const { stram, cred } = await launch();
    const text = JSON.stringify([stram.appView(), stram.containers(), stram.operators()]) + readFileSync(stram.dir.info, 'utf8');
    const c = readCredentials(cred('c2'));
    for (const secret of [c.stramToken, c.bufferServer.secret, ...Object.values(c.subscribe)]) expect(text).not.toContain(secret);
  });
});
