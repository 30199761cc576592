import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { credentialsSchema, decodeIdentifier, tokenFromText, type Credentials } from '@sluice/common';
import { DockerEngine } from '@sluice/stram';

/**
 * The Docker side of the Docker tests: the Sluice image built once from the registry-free local
 * base, a user-defined network, STRAM in its own container running `sluice demo --launcher docker`,
 * and `docker inspect`. Everything made here carries the label `sluice.test` and is removed by
 * `DockerEnv.close()`.
 */

const run = promisify(execFile);
export const SOCKET = process.env['SLUICE_DOCKER_SOCKET'] ?? '/var/run/docker.sock';
export const BASE_IMAGE = process.env['SLUICE_DOCKER_BASE'] ?? 'local/node-min:latest';

// testcontainers without a registry: no ryuk, no gateway probe.
process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';
process.env['TESTCONTAINERS_HOST_OVERRIDE'] ??= 'localhost';

export const engine = new DockerEngine(SOCKET);

/** The workspace root (the build context), found from this file's sources or its built copy. */
const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export interface Inspect {
  Id: string;
  Name: string;
  Config: { Env: string[]; Cmd: string[] | null; Entrypoint: string[] | null; Labels: Record<string, string>; User: string; Hostname: string };
  HostConfig: { Binds: string[] | null; ReadonlyRootfs: boolean; NetworkMode: string };
  Mounts: { Source: string; Destination: string; RW: boolean }[];
  State: { Running: boolean; Status: string };
}

export async function inspect(idOrName: string): Promise<{ json: Inspect; text: string }> {
  const text = await docker('inspect', idOrName);
  return { json: (JSON.parse(text) as Inspect[])[0]!, text };
}

/** The worker containers of an app (running or not), by the launcher's labels. */
export async function workers(app: string): Promise<{ id: string; name: string; container: string; state: string }[]> {
  const list = (await engine.call('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`sluice.app=${app}`] }))}`)) as {
    Id: string;
    Names: string[];
    Labels: Record<string, string>;
    State: string;
  }[];
  return list.map((c) => ({ id: c.Id, name: c.Names[0]!.replace(/^\//, ''), container: c.Labels['sluice.container']!, state: c.State }));
}

export class DockerEnv {
  readonly tag = `sluice-test:${randomBytes(4).toString('hex')}`;
  dir = '';
  network!: StartedNetwork;
  private readonly started: StartedTestContainer[] = [];
  private readonly apps: string[] = [];
  /** uid:gid STRAM runs as: uid 1000 (the image's) unless this is not root, gid of the Docker socket (to reach the engine). */
  user = '';

  /** Builds the Sluice image from the built workspace (docker/Dockerfile) on the local base. */
  async setUp(): Promise<void> {
    const uid = process.getuid?.() ?? 1000;
    this.user = `${uid === 0 ? 1000 : uid}:${statSync(SOCKET).gid}`;
    this.dir = mkdtempSync('/tmp/sluice-docker-');
    if (uid === 0) chownSync(this.dir, 1000, 1000);
    try {
      await docker('image', 'inspect', BASE_IMAGE);
    } catch {
      await run('bash', [join(ROOT, 'scripts', 'docker-engine.sh'), 'start']);
    }
    await docker('build', '-q', '-f', join(ROOT, 'docker', 'Dockerfile'), '--build-arg', `BASE=${BASE_IMAGE}`, '-t', this.tag, ROOT);
    this.network = await new Network().start();
  }

  /** Runs `sluice demo --launcher docker` in a STRAM container on the network; resolves once it has planned the app. */
  async startDemo(args: string[]): Promise<Demo> {
    const name = `sluice-stram-${randomBytes(4).toString('hex')}`;
    const appDir = join(this.dir, name);
    const demo = new Demo(name, appDir);
    const container = await new GenericContainer(this.tag)
      .withName(name)
      .withNetwork(this.network)
      .withUser(this.user)
      .withLabels({ 'sluice.test': '1' })
      .withBindMounts([
        { source: SOCKET, target: SOCKET },
        // The app directory at the same absolute path: STRAM bind-mounts parts of it into the workers.
        { source: this.dir, target: this.dir },
      ])
      .withCommand([
        'demo',
        '--launcher', 'docker',
        '--docker-network', this.network.getName(),
        '--docker-image', this.tag,
        '--advertise-host', name,
        '--app-dir', appDir,
        '--json',
        '--log-level', 'info',
        ...args,
      ])
      .withLogConsumer((stream) => {
        stream.on('data', (b: Buffer | string) => (demo.output += b.toString()));
      })
      .withWaitStrategy(Wait.forLogMessage(/word count \S+: \d+ containers/))
      .withStartupTimeout(60_000)
      .start();
    this.started.push(container);
    demo.container = container;
    // The wait strategy saw the line; the log consumer may get it a moment later.
    for (let i = 0; i < 100 && !/word count (\S+):/.test(demo.output); i++) await new Promise((r) => setTimeout(r, 50));
    demo.app = /word count (\S+):/.exec(demo.output)?.[1] ?? '';
    if (!demo.app) throw new Error(`sluice demo printed no app id:\n${demo.output.slice(-3000)}`);
    this.apps.push(demo.app);
    return demo;
  }

  /** A container on the network with no credentials: runs the rogue script, returns its JSON lines. */
  async rogue(plan: unknown): Promise<Record<string, unknown>[]> {
    let out = '';
    const c = await new GenericContainer(this.tag)
      .withNetwork(this.network)
      .withLabels({ 'sluice.test': '1' })
      .withEntrypoint(['node'])
      .withCommand([join('/sluice', 'test', 'dist', 'helpers', 'docker-rogue.js'), JSON.stringify(plan)])
      .withLogConsumer((stream) => stream.on('data', (b: Buffer | string) => (out += b.toString())))
      .withWaitStrategy(Wait.forLogMessage('ROGUE-DONE'))
      .withStartupTimeout(60_000)
      .start();
    this.started.push(c);
    for (let i = 0; i < 100 && !out.includes('ROGUE-DONE'); i++) await new Promise((r) => setTimeout(r, 50));
    return out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** `sluice buffer-server` from the image, its secret file mounted read-only, published on a host port. */
  async bufferServer(id: string, secretFile: string): Promise<string> {
    const c = await new GenericContainer(this.tag)
      .withLabels({ 'sluice.test': '1' })
      .withBindMounts([{ source: secretFile, target: '/run/sluice/secret', mode: 'ro' }])
      .withCommand(['buffer-server', '--id', id, '--secret-file', '/run/sluice/secret', '--host', '0.0.0.0', '--port', '7000'])
      .withExposedPorts(7000)
      .withWaitStrategy(Wait.forLogMessage(/listening ws:/))
      .withStartupTimeout(30_000)
      .start();
    this.started.push(c);
    return `ws://127.0.0.1:${c.getMappedPort(7000)}`;
  }

  async close(): Promise<void> {
    for (const c of this.started) await c.stop({ remove: true, timeout: 1_000 }).catch(() => undefined);
    for (const app of this.apps) for (const w of await workers(app).catch(() => [])) await engine.call('DELETE', `/containers/${w.id}?force=1`).catch(() => undefined);
    await this.network?.stop().catch(() => undefined);
    await docker('rmi', '-f', this.tag).catch(() => undefined);
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One `sluice demo` in Docker: its app, its STRAM container, and its output so far. */
export class Demo {
  output = '';
  app = '';
  container!: StartedTestContainer;

  constructor(
    readonly stramName: string,
    readonly appDir: string,
  ) {}

  /** Waits for STRAM's container to exit; its exit code and the demo's JSON summary. */
  async finished(): Promise<{ code: number; summary: Record<string, unknown> }> {
    const { StatusCode } = (await engine.call('POST', `/containers/${this.container.getId()}/wait`, undefined, 0)) as { StatusCode: number };
    await new Promise((r) => setTimeout(r, 200)); // the log consumer's last chunk
    const last = this.output.split('\n').filter((l) => l.startsWith('{"secure"')).at(-1);
    if (!last) throw new Error(`no demo summary (exit ${StatusCode}); output:\n${this.output.slice(-4000)}`);
    return { code: StatusCode, summary: JSON.parse(last) as Record<string, unknown> };
  }

  credentials(): Credentials[] {
    const dir = join(this.appDir, 'containers');
    return readdirSync(dir)
      .map((id) => join(dir, id, 'credentials'))
      .filter((p) => {
        try {
          return statSync(p).isFile();
        } catch {
          return false;
        }
      })
      // Not readCredentials: that refuses a file of secrets owned by another uid, and these belong
      // to the image's user (1000) while the test inspects them as whoever runs it.
      .map((p) => credentialsSchema.parse(JSON.parse(readFileSync(p, 'utf8'))));
  }

  /** Every secret the app's containers hold (token texts, passwords, buffer-server secrets) and STRAM's key file contents. */
  secrets(): string[] {
    const out: string[] = [];
    for (const c of this.credentials()) {
      out.push(c.bufferServer.secret, c.stramToken, Buffer.from(tokenFromText(c.stramToken).password).toString('hex'), Buffer.from(tokenFromText(c.stramToken).password).toString('base64'));
      for (const t of Object.values(c.subscribe)) out.push(t, Buffer.from(tokenFromText(t).password).toString('hex'));
    }
    return out;
  }

  /** bs id → the streams some container subscribes to there (from the subscribe tokens' scopes). */
  streams(): Map<string, string[]> {
    const m = new Map<string, Set<string>>();
    for (const c of this.credentials()) {
      for (const t of Object.values(c.subscribe)) {
        const scope = decodeIdentifier(tokenFromText(t).identifier).scope as { bs: string; streams: string[] };
        const s = m.get(scope.bs) ?? new Set<string>();
        for (const x of scope.streams) s.add(x);
        m.set(scope.bs, s);
      }
    }
    return new Map([...m].map(([k, v]) => [k, [...v]]));
  }

  /** The URL container `id` advertised for its buffer server (its log line), once it has one. */
  bufferServerUrl(id: string): string | undefined {
    try {
      const log = readFileSync(join(this.appDir, 'containers', id, 'container.log'), 'utf8');
      return /"bufferServer":"(wss?:\/\/[^"]+)"/.exec(log)?.[1];
    } catch {
      return undefined;
    }
  }

  /** STRAM's umbilical and REST ports (stram.json) on its container name. */
  stramUrls(): { umbilical: string; rest: string } {
    const info = JSON.parse(readFileSync(join(this.appDir, 'stram.json'), 'utf8')) as { umbilical: string; rest: string };
    const on = (u: string) => {
      const url = new URL(u);
      url.hostname = this.stramName;
      return url.toString().replace(/\/$/, '');
    };
    return { umbilical: on(info.umbilical), rest: on(info.rest) };
  }
}
