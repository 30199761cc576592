import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SWARM_LABEL, SwarmApi } from '@sluice/stram';
import { BASE_IMAGE, Demo, SOCKET, docker, engine } from './docker-env.js';
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
  private readonly stramServices: StramService[] = [];

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

  /**
   * STRAM itself as a swarm service (restart policy on-failure) running `sluice launch --resume`,
   * its app directory on a Docker volume mounted at the volume's own host path (the workers'
   * bind mounts of checkpoints and output name host paths), on an attachable overlay network
   * made here that the app's services join too.
   */
  async stramService(): Promise<StramService> {
    const hex = randomBytes(3).toString('hex');
    const s = new StramService(`sluice-stram-${hex}`, `sluice-test-net-${hex}`, `sluice-test-state-${hex}`);
    this.stramServices.push(s);
    await docker('network', 'create', '-d', 'overlay', '--attachable', '--label', 'sluice.test=1', s.network);
    await docker('volume', 'create', '--label', 'sluice.test=1', s.volume);
    s.mountpoint = (await docker('volume', 'inspect', '-f', '{{.Mountpoint}}', s.volume)).trim();
    const uid = process.getuid?.() ?? 1000;
    const gid = statSync(SOCKET).gid;
    if (uid === 0) chownSync(s.mountpoint, 1000, gid);
    s.id = await swarm.createService({
      Name: s.name,
      Labels: { 'sluice.test': '1' },
      TaskTemplate: {
        ContainerSpec: {
          Image: this.tag,
          Args: ['launch', '/sluice/packages/cli/dist/demo/wordcount.js', '--resume', '--app-dir', s.appDir, '--launcher', 'swarm', '--swarm-network', s.network, '--docker-image', this.tag, '--advertise-host', s.name, '--log-format', 'json'],
          Hostname: s.name,
          User: `${uid === 0 ? 1000 : uid}:${gid}`,
          Mounts: [
            { Type: 'bind', Source: SOCKET, Target: SOCKET },
            { Type: 'volume', Source: s.volume, Target: s.mountpoint },
          ],
        },
        RestartPolicy: { Condition: 'on-failure', Delay: 1_000_000_000 },
        Networks: [{ Target: s.network }],
      },
      Mode: { Replicated: { Replicas: 1 } },
      EndpointSpec: { Mode: 'dnsrr' },
    });
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.stramServices) {
      const app = s.appId();
      await swarm.remove('services', s.id || s.name).catch(() => undefined);
      if (app) await swarm.removeApp(app).catch(() => undefined);
      // Its task's container goes a moment after the service: the network and volume are in use until then.
      for (let i = 0; i < 80; i++) {
        const gone = await Promise.all([docker('network', 'rm', s.network).then(...done), docker('volume', 'rm', '-f', s.volume).then(...done)]);
        if (gone.every(Boolean)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
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

/** Removed, or already gone. */
const done = [() => true, (err: Error) => /No such|not found/i.test(err.message)] as const;

/** STRAM as a swarm service: its network, its volume, and its CLI run inside its current task. */
export class StramService {
  id = '';
  mountpoint = '';

  constructor(
    readonly name: string,
    readonly network: string,
    readonly volume: string,
  ) {}

  get appDir(): string {
    return join(this.mountpoint, 'app');
  }

  /** What stram.json says (the app id, and when this STRAM started), once a STRAM wrote it. */
  info(): { appId: string; startedAt: string } | undefined {
    try {
      return JSON.parse(readFileSync(join(this.appDir, 'stram.json'), 'utf8')) as { appId: string; startedAt: string };
    } catch {
      return undefined;
    }
  }

  appId(): string | undefined {
    return this.info()?.appId;
  }

  /** The container of STRAM's running task. */
  async container(): Promise<string | undefined> {
    const tasks = await swarm.tasks(this.id);
    return tasks.find((t) => t.Status.State === 'running')?.Status.ContainerStatus?.ContainerID;
  }

  /** `sluice ARGS...` inside STRAM's task (the image has no shell: node runs the CLI). */
  async cli(...args: string[]): Promise<string> {
    const cid = await this.container();
    if (!cid) throw new Error(`no running task of ${this.name}`);
    return docker('exec', cid, 'node', '/sluice/packages/cli/bin/sluice.js', ...args);
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
