import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SWARM_CREDENTIALS_MOUNT } from '@sluice/stram';
import { Demo, SOCKET, docker, engine } from './helpers/docker-env.js';
import { expectBuffersRefused, expectStramRefused } from './helpers/rogue-results.js';
import { WORDCOUNT, runCli, startCli, until } from './helpers/runtime-cli.js';
import { SwarmEnv, appObjects, swarm, taskContainers, type SwarmDemo } from './helpers/swarm-env.js';

/**
 * `sluice demo --launcher swarm` on a real single-node Docker swarm: each container a service of
 * one task on the app's own overlay network, its credentials a Docker secret. STRAM runs on the
 * host, as a user runs the demo on a manager node. Skipped, saying why, only when no Docker engine
 * answers.
 */
const available = await engine.ping();
const why = available ? '' : ` [SKIPPED: no Docker engine answers on ${SOCKET}; start one with scripts/docker-engine.sh start]`;
if (!available) process.stderr.write(`swarm tests${why}\n`);

const WORKERS = 4;
const IDS = ['c1', 'c2', 'c3', 'c4'];

/** Waits until every container of the app runs as a task and advertises its buffer server. */
async function allUp(demo: Demo): Promise<{ id: string; container: string }[]> {
  let ts: { id: string; container: string }[] = [];
  await until(async () => {
    ts = await taskContainers(demo.app);
    return ts.length === WORKERS && ts.every((t) => demo.bufferServerUrl(t.container) !== undefined);
  }, 250);
  return ts;
}

/** Nothing of the app is left in the swarm (removal is asynchronous there: waited for). */
async function nothingLeft(app: string): Promise<void> {
  await until(async () => {
    const o = await appObjects(app);
    return o.services.length + o.secrets.length + o.networks.length === 0;
  }, 250);
}

describe.skipIf(!available)(`Sluice on Docker Swarm${why}`, () => {
  const env = new SwarmEnv();
  beforeAll(() => env.setUp(), 180_000);
  afterAll(() => env.close(), 120_000);

  describe('the demo, each container a swarm service (secure, TLS off: the token layer alone)', () => {
    let demo: SwarmDemo;
    let objects: Awaited<ReturnType<typeof appObjects>>;
    let inspected: { what: string; text: string }[] = [];
    let containers: { Config: { Env: string[]; Labels: Record<string, string>; User: string }; Mounts: { Destination: string; Source: string; RW: boolean; Type: string }[] }[] = [];
    let secrets: string[] = [];
    let rogue: Record<string, unknown>[] = [];
    let status = '';
    /** Every secret name the app had while it ran, polled. */
    const seenSecrets = new Set<string>();
    let watching = true;

    beforeAll(async () => {
      // Lifetimes of seconds: renewals and a reissue (new tokens, rotated buffer-server secrets) happen
      // during the run, at 75% of the max lifetime. That is long enough for a task to start on a busy
      // machine: a secret's token past its max date before its task starts is refused, and replaced.
      // --tls off: the rogue below then reaches the token handshake, which must refuse it by itself.
      demo = await env.startDemo(['--tls', 'off', '--duration', '25s', '--renew-interval', '4s', '--max-lifetime', '24s']);
      const tasks = await allUp(demo);
      void (async () => {
        while (watching) {
          for (const n of (await appObjects(demo.app).catch(() => ({ secrets: [] as string[] }))).secrets) seenSecrets.add(n);
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      secrets = demo.secrets();
      objects = await appObjects(demo.app);
      for (const s of objects.services) inspected.push({ what: `service ${s.Spec.Name}`, text: await docker('service', 'inspect', s.ID) });
      for (const t of tasks) inspected.push({ what: `task container of ${t.container}`, text: await docker('inspect', t.id) });
      for (const s of objects.secrets) inspected.push({ what: `secret ${s}`, text: await docker('secret', 'inspect', s) });
      containers = inspected.filter((i) => i.what.startsWith('task')).map((i) => JSON.parse(i.text)[0]);
      status = (await runCli(['status', '--app-dir', demo.appDir], env.dir)).stdout;
      const byContainer = new Map(demo.credentials().map((c) => [c.bufferServer.id, c.container]));
      const { umbilical, rest } = demo.stramUrls();
      rogue = await env.rogue(demo.app, {
        buffers: [...demo.streams()].map(([bs, s]) => ({ bs, streams: s, url: demo.bufferServerUrl(byContainer.get(bs)!)! })),
        umbilical: { url: umbilical, app: demo.app, container: 'c1' },
        rest,
      });
    }, 150_000);

    it('counts exactly, one service per container on the app\'s overlay network, renewals in-band, and shutdown leaves no service, secret or network', async () => {
      const { code, summary } = await demo.done();
      watching = false;
      console.log(`swarm demo: ${String(summary['windows'])} windows, ${String(summary['tuples'])} words, exact=${String(summary['exact'])}`);
      expect(summary, demo.cli.stderr.slice(-3000)).toMatchObject({ secure: true, containers: WORKERS, exact: true });
      expect(summary['tuples']).toBe((summary['windows'] as number) * 1000);
      expect(code).toBe(0);
      expect(objects.services.map((s) => s.Spec.Name).sort()).toEqual(IDS.map((c) => `sluice-${demo.app}-${c}`));
      expect(objects.secrets.sort()).toEqual(IDS.map((c) => `sluice-${demo.app}-${c}-v1`));
      expect(objects.networks).toEqual([`sluice-${demo.app}-net`]);
      // New credentials travelled over the umbilical: no task was restarted for them, no secret replaced.
      expect(summary['tokens']).toMatchObject({ failures: 0 });
      expect((summary['tokens'] as { renewals: number }).renewals).toBeGreaterThan(0);
      expect((summary['tokens'] as { reissues: number }).reissues).toBeGreaterThan(0);
      expect([...seenSecrets].sort()).toEqual(IDS.map((c) => `sluice-${demo.app}-${c}-v1`));
      await nothingLeft(demo.app);
      for (const c of IDS) expect(existsSync(join(demo.appDir, 'containers', c, 'credentials'))).toBe(false);
    }, 120_000);

    it('services run one task each with restart policy none and dnsrr, reached by service name', () => {
      for (const s of objects.services) {
        expect(s.Spec.TaskTemplate.RestartPolicy.Condition).toBe('none');
        expect(s.Spec.EndpointSpec.Mode).toBe('dnsrr');
        expect(s.Spec.TaskTemplate.ContainerSpec.Hostname).toBe(s.Spec.Name);
        expect(demo.bufferServerUrl(s.Spec.Labels['sluice.container']!)).toMatch(new RegExp(`^ws://${s.Spec.Name}:\\d+$`));
      }
    });

    it('sluice status shows each container\'s service and task', () => {
      for (const c of IDS) expect(status).toMatch(new RegExp(`${c}\\s.*running.*sluice-${demo.app}-${c}\\s+│\\s+[a-z0-9]{12}\\s`));
    });

    it('docker service inspect and docker inspect of every task show no secret: Env, Args, Labels hold none; credentials are a secret file', () => {
      expect(secrets.length).toBeGreaterThanOrEqual(WORKERS * 3);
      expect(inspected.length).toBe(WORKERS * 3);
      for (const i of inspected) for (const s of secrets) expect(i.text, `${i.what} shows a secret`).not.toContain(s);
      for (const s of objects.services) {
        const cs = s.Spec.TaskTemplate.ContainerSpec;
        expect(cs.Env.sort()).toEqual([`SLUICE_CREDENTIALS=${SWARM_CREDENTIALS_MOUNT}`, 'SLUICE_LOG_LEVEL=info']);
        expect(cs.Args).toEqual(['container']);
        expect(Object.keys(cs.Labels).sort()).toEqual(['sluice.app', 'sluice.container', 'sluice.launcher']);
        expect(cs.ReadOnly).toBe(true);
        expect(cs.Secrets).toEqual([expect.objectContaining({ SecretName: `sluice-${demo.app}-${s.Spec.Labels['sluice.container']}-v1`, File: expect.objectContaining({ Name: 'sluice-credentials', Mode: 0o400 }) })]);
      }
      for (const c of containers) {
        expect(c.Config.Env.filter((e) => e.startsWith('SLUICE_')).sort()).toEqual([`SLUICE_CREDENTIALS=${SWARM_CREDENTIALS_MOUNT}`, 'SLUICE_LOG_LEVEL=info']);
        // Never the whole app directory, nor a credentials file from it: only the shared parts.
        const binds = c.Mounts.filter((m) => m.Type === 'bind').map((m) => m.Source).sort();
        expect(binds).toEqual(['checkpoints', 'output', 'spool'].map((d) => join(demo.appDir, d)));
      }
    });

    it('a credential-less service on the overlay cannot subscribe to any stream (4401)', () => {
      expectBuffersRefused(rogue);
    });

    it('nor reach the umbilical (4401) or the REST API (401)', () => {
      expectStramRefused(rogue);
    });
  });

  it('under TLS (the default with --launcher swarm), a task container killed with docker kill is replaced under a new secret version and the counts stay exact', async () => {
    const demo = await env.startDemo(['--duration', '20s']);
    const before = await allUp(demo);
    // Every buffer server on the overlay speaks TLS.
    for (const c of IDS) expect(demo.bufferServerUrl(c)).toMatch(/^wss:\/\//);
    const victim = before.find((t) => t.container === 'c2')!;
    await until(() => existsSync(join(demo.appDir, 'output', 'window-3.json')), 250);
    await docker('kill', victim.id);
    await until(async () => (await taskContainers(demo.app)).some((t) => t.container === 'c2' && t.id !== victim.id), 250);
    const secretsAfter = (await appObjects(demo.app)).secrets.filter((s) => s.includes('-c2-'));
    const { code, summary } = await demo.done();
    console.log(`docker kill c2: ${String(summary['windows'])} windows, ${String(summary['tuples'])} words, exact=${String(summary['exact'])}`);
    expect(summary, demo.cli.stderr.slice(-3000)).toMatchObject({ tls: true, secure: true, containers: WORKERS, exact: true });
    expect(summary['tuples']).toBe((summary['windows'] as number) * 1000);
    expect(code).toBe(0);
    // The replaced task's secret is gone; its successor has one of its own.
    expect(secretsAfter).toEqual([`sluice-${demo.app}-c2-v2`]);
    await nothingLeft(demo.app);
  }, 150_000);

  it('after STRAM is killed mid-run, sluice shutdown --app-dir removes every service, secret and network the app made', async () => {
    const demo = await env.startDemo(['--duration', '60s']);
    await allUp(demo);
    demo.cli.child.kill('SIGKILL');
    await demo.cli.exited;
    const left = await appObjects(demo.app);
    expect([left.services.length, left.secrets.length, left.networks.length]).toEqual([WORKERS, WORKERS, 1]);
    const r = await runCli(['shutdown', '--app-dir', demo.appDir], env.dir);
    expect(r.stdout, r.stderr).toContain(`removed what it left in the swarm: ${WORKERS} services, ${WORKERS} secrets, 1 networks`);
    expect(r.code).toBe(0);
    await nothingLeft(demo.app);
  }, 120_000);
  it('launch --recover adopts the services of a STRAM that was killed: the same tasks stream on, and its shutdown removes them', async () => {
    const appDir = join(env.dir, 'recover');
    const flags = ['--launcher', 'swarm', '--docker-image', env.tag];
    const first = startCli(['launch', WORDCOUNT, '--app-dir', appDir, ...flags], env.dir);
    const app = (await first.waitFor(/launched (\S+)/))[1]!;
    const demo = Object.assign(new Demo('', appDir), { app });
    const before = await allUp(demo);
    first.child.kill('SIGKILL');
    await first.exited;
    const recoveredAt = Date.now();
    const second = startCli(['launch', '--recover', appDir, ...flags], env.dir);
    try {
      await second.waitFor(/recovered /);
      // Adopted, not relaunched: the same task containers, and each heard from again by the new STRAM.
      await until(async () => {
        const s = JSON.parse((await runCli(['status', '--app-dir', appDir, '--json'], env.dir)).stdout || '{}') as { containers?: { state: string; lastHeartbeat: string | null; restarts: number }[] };
        return s.containers?.length === WORKERS && s.containers.every((c) => c.state === 'running' && c.restarts === 0 && Date.parse(c.lastHeartbeat ?? '') > recoveredAt);
      }, 250);
      expect((await taskContainers(app)).map((t) => t.id).sort()).toEqual(before.map((t) => t.id).sort());
      expect((await appObjects(app)).secrets.sort()).toEqual(IDS.map((c) => `sluice-${app}-${c}-v1`));
      const r = await runCli(['shutdown', '--app-dir', appDir], env.dir);
      expect(r.code, r.stderr).toBe(0);
      await second.exited;
      await nothingLeft(app);
    } finally {
      second.child.kill('SIGKILL');
    }
  }, 120_000);
  it('STRAM itself as a swarm service, its state on a volume: its task killed, the swarm restarts it and it recovers the app, adopting the same tasks', async () => {
    const stram = await env.stramService();
    await until(() => stram.info() !== undefined, 250);
    const first = stram.info()!;
    const demo = Object.assign(new Demo('', stram.appDir), { app: first.appId });
    const before = await allUp(demo);
    await docker('kill', (await stram.container())!);
    // The swarm restarts STRAM's task (restart policy on-failure); `launch --resume` finds the app on the volume and recovers it.
    await until(() => (stram.info()?.startedAt ?? first.startedAt) !== first.startedAt, 250);
    const recoveredAt = Date.parse(stram.info()!.startedAt);
    await until(async () => {
      const s = JSON.parse(await stram.cli('status', '--app-dir', stram.appDir, '--json').catch(() => '{}')) as { containers?: { state: string; lastHeartbeat: string | null; restarts: number }[] };
      return s.containers?.length === WORKERS && s.containers.every((c) => c.state === 'running' && c.restarts === 0 && Date.parse(c.lastHeartbeat ?? '') > recoveredAt);
    }, 500);
    expect((await taskContainers(first.appId)).map((t) => t.id).sort()).toEqual(before.map((t) => t.id).sort());
    // On the network STRAM runs on: the app made none of its own.
    expect((await appObjects(first.appId)).networks).toEqual([]);
    // Shutdown from inside STRAM's task (the exec ends with the task): STRAM exits 0, so the swarm leaves it stopped.
    await stram.cli('shutdown', '--app-dir', stram.appDir).catch(() => '');
    await until(async () => (await swarm.tasks(stram.id)).some((t) => t.Status.State === 'complete'), 250);
    expect((await swarm.tasks(stram.id)).filter((t) => t.Status.State === 'running')).toEqual([]);
    await nothingLeft(first.appId);
  }, 150_000);
});
