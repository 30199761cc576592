import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SWARM_LABEL, SwarmApi } from '@sluice/stram';
import { BASE_IMAGE, Demo, docker, engine } from './docker-env.js';
import { ROOT, startCli, type CliProcess } from './runtime-cli.js';

/**
 * The Swarm side of the swarm tests: a single-node swarm (initialised here when the engine is not
 * in swarm mode, and left again at the end, so the engine ends as it was found), the Sluice image
 * built once from the local base, and `sluice demo --launcher swarm` run by this machine's CLI as
 * a user would run it on a manager node.
 */

export const swarm = new SwarmApi(engine);

export interface SwarmService {
  ID: string;
  Spec: {
    Name: string;
    Labels: Record<string, string>;
    TaskTemplate: {
      ContainerSpec: { Image: string; Args: string[]; Env: string[]; User: string; Hostname: string; ReadOnly: boolean; Labels: Record<string, string>; Secrets: { SecretName: string; File: { Name: string; Mode: number } }[] };
      RestartPolicy: { Condition: string };
      Networks: { Target: string }[];
    };
    EndpointSpec: { Mode: string };
  };
}

/** The app's services, secrets and network, by label. */
export async function appObjects(app: string): Promise<{ services: SwarmService[]; secrets: string[]; networks: string[] }> {
  const all = await swarm.find(`${SWARM_LABEL.app}=${app}`);
  return { services: all.services as unknown as SwarmService[], secrets: all.secrets.map((s) => s.Spec.Name), networks: all.networks.map((n) => n.Name) };
}

/** The running task container of each of the app's containers (this node's engine holds them all). */
export async function taskContainers(app: string): Promise<{ id: string; container: string }[]> {
  const list = (await engine.call('GET', `/containers/json?filters=${SwarmApi.labels(`${SWARM_LABEL.app}=${app}`, `${SWARM_LABEL.launcher}=swarm`)}`)) as { Id: string; Labels: Record<string, string> }[];
  return list.map((c) => ({ id: c.Id, container: c.Labels[SWARM_LABEL.container]! }));
}

export class SwarmEnv {
  readonly tag = `sluice-test:${randomBytes(4).toString('hex')}`;
  dir = '';
  /** Whether this run put the engine in swarm mode (and leaves it again). */
  private initialised = false;
  private readonly demos: SwarmDemo[] = [];

  async setUp(): Promise<void> {
    this.dir = mkdtempSync('/tmp/sluice-swarm-');
    const info = (await engine.call('GET', '/info')) as { Swarm: { LocalNodeState: string } };
    if (info.Swarm.LocalNodeState !== 'active') {
      await docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
      this.initialised = true;
    }
    await docker('build', '-q', '-f', join(ROOT, 'docker', 'Dockerfile'), '--build-arg', `BASE=${BASE_IMAGE}`, '-t', this.tag, ROOT);
  }

  /** `sluice demo --launcher swarm` on this node; resolves once it has planned the app. */
  async startDemo(args: string[]): Promise<SwarmDemo> {
    const appDir = join(this.dir, `app-${randomBytes(3).toString('hex')}`);
    const cli = startCli(['demo', '--launcher', 'swarm', '--docker-image', this.tag, '--app-dir', appDir, '--json', '--log-level', 'info', '--log-format', 'json', ...args], this.dir);
    const m = await cli.waitFor(/word count (\S+): \d+ containers/, 'stderr');
    const demo = new SwarmDemo(cli, m[1]!, appDir);
    this.demos.push(demo);
    return demo;
  }

  /**
   * A service on the app's overlay network with no credentials: runs the rogue script
   * (docker-rogue.ts) to its end, returns its JSON lines.
   */
  async rogue(app: string, plan: unknown): Promise<Record<string, unknown>[]> {
    const [net] = (await appObjects(app)).networks;
    const name = `sluice-rogue-${randomBytes(3).toString('hex')}`;
    const id = await swarm.createService({
      Name: name,
      Labels: { 'sluice.test': '1' },
      TaskTemplate: {
        ContainerSpec: { Image: this.tag, Command: ['node'], Args: [join('/sluice', 'test', 'dist', 'helpers', 'docker-rogue.js'), JSON.stringify(plan)] },
        RestartPolicy: { Condition: 'none' },
        Networks: [{ Target: net }],
      },
      Mode: { Replicated: { Replicas: 1 } },
      EndpointSpec: { Mode: 'dnsrr' },
    });
    try {
      let cid: string | undefined;
      for (let i = 0; i < 240; i++) {
        const [t] = await swarm.tasks(id);
        cid = t?.Status.ContainerStatus?.ContainerID;
        if (t && ['complete', 'failed', 'rejected'].includes(t.Status.State)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      const out = cid ? await docker('logs', cid) : '';
      if (!out.includes('ROGUE-DONE')) throw new Error(`the rogue service did not finish:\n${out}`);
      return out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    } finally {
      await swarm.remove('services', id);
    }
  }

  async close(): Promise<void> {
    for (const d of this.demos) {
      d.cli.child.kill('SIGKILL');
      await swarm.removeApp(d.app).catch(() => undefined);
    }
    for (const s of (await swarm.find('sluice.test=1').catch(() => undefined))?.services ?? []) await swarm.remove('services', s.ID).catch(() => undefined);
    await docker('rmi', '-f', this.tag).catch(() => undefined);
    if (this.initialised) await docker('swarm', 'leave', '--force').catch(() => undefined);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One `sluice demo --launcher swarm`: its CLI process, app and directory (Demo reads the credentials and logs there). */
export class SwarmDemo extends Demo {
  constructor(
    readonly cli: CliProcess,
    app: string,
    appDir: string,
  ) {
    super('', appDir);
    this.app = app;
  }

  /** The demo's exit code and its JSON summary. */
  async done(): Promise<{ code: number | null; summary: Record<string, unknown> }> {
    const r = await this.cli.exited;
    const last = r.stdout.split('\n').filter((l) => l.startsWith('{"secure"')).at(-1);
    if (!last) throw new Error(`no demo summary (exit ${String(r.code)}); output:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
    return { code: r.code, summary: JSON.parse(last) as Record<string, unknown> };
  }

  /** The umbilical as containers were given it, and REST on the same host (STRAM's port from stram.json). */
  override stramUrls(): { umbilical: string; rest: string } {
    const umbilical = this.credentials()[0]!.stram;
    const rest = new URL((JSON.parse(readFileSync(join(this.appDir, 'stram.json'), 'utf8')) as { rest: string }).rest);
    rest.hostname = new URL(umbilical).hostname;
    return { umbilical, rest: rest.toString().replace(/\/$/, '') };
  }
}
