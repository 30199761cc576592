import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeCredentials, type Credentials } from '@sluice/common';
import { CREDENTIALS_MOUNT, DockerLauncher, containerName } from './docker-launcher.js';

/** The docker launcher against a fake Engine API on a unix socket: what it asks Docker for. */

interface Call {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
}

class FakeEngine {
  readonly calls: Call[] = [];
  server!: Server;
  exitCode = 0;
  conflictOnce = false;
  /** What the engine has: `check()` asks for the network and the image. */
  networks = new Set(['net1']);
  images = new Set(['sluice:t']);
  private waiters: (() => void)[] = [];

  async listen(socket: string): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(socket, r));
  }

  exit(code: number): void {
    this.exitCode = code;
    for (const w of this.waiters.splice(0)) w();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const path = req.url ?? '';
    this.calls.push({ method: req.method ?? '', path, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined });
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/_ping') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end('OK');
    }
    const network = /^\/networks\/([^/]+)$/.exec(path);
    if (network) return this.networks.has(decodeURIComponent(network[1]!)) ? json(200, { Name: network[1] }) : json(404, { message: `network ${network[1]} not found` });
    const image = /^\/images\/([^/]+)\/json$/.exec(path);
    if (image) return this.images.has(decodeURIComponent(image[1]!)) ? json(200, { Id: 'sha256:1' }) : json(404, { message: `No such image: ${image[1]}` });
    if (path.startsWith('/containers/create')) {
      if (this.conflictOnce) {
        this.conflictOnce = false;
        return json(409, { message: 'Conflict. The container name is already in use' });
      }
      return json(201, { Id: 'abc123def4567890' });
    }
    if (path.endsWith('/start') || path.includes('/kill') || req.method === 'DELETE') {
      res.writeHead(204);
      return void res.end();
    }
    if (path.includes('/logs')) {
      res.writeHead(200, { 'content-type': 'application/vnd.docker.raw-stream' });
      const line = Buffer.from('container says hello\n');
      const header = Buffer.alloc(8);
      header[0] = 2;
      header.writeUInt32BE(line.length, 4);
      res.write(Buffer.concat([header, line.subarray(0, 5)]));
      res.write(line.subarray(5));
      await new Promise<void>((r) => this.waiters.push(r));
      return void res.end();
    }
    if (path.includes('/wait')) {
      await new Promise<void>((r) => this.waiters.push(r));
      return json(200, { StatusCode: this.exitCode });
    }
    json(404, { message: `no route ${path}` });
  }
}

describe('DockerLauncher', () => {
  let dir: string;
  let engine: FakeEngine;
  let launcher: DockerLauncher;
  const appDir = () => join(dir, 'app');
  const credentialsPath = () => join(appDir(), 'containers', 'c2', 'credentials');

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-docker-launcher-'));
    engine = new FakeEngine();
    await engine.listen(join(dir, 'docker.sock'));
    launcher = new DockerLauncher({ image: 'sluice:t', network: 'net1', socketPath: join(dir, 'docker.sock'), user: '1000:1000', logLevel: 'warn' });
    const creds: Credentials = {
      version: 1,
      app: 'wordcount-1a2b3c4d',
      container: 'c2',
      stram: 'ws://stram:4000',
      stramToken: 'SECRET-STRAM-TOKEN',
      bufferServer: { id: 'bs-c2', secret: 'ab'.repeat(32) },
      subscribe: { 'bs-c1': 'SECRET-SUBSCRIBE-TOKEN' },
      appModule: '/sluice/packages/cli/dist/demo/wordcount.js',
      appDir: appDir(),
      settings: { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 30000, windowMs: 500, checkpointWindows: 60, insecure: false, bindHost: '0.0.0.0' },
    };
    writeCredentials(credentialsPath(), creds);
  });

  afterEach(async () => {
    await new Promise<void>((r) => engine.server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const spec = () => ({ container: 'c2', credentialsPath: credentialsPath(), logPath: join(appDir(), 'containers', 'c2', 'container.log'), app: 'wordcount-1a2b3c4d', appDir: appDir(), appModule: '/sluice/packages/cli/dist/demo/wordcount.js' });

  it('creates a named container whose env, command and labels hold no secret, credentials mounted read-only', async () => {
    const c = launcher.launch(spec());
    await until(() => engine.calls.some((x) => x.path.includes('/wait')));
    const create = engine.calls.find((x) => x.path.startsWith('/containers/create'))!;
    expect(create.path).toBe('/containers/create?name=sluice-wordcount-1a2b3c4d-c2');
    const body = create.body!;
    expect(JSON.stringify(body)).not.toMatch(/SECRET|abababab/);
    expect(body).toMatchObject({
      Image: 'sluice:t',
      Cmd: ['container'],
      Env: [`SLUICE_CREDENTIALS=${CREDENTIALS_MOUNT}`, 'SLUICE_LOG_LEVEL=warn'],
      Hostname: 'sluice-wordcount-1a2b3c4d-c2',
      User: '1000:1000',
      Labels: { 'sluice.launcher': 'docker', 'sluice.app': 'wordcount-1a2b3c4d', 'sluice.container': 'c2' },
      HostConfig: { NetworkMode: 'net1', ReadonlyRootfs: true, CapDrop: ['ALL'] },
    });
    expect((body['HostConfig'] as { Binds: string[] }).Binds).toEqual([
      `${credentialsPath()}:${CREDENTIALS_MOUNT}:ro`,
      ...['checkpoints', 'output', 'spool'].map((d) => `${join(appDir(), d)}:${join(appDir(), d)}`),
    ]);
    engine.exit(0);
    expect(await c.exited).toEqual({ code: 0, signal: null });
    // Logs demultiplexed into container.log; the exited container removed.
    expect(readFileSync(spec().logPath, 'utf8')).toBe('container says hello\n');
    expect(engine.calls.at(-1)).toMatchObject({ method: 'DELETE', path: '/containers/abc123def4567890?force=1' });
  });

  it('reports a kill as the signal (exit 128+n) and signals through the API', async () => {
    const c = launcher.launch(spec());
    c.kill('SIGKILL');
    await until(() => engine.calls.some((x) => x.path.includes('/kill')));
    expect(engine.calls.find((x) => x.path.includes('/kill'))!.path).toBe('/containers/abc123def4567890/kill?signal=SIGKILL');
    engine.exit(137);
    expect(await c.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('removes a leftover of the same name (a predecessor not yet gone) and creates again', async () => {
    engine.conflictOnce = true;
    const c = launcher.launch(spec());
    await until(() => engine.calls.some((x) => x.path.includes('/wait')));
    expect(engine.calls.slice(0, 3).map((x) => `${x.method} ${x.path.split('?')[0]}`)).toEqual([
      'POST /containers/create',
      'DELETE /containers/sluice-wordcount-1a2b3c4d-c2',
      'POST /containers/create',
    ]);
    engine.exit(0);
    await c.exited;
  });

  it('check: an engine with the network and the image passes, asking for nothing else', async () => {
    await launcher.check();
    expect(engine.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /_ping', 'GET /networks/net1', 'GET /images/sluice%3At/json']);
  });

  it('check: no engine at the socket is one line saying where it looked and how to start one', async () => {
    const socket = join(dir, 'nothing.sock');
    const l = new DockerLauncher({ image: 'x', network: 'n', socketPath: socket });
    await expect(l.check()).rejects.toMatchObject({
      code: 'ENGINE_UNREACHABLE',
      message: `docker engine not reachable at unix://${socket}: connect ENOENT ${socket}; start it with 'bash scripts/docker-engine.sh start' or set DOCKER_HOST`,
    });
  });

  it('check: a missing network or image is named, with the command that makes it', async () => {
    engine.networks.clear();
    await expect(launcher.check()).rejects.toMatchObject({ code: 'BAD_CONFIG', message: expect.stringMatching(/^docker network net1 does not exist at unix:\/\/.*; create it: docker network create net1$/) });
    engine.networks.add('net1');
    engine.images.clear();
    await expect(launcher.check()).rejects.toMatchObject({ code: 'BAD_CONFIG', message: expect.stringMatching(/^docker image sluice:t is not in the engine at .*; build it: docker build -f docker\/Dockerfile -t sluice:t \.$/) });
  });

  it('settles exited with -1 when the engine cannot be reached', async () => {
    const l = new DockerLauncher({ image: 'x', network: 'n', socketPath: join(dir, 'nothing.sock') });
    expect(await l.launch(spec()).exited).toEqual({ code: -1, signal: null });
  });
});

describe('containerName', () => {
  it('is sluice-<app>-<container>, cut to one DNS label keeping the random suffix', () => {
    expect(containerName('wordcount-1a2b3c4d', 'c1')).toBe('sluice-wordcount-1a2b3c4d-c1');
    const long = containerName(`${'x'.repeat(40)}-deadbeef`, 'c12');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^sluice-x+-deadbeef-c12$/);
  });
});

async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 10));
}
