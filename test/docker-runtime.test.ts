import { chownSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSecret, mintBufferToken, writeSecretFile } from '@sluice/common';
import { CREDENTIALS_MOUNT } from '@sluice/stram';
import { rawAuth } from './helpers/bs-clients.js';
import { until } from './helpers/runtime-cli.js';
import { expectBuffersRefused, expectStramRefused } from './helpers/rogue-results.js';
import { DockerEnv, SOCKET, docker, engine, inspect, workers, type Demo } from './helpers/docker-env.js';

/**
 * STRAM and every container in its own Docker container, sharing nothing but a
 * user-defined network (and the host paths STRAM mounts). Built from the registry-free local base
 * (scripts/docker-engine.sh). Skipped, saying why, only when no Docker engine answers.
 */
const available = await engine.ping();
const why = available ? '' : ` [SKIPPED: no Docker engine answers on ${SOCKET}; start one with scripts/docker-engine.sh start]`;
if (!available) process.stderr.write(`docker tests${why}\n`);

const WORKERS = 4; // generator, two counter partitions, output

/** Waits until the app has WORKERS running worker containers, each advertising its buffer server. */
async function allUp(demo: Demo): Promise<Awaited<ReturnType<typeof workers>>> {
  let ws: Awaited<ReturnType<typeof workers>> = [];
  await until(async () => {
    ws = (await workers(demo.app)).filter((w) => w.state === 'running');
    return ws.length === WORKERS && ws.every((w) => demo.bufferServerUrl(w.container) !== undefined);
  }, 250);
  return ws;
}

describe.skipIf(!available)(`Sluice in Docker${why}`, () => {
  const env = new DockerEnv();
  beforeAll(() => env.setUp(), 180_000);
  afterAll(() => env.close(), 120_000);

  describe('the demo with STRAM and each container in its own Docker container (secure, TLS off: the token layer alone)', () => {
    let demo: Demo;
    let rogue: Record<string, unknown>[] = [];
    let inspected: { name: string; json: Awaited<ReturnType<typeof inspect>>['json']; text: string }[] = [];
    let secrets: string[] = [];

    beforeAll(async () => {
      // --tls off: a rogue on the network then reaches the token handshake, which must refuse it by itself.
      demo = await env.startDemo(['--tls', 'off', '--duration', '15s']);
      const ws = await allUp(demo);
      secrets = demo.secrets();
      inspected = await Promise.all(ws.map(async (w) => ({ name: w.name, ...(await inspect(w.id)) })));
      inspected.push({ name: demo.stramName, ...(await inspect(demo.stramName)) });
      // While the app runs: a credential-less container on the same network tries everything.
      const byContainer = new Map(demo.credentials().map((c) => [c.bufferServer.id, c.container]));
      const streams = demo.streams();
      const { umbilical, rest } = demo.stramUrls();
      rogue = await env.rogue({
        buffers: [...streams].map(([bs, s]) => ({ bs, streams: s, url: demo.bufferServerUrl(byContainer.get(bs)!)! })),
        umbilical: { url: umbilical, app: demo.app, container: ws[0]!.container },
        rest,
      });
    }, 120_000);

    it("counts exactly the generator's words, in four worker containers named sluice-<app>-<container>", async () => {
      const { code, summary } = await demo.finished();
      console.log(`docker demo: ${String(summary['windows'])} windows, ${String(summary['tuples'])} words, exact=${String(summary['exact'])}`);
      expect(summary, demo.output.slice(-3000)).toMatchObject({ secure: true, containers: WORKERS, exact: true });
      expect(summary['windows']).toBeGreaterThan(0);
      expect(summary['tuples']).toBe((summary['windows'] as number) * 1000);
      expect(summary['actual']).toEqual(summary['expected']);
      expect(code).toBe(0);
      expect(inspected.filter((i) => i.name !== demo.stramName).map((i) => i.name).sort()).toEqual(['c1', 'c2', 'c3', 'c4'].map((c) => `sluice-${demo.app}-${c}`));
      // Clean shutdown: the workers are gone, their credentials removed; the output stays.
      await until(async () => (await workers(demo.app)).length === 0, 250);
      for (const c of ['c1', 'c2', 'c3', 'c4']) expect(existsSync(join(demo.appDir, 'containers', c, 'credentials'))).toBe(false);
    }, 120_000);

    it('buffer servers are reached by container name on the network', () => {
      for (const i of inspected.filter((x) => x.name !== demo.stramName)) {
        expect(i.json.Config.Hostname).toBe(i.name);
        expect(i.json.HostConfig.NetworkMode).toBe(env.network.getName());
        expect(demo.bufferServerUrl(i.json.Config.Labels['sluice.container']!)).toMatch(new RegExp(`^ws://${i.name}:\\d+$`));
      }
    });

    it('docker inspect of every worker (and of STRAM) shows no secret: Env, Cmd, Labels hold none; credentials are a read-only mount', () => {
      expect(secrets.length).toBeGreaterThanOrEqual(WORKERS * 3);
      for (const i of inspected) {
        for (const s of secrets) expect(i.text, `${i.name} inspect shows a secret`).not.toContain(s);
      }
      for (const i of inspected.filter((x) => x.name !== demo.stramName)) {
        const { Env, Cmd, Entrypoint, Labels, User } = i.json.Config;
        expect(Env.filter((e) => !e.startsWith('PATH=')).sort()).toEqual([`SLUICE_CREDENTIALS=${CREDENTIALS_MOUNT}`, 'SLUICE_LOG_LEVEL=info']);
        expect(Cmd).toEqual(['container']);
        expect(Entrypoint).toEqual(['node', '/sluice/packages/cli/bin/sluice.js']);
        expect(Object.keys(Labels).sort()).toEqual(['sluice.app', 'sluice.container', 'sluice.launcher']);
        expect(User).toBe(env.user);
        const creds = i.json.Mounts.find((m) => m.Destination === CREDENTIALS_MOUNT)!;
        expect(creds).toMatchObject({ RW: false, Source: join(demo.appDir, 'containers', Labels['sluice.container']!, 'credentials') });
        // Never the whole app directory: it holds STRAM's keys and the other containers' credentials.
        expect(i.json.Mounts.map((m) => m.Source).filter((s) => s !== creds.Source).sort()).toEqual(['checkpoints', 'output', 'spool'].map((d) => join(demo.appDir, d)));
        expect(i.json.HostConfig.ReadonlyRootfs).toBe(true);
      }
    });

    it('a container on the same network without credentials cannot subscribe to any stream (4401)', () => {
      expectBuffersRefused(rogue);
    });

    it('nor reach the umbilical (4401) or the REST API (401): only tokens grant access, not network position', () => {
      expectStramRefused(rogue);
    });
  });

  it('the same image runs a standalone buffer server: its own tokens are welcome, forged ones refused 4401', async () => {
    const secretFile = join(env.dir, 'bs-secret');
    const secret = generateSecret();
    writeSecretFile(secretFile, secret);
    if (process.getuid?.() === 0) chownSync(secretFile, 1000, 1000);
    const url = await env.bufferServer('bs-standalone', secretFile);
    const mint = (key: Buffer) => mintBufferToken({ secret: key, bs: 'bs-standalone', streams: ['s'], access: 'subscribe', owner: 'test', now: Date.now(), ttlMs: 60_000 });
    const good = await rawAuth(url, mint(secret), { role: 'subscribe', stream: 's', subscriber: 'a', window: 0 });
    expect((await good.next())['t']).toBe('welcome');
    good.ws.close();
    const forged = await rawAuth(url, mint(generateSecret()), { role: 'subscribe', stream: 's', subscriber: 'b', window: 0 });
    expect((await forged.closed).code).toBe(4401);
  }, 60_000);

  it('the demo under TLS, the default with --launcher docker: the umbilical and every buffer server on TLS 1.3 between Docker containers, counts exact', async () => {
    // No --tls: on by default under the docker launcher.
    const demo = await env.startDemo(['--cert-lifetime', '6s', '--duration', '12s']);
    const { code, summary } = await demo.finished();
    console.log(`docker demo (tls): ${String(summary['windows'])} windows, ${String(summary['tuples'])} words, exact=${String(summary['exact'])}`);
    expect(summary, demo.output.slice(-3000)).toMatchObject({ tls: true, secure: true, containers: WORKERS, exact: true });
    expect(summary['tuples']).toBe((summary['windows'] as number) * 1000);
    expect(code).toBe(0);
    expect(demo.output).toContain('TLS on');
    // Every worker reached STRAM by its container name at wss:// and served its buffer server at wss://,
    // renewing its 6 s certificate at least once on the way.
    for (const c of ['c1', 'c2', 'c3', 'c4']) {
      const log = readFileSync(join(demo.appDir, 'containers', c, 'container.log'), 'utf8');
      expect(log).toMatch(new RegExp(`"url":"wss://${demo.stramName}:\\d+","msg":"connected to STRAM"`));
      expect(log).toMatch(/"bufferServer":"wss:\/\//);
      expect(log).toContain('"certificate renewed"');
    }
  }, 150_000);

  describe('recovery', () => {
    it('a worker container killed with docker kill is replaced and the counts stay exact', async () => {
      const demo = await env.startDemo(['--duration', '20s']);
      const before = await allUp(demo);
      const victim = before.find((w) => w.container === 'c2')!;
      // Let it checkpoint and publish a few windows first.
      await until(() => existsSync(join(demo.appDir, 'output', 'window-3.json')), 250);
      await docker('kill', victim.id);
      await until(async () => (await workers(demo.app)).some((w) => w.container === 'c2' && w.id !== victim.id && w.state === 'running'), 250);
      const { code, summary } = await demo.finished();
      console.log(`docker kill c2: ${String(summary['windows'])} windows, ${String(summary['tuples'])} words, exact=${String(summary['exact'])}`);
      // Under TLS (the default here): the replacement enrolled and its peers reconnected to it over TLS.
      expect(summary, demo.output.slice(-3000)).toMatchObject({ tls: true, secure: true, containers: WORKERS, exact: true });
      expect(summary['tuples']).toBe((summary['windows'] as number) * 1000);
      expect(code).toBe(0);
    }, 150_000);
  });
});
