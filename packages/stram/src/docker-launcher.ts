import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { SluiceError, type Logger } from '@sluice/common';
import type { LaunchSpec, LaunchedContainer, Launcher } from './launcher.js';

/**
 * Each container as a Docker container on a user-defined network, started through the
 * Docker Engine API on its unix socket (plain node:http, no client library).
 *
 * What a worker gets (docs/architecture.md "State on disk"):
 * - its credentials file, bind-mounted read-only at /run/sluice/credentials (the way Kubernetes
 *   mounts a Secret); env holds only that path and the log level; command and labels hold no
 *   secret either (`docker inspect` shows nothing that grants access);
 * - the app directory's `checkpoints/`, `output/` and `spool/`, mounted at the same absolute path,
 *   never the whole app directory (it holds STRAM's keys and the other containers' credentials);
 * - the name `sluice-<appId>-<containerId>`, also its hostname: its buffer server listens on
 *   0.0.0.0 and advertises that name, which Docker's DNS resolves on the network.
 *
 * Users: a worker runs as the uid:gid STRAM runs as, by default, so the 0600 credentials file
 * STRAM wrote (and the app directory) is readable by it with no chown, exactly as with the local
 * launcher. In the Sluice image STRAM itself runs as uid 1000.
 */

export const CREDENTIALS_MOUNT = '/run/sluice/credentials';
const DNS_LABEL_MAX = 63;

export interface DockerLauncherOptions {
  /** The Sluice image (its entrypoint is the `sluice` CLI; workers run `sluice container`). */
  image: string;
  /** A user-defined network: buffer servers and STRAM are reached by container name on it. */
  network: string;
  /** The Engine API socket. Default /var/run/docker.sock. */
  socketPath?: string;
  /** `uid:gid` the workers run as. Default: this process's (the credentials files' owner). */
  user?: string;
  /** Container log level (SLUICE_LOG_LEVEL, a setting, not a secret). */
  logLevel?: string;
  /** Where the image holds Sluice: app modules under it need no mount; others get their directory mounted read-only. */
  imageRoot?: string;
  /** Extra non-secret labels on every worker. */
  labels?: Record<string, string>;
  /** Keep exited workers (for `docker logs`/`inspect` after the fact). Default false: removed once they exit. */
  keep?: boolean;
  logger?: Logger;
}

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export class DockerLauncher implements Launcher {
  readonly name = 'docker';
  readonly engine: DockerEngine;

  constructor(private readonly o: DockerLauncherOptions) {
    if (!o.image) throw new SluiceError('BAD_CONFIG', 'the docker launcher needs an image (--docker-image)');
    if (!o.network) throw new SluiceError('BAD_CONFIG', 'the docker launcher needs a user-defined network (--docker-network)');
    this.engine = new DockerEngine(o.socketPath);
  }

  /**
   * The engine answers, and has the network and the image (docs/docker.md): checked once at
   * launch, so a missing engine is one line and a non-zero exit, not a relaunch of every container.
   */
  async check(): Promise<void> {
    await engineAnswers(this.engine);
    const where = `unix://${this.engine.socketPath}`;
    await expectFound(this.engine, `/networks/${encodeURIComponent(this.o.network)}`, `docker network ${this.o.network} does not exist at ${where}; create it: docker network create ${this.o.network}`);
    await expectFound(this.engine, `/images/${encodeURIComponent(this.o.image)}/json`, `docker image ${this.o.image} is not in the engine at ${where}; build it: docker build -f docker/Dockerfile -t ${this.o.image} .`);
  }

  launch(spec: LaunchSpec): LaunchedContainer {
    // The app id names the container; the app dir and module are mounted.
    const { app, appDir, appModule } = spec;
    const name = containerName(app, spec.container);
    const log = this.o.logger?.child({ container: spec.container, docker: name });
    const body = this.createBody(spec, { app, appDir, appModule, name });
    let killed: NodeJS.Signals | undefined;
    const started = this.create(name, body).then(async (id) => {
      await this.engine.call('POST', `/containers/${id}/start`);
      log?.info({ id: id.slice(0, 12) }, 'container launched');
      return id;
    });
    const exited: Promise<Exit> = started.then(
      async (id) => {
        const logs = followLogs(this.engine, id, spec.logPath).catch((err: Error) => log?.warn({ err: err.message }, 'cannot follow container logs'));
        const { StatusCode } = (await this.engine.call('POST', `/containers/${id}/wait?condition=not-running`, undefined, 0)) as { StatusCode: number };
        await logs;
        if (!this.o.keep) await this.engine.call('DELETE', `/containers/${id}?force=1`).catch((err: Error) => log?.warn({ err: err.message }, 'cannot remove container'));
        return exitOf(StatusCode, killed);
      },
      (err: Error) => {
        log?.error({ err: err.message }, 'container failed to start');
        return { code: -1, signal: null };
      },
    );
    let done = false;
    void exited.then(() => (done = true));
    return {
      pid: undefined,
      exited,
      kill: (signal: NodeJS.Signals = 'SIGTERM') => {
        if (done) return;
        killed = signal;
        void started
          .then((id) => this.engine.call('POST', `/containers/${id}/kill?signal=${signal}`))
          .catch((err: Error) => log?.warn({ err: err.message, signal }, 'cannot signal container'));
      },
    };
  }

  private createBody(spec: LaunchSpec, c: { app: string; appDir: string; appModule: string; name: string }): Record<string, unknown> {
    const binds = [`${spec.credentialsPath}:${CREDENTIALS_MOUNT}:ro`];
    for (const dir of sharedDirs(c.appDir)) binds.push(`${dir}:${dir}`);
    const root = (this.o.imageRoot ?? '/sluice').replace(/\/$/, '');
    if (!c.appModule.startsWith(`${root}/`)) binds.push(`${dirname(c.appModule)}:${dirname(c.appModule)}:ro`);
    return {
      Image: this.o.image,
      Cmd: ['container'],
      Env: [`SLUICE_CREDENTIALS=${CREDENTIALS_MOUNT}`, `SLUICE_LOG_LEVEL=${this.o.logLevel ?? 'info'}`],
      Hostname: c.name,
      User: this.o.user ?? `${process.getuid?.() ?? 1000}:${process.getgid?.() ?? 1000}`,
      Labels: { ...this.o.labels, 'sluice.launcher': 'docker', 'sluice.app': c.app, 'sluice.container': spec.container },
      HostConfig: {
        NetworkMode: this.o.network,
        Binds: binds,
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
      },
    };
  }

  /** Creates the container; a leftover of the same name (a predecessor not yet removed) is removed first. */
  private async create(name: string, body: Record<string, unknown>): Promise<string> {
    const path = `/containers/create?name=${encodeURIComponent(name)}`;
    try {
      return ((await this.engine.call('POST', path, body)) as { Id: string }).Id;
    } catch (err) {
      if (!(err instanceof DockerApiError) || err.status !== 409) throw err;
      await this.engine.call('DELETE', `/containers/${encodeURIComponent(name)}?force=1`);
      return ((await this.engine.call('POST', path, body)) as { Id: string }).Id;
    }
  }
}

/** The engine answers on its socket; if not, one line saying how to start it (ENGINE_UNREACHABLE). */
export async function engineAnswers(engine: DockerEngine): Promise<void> {
  try {
    await engine.call('GET', '/_ping', undefined, 5_000);
  } catch (err) {
    const detail = ((err as Error).cause instanceof Error ? ((err as Error).cause as Error) : (err as Error)).message;
    throw new SluiceError('ENGINE_UNREACHABLE', `docker engine not reachable at unix://${engine.socketPath}: ${detail}; start it with 'bash scripts/docker-engine.sh start' or set DOCKER_HOST`, { cause: err });
  }
}

/** A GET that must find its object: a 404 is BAD_CONFIG with `missing`. */
export async function expectFound(engine: DockerEngine, path: string, missing: string): Promise<void> {
  try {
    await engine.call('GET', path, undefined, 10_000);
  } catch (err) {
    if (err instanceof DockerApiError && err.status === 404) throw new SluiceError('BAD_CONFIG', missing);
    throw err;
  }
}

/**
 * The parts of the app directory a worker shares with STRAM, made here as STRAM's user (a missing
 * bind source would be created by dockerd as root): checkpoints, output and spool, never the whole
 * directory (it holds STRAM's keys and the other containers' credentials).
 */
export function sharedDirs(appDir: string): string[] {
  return ['checkpoints', 'output', 'spool'].map((sub) => {
    const dir = join(appDir, sub);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  });
}

/**
 * `sluice-<appId>-<containerId><suffix>`, cut to one DNS label (the app id's random suffix kept):
 * the docker launcher's container names, the swarm launcher's service and secret names.
 */
export function containerName(app: string, container: string, suffix = ''): string {
  const safe = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  const id = safe(container) + suffix;
  let a = safe(app);
  const room = DNS_LABEL_MAX - 'sluice-'.length - 1 - id.length;
  if (a.length > room) {
    const suffix = a.slice(a.lastIndexOf('-'));
    a = a.slice(0, Math.max(0, room - suffix.length)) + suffix;
  }
  return `sluice-${a}-${id}`;
}

/** Copies a container's stdout and stderr into its log file (the local launcher's container.log) until it exits. */
export async function followLogs(engine: DockerEngine, id: string, logPath: string): Promise<void> {
  const res = await engine.stream('GET', `/containers/${id}/logs?follow=1&stdout=1&stderr=1`);
  const out = createWriteStream(logPath, { flags: 'a', mode: 0o600 });
  await new Promise<void>((resolve) => {
    const demux = new LogDemux(out);
    res.on('data', (chunk: Buffer) => demux.push(chunk));
    res.once('end', resolve);
    res.once('error', resolve);
  });
  await new Promise<void>((resolve) => out.end(resolve));
}

/** A container's exit status as a local child's: 128+n is signal n. */
export function exitOf(status: number, killed: NodeJS.Signals | undefined): Exit {
  // A process killed by signal n exits 128+n in Docker; report it as the signal, like a local child.
  if (status > 128 && status < 128 + 32) {
    const signal = (Object.entries(constants.signals).find(([, n]) => n === status - 128)?.[0] ?? killed) as NodeJS.Signals | undefined;
    if (signal) return { code: null, signal };
  }
  return { code: status, signal: null };
}

/** Docker's multiplexed log stream (no TTY): 8-byte headers [stream, 0, 0, 0, size BE32] then the payload. */
class LogDemux {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly out: WriteStream) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) return;
      this.out.write(this.buf.subarray(8, 8 + size));
      this.buf = this.buf.subarray(8 + size);
    }
  }
}

export class DockerApiError extends SluiceError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('BAD_CONFIG', message);
  }
}

/** The few Engine API calls Sluice needs, over the unix socket. */
export class DockerEngine {
  constructor(readonly socketPath = '/var/run/docker.sock') {}

  /** A JSON call; `timeoutMs` 0 waits as long as it takes (container wait). */
  async call(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<unknown> {
    const res = await this.stream(method, path, body, timeoutMs);
    const text = await new Promise<string>((resolve, reject) => {
      let s = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (s += d));
      res.once('end', () => resolve(s));
      res.once('error', reject);
    });
    if ((res.statusCode ?? 500) >= 300) {
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {
        // Not JSON: the raw text is the message.
      }
      throw new DockerApiError(res.statusCode ?? 500, `docker ${method} ${path.split('?')[0]}: ${res.statusCode} ${message}`);
    }
    return (res.headers['content-type'] ?? '').includes('json') && text ? JSON.parse(text) : text;
  }

  /** The raw response (logs, events); the caller reads it to the end. */
  stream(method: string, path: string, body?: unknown, timeoutMs = 0): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        { socketPath: this.socketPath, method, path, headers: { host: 'docker', ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) } },
        resolve,
      );
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(new Error(`docker ${method} ${path.split('?')[0]} timed out after ${timeoutMs} ms`)));
      req.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES' ? new SluiceError('BAD_CONFIG', `no Docker engine at ${this.socketPath}: ${err.message}`, { cause: err }) : err),
      );
      req.end(data);
    });
  }

  /** True when an engine answers on the socket. */
  async ping(): Promise<boolean> {
    try {
      await this.call('GET', '/_ping', undefined, 2_000);
      return true;
    } catch {
      return false;
    }
  }
}
