import { dirname, relative, resolve } from 'node:path';
import { readCredentials, type Logger } from '@sluice/common';
import { DockerEngine, containerName, exitOf, expectFound, followLogs, sharedDirs, type Exit } from './docker-launcher.js';
import type { LaunchSpec, LaunchedContainer, Launcher } from './launcher.js';
import { SWARM_LABEL, SwarmApi, isTerminal, type SwarmTask } from './swarm-api.js';

/**
 * Each container as a Docker Swarm service of one task (docs/swarm.md), on an attachable overlay
 * network the app makes for itself (`sluice-<appId>-net`), reached by name with
 * `--endpoint-mode dnsrr` (no virtual IP: it needs IPVS, and a service of one task gains nothing
 * from one).
 *
 * Restart policy `none`: STRAM alone decides replacements. A task the swarm restarted by itself
 * would come back with the credentials of the one that died, unknown to STRAM and restoring from
 * nothing in particular; STRAM replaces a lost container with fresh credentials (a new secret) and
 * has it restore from the committed checkpoint, which is what keeps the results exact.
 *
 * What a task gets, and nothing more:
 * - its initial credentials as a Docker secret of its own, `sluice-<appId>-<containerId>-v<n>`
 *   (a new version for every replacement), mounted at /run/secrets/sluice-credentials, mode 0400,
 *   owned by the uid it runs as; removed once the task has ended. Renewals travel over the
 *   umbilical as with every launcher: no credential change restarts a task. Env holds only that
 *   path and the log level; args and labels hold no secret either;
 * - the app directory's `checkpoints/`, `output/` and `spool/` as bind mounts at the same absolute
 *   path (shared storage on a multi-node swarm), a read-only root filesystem, a /tmp tmpfs, no
 *   capabilities;
 * - image, CPU and memory limits, placement constraints and labels from the launcher's settings.
 */

export const SWARM_CREDENTIALS_FILE = 'sluice-credentials';
export const SWARM_CREDENTIALS_MOUNT = `/run/secrets/${SWARM_CREDENTIALS_FILE}`;
const POLL_MS = 500;
/** Polls a killed task's service gets from an engine that stopped answering before it counts as gone. */
const GIVE_UP_POLLS = 20;
/** How long a task's log copy may take to catch up once it has ended. */
const LOG_DRAIN_MS = 2_000;

export interface SwarmLauncherOptions {
  /** The Sluice image (entrypoint the `sluice` CLI); tasks run `sluice container`. */
  image: string;
  /**
   * An existing attachable overlay network to run on (one STRAM itself is attached to, when it
   * runs as a service too), kept at the end. Default: the app makes its own, `sluice-<appId>-net`.
   */
  network?: string;
  socketPath?: string;
  /** `uid:gid` the tasks run as. Default: this process's (the owner of the credentials). */
  user?: string;
  logLevel?: string;
  /** Where the image holds Sluice (default /sluice)... */
  imageRoot?: string;
  /** ...and the workspace it was built from: an app module under it is found at the same place under imageRoot. */
  sourceRoot?: string;
  /** Placement constraints (`node.role==worker`, `node.labels.zone==a`). */
  constraints?: string[];
  /** Limits per task: CPUs (1.5) and memory in bytes. */
  cpus?: number;
  memoryBytes?: number;
  /** Extra non-secret labels on every service and task. */
  labels?: Record<string, string>;
  logger?: Logger;
}

interface Running {
  service: string;
  secret: string;
  name: string;
}

export class SwarmLauncher implements Launcher {
  readonly name = 'swarm';
  readonly api: SwarmApi;
  private readonly networks = new Map<string, Promise<string>>();
  private readonly versions = new Map<string, number>();

  constructor(private readonly o: SwarmLauncherOptions) {
    this.api = new SwarmApi(new DockerEngine(o.socketPath));
  }

  /** A swarm manager answers and has the image: one line otherwise, before STRAM writes anything. */
  async check(): Promise<void> {
    await this.api.checkManager();
    const where = `unix://${this.api.engine.socketPath}`;
    if (this.o.network) {
      await expectFound(this.api.engine, `/networks/${encodeURIComponent(this.o.network)}`, `docker network ${this.o.network} does not exist at ${where}; create it: docker network create -d overlay --attachable ${this.o.network}`);
    }
    await expectFound(this.api.engine, `/images/${encodeURIComponent(this.o.image)}/json`, `docker image ${this.o.image} is not in the engine at ${where}; build it: docker build -f docker/Dockerfile -t ${this.o.image} .`);
  }

  launch(spec: LaunchSpec): LaunchedContainer {
    const log = this.o.logger?.child({ container: spec.container, service: containerName(spec.app, spec.container) });
    const started = this.start(spec).then((r) => {
      log?.info({ secret: r.name }, 'service created');
      return r;
    });
    return this.watch(spec, started, log);
  }

  /** STRAM restart: the container's service, found by its labels; a container with none has exited. */
  adopt(spec: LaunchSpec): LaunchedContainer {
    const log = this.o.logger?.child({ container: spec.container, service: containerName(spec.app, spec.container) });
    const found = this.api.find(...this.labelsOf(spec)).then(({ services, secrets }) => {
      const service = services[0];
      const secret = secrets.sort((a, b) => version(b.Spec.Labels) - version(a.Spec.Labels))[0];
      if (secret) this.versions.set(spec.container, Math.max(this.versions.get(spec.container) ?? 0, version(secret.Spec.Labels)));
      if (!service) throw new Error('no service left');
      log?.info({ service: service.Spec.Name }, 'service adopted from the previous STRAM');
      return { service: service.ID, secret: secret?.ID ?? '', name: secret?.Spec.Name ?? '' };
    });
    return this.watch(spec, found, log);
  }

  /** The app has ended: whatever of it is left in the swarm goes, its network last. */
  async close(app: string): Promise<void> {
    const removed = await this.api.removeApp(app);
    this.o.logger?.info(removed, 'swarm services, secrets and network removed');
  }

  private network(app: string): Promise<string> {
    let n = this.networks.get(app);
    if (!n) {
      const given = this.o.network;
      n = given ? this.api.engine.call('GET', `/networks/${encodeURIComponent(given)}`).then((x) => (x as { Id: string }).Id) : this.api.ensureNetwork(app, this.o.labels ?? {});
      n.catch(() => this.networks.delete(app));
      this.networks.set(app, n);
    }
    return n;
  }

  private labelsOf(spec: LaunchSpec): string[] {
    return [`${SWARM_LABEL.app}=${spec.app}`, `${SWARM_LABEL.container}=${spec.container}`];
  }

  /** The network, the secret (a new version), then the service; a predecessor's leftovers are removed first. */
  private async start(spec: LaunchSpec): Promise<Running> {
    const net = await this.network(spec.app);
    const left = await this.api.find(...this.labelsOf(spec));
    for (const s of left.services) await this.api.remove('services', s.ID);
    for (const s of left.secrets) {
      this.versions.set(spec.container, Math.max(this.versions.get(spec.container) ?? 0, version(s.Spec.Labels)));
      await this.api.remove('secrets', s.ID).catch(() => undefined);
    }
    const v = (this.versions.get(spec.container) ?? 0) + 1;
    this.versions.set(spec.container, v);
    const labels = { ...this.o.labels, [SWARM_LABEL.launcher]: 'swarm', [SWARM_LABEL.app]: spec.app, [SWARM_LABEL.container]: spec.container };
    const name = containerName(spec.app, spec.container, `-v${v}`);
    const secret = await this.api.createSecret(name, this.credentialsText(spec), { ...labels, [SWARM_LABEL.version]: String(v) });
    try {
      const service = await this.api.createService(this.serviceSpec(spec, { net, secret, secretName: name, labels }));
      return { service, secret, name };
    } catch (err) {
      await this.api.remove('secrets', secret).catch(() => undefined);
      throw err;
    }
  }

  /** The credentials as the task sees them: the app module where the image has it. */
  private credentialsText(spec: LaunchSpec): string {
    const c = readCredentials(spec.credentialsPath);
    return `${JSON.stringify({ ...c, appModule: this.inImage(c.appModule) }, null, 2)}\n`;
  }

  private inImage(appModule: string): string {
    const root = (this.o.imageRoot ?? '/sluice').replace(/\/$/, '');
    if (!this.o.sourceRoot) return appModule;
    const rel = relative(resolve(this.o.sourceRoot), appModule);
    return rel.startsWith('..') || rel.startsWith('/') ? appModule : `${root}/${rel}`;
  }

  private serviceSpec(spec: LaunchSpec, s: { net: string; secret: string; secretName: string; labels: Record<string, string> }): Record<string, unknown> {
    const [uid, gid] = (this.o.user ?? `${process.getuid?.() ?? 1000}:${process.getgid?.() ?? 1000}`).split(':');
    const name = containerName(spec.app, spec.container);
    const mounts: Record<string, unknown>[] = sharedDirs(spec.appDir).map((d) => ({ Type: 'bind', Source: d, Target: d }));
    const module = this.inImage(spec.appModule);
    // An app module outside the image: its directory, read-only (a path every node must have).
    if (module === spec.appModule && !module.startsWith(`${(this.o.imageRoot ?? '/sluice').replace(/\/$/, '')}/`)) {
      mounts.push({ Type: 'bind', Source: dirname(module), Target: dirname(module), ReadOnly: true });
    }
    mounts.push({ Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: 64 * 1024 * 1024 } });
    const limits: Record<string, number> = {};
    if (this.o.cpus) limits['NanoCPUs'] = Math.round(this.o.cpus * 1e9);
    if (this.o.memoryBytes) limits['MemoryBytes'] = this.o.memoryBytes;
    return {
      Name: name,
      Labels: s.labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: this.o.image,
          Args: ['container'],
          Env: [`SLUICE_CREDENTIALS=${SWARM_CREDENTIALS_MOUNT}`, `SLUICE_LOG_LEVEL=${this.o.logLevel ?? 'info'}`],
          Hostname: name,
          User: `${uid}:${gid}`,
          Labels: s.labels,
          Mounts: mounts,
          ReadOnly: true,
          CapabilityDrop: ['ALL'],
          StopGracePeriod: 5_000_000_000,
          Secrets: [{ File: { Name: SWARM_CREDENTIALS_FILE, UID: uid, GID: gid, Mode: 0o400 }, SecretID: s.secret, SecretName: s.secretName }],
        },
        Resources: { Limits: limits },
        RestartPolicy: { Condition: 'none' },
        Placement: { Constraints: this.o.constraints ?? [] },
        Networks: [{ Target: s.net }],
      },
      Mode: { Replicated: { Replicas: 1 } },
      EndpointSpec: { Mode: 'dnsrr' },
    };
  }

  /**
   * Follows the service's one task until it ends (its log copied to container.log meanwhile), then
   * removes the service and its secret: what the container exited with, as a local child's.
   */
  private watch(spec: LaunchSpec, started: Promise<Running>, log: Logger | undefined): LaunchedContainer {
    let task: SwarmTask | undefined;
    let service: string | undefined;
    let killed: NodeJS.Signals | undefined;
    let done = false;
    const exited: Promise<Exit> = started.then(
      async (r) => {
        service = r.service;
        let logs: Promise<unknown> | undefined;
        let seen = false;
        let unanswered = 0;
        for (;;) {
          const tasks = await this.api.tasks(r.service).catch(() => undefined);
          // Told to stop and the engine no longer answers: nothing more will be learnt of this task.
          if (!tasks && killed && ++unanswered > GIVE_UP_POLLS) break;
          if (tasks) {
            task = tasks[0];
            // The service went away (removed by hand, or by kill() before the swarm scheduled a task).
            if (!task && (seen || killed)) break;
            seen ||= task !== undefined;
            const cid = task?.Status.ContainerStatus?.ContainerID;
            if (cid && !logs) logs = followLogs(this.api.engine, cid, spec.logPath).catch((err: Error) => log?.debug({ err: err.message }, 'cannot follow task logs (not on this node)'));
            if (task && isTerminal(task)) break;
          }
          await new Promise((res) => setTimeout(res, POLL_MS));
        }
        if (logs) await Promise.race([logs, new Promise((res) => setTimeout(res, LOG_DRAIN_MS))]);
        const code = task?.Status.ContainerStatus?.ExitCode;
        if (task?.Status.Err) log?.warn({ task: task.ID, state: task.Status.State, err: task.Status.Err }, 'task ended');
        await this.api.remove('services', r.service).catch((err: Error) => log?.warn({ err: err.message }, 'cannot remove service'));
        await this.removeSecret(r.secret, log);
        return code === undefined ? { code: null, signal: killed ?? null } : exitOf(code, killed);
      },
      (err: Error) => {
        log?.error({ err: err.message }, 'service failed to start');
        return { code: -1, signal: null };
      },
    );
    void exited.then(() => (done = true));
    return {
      pid: undefined,
      exited,
      get service() {
        return service && containerName(spec.app, spec.container);
      },
      get task() {
        return task?.ID;
      },
      kill: (signal: NodeJS.Signals = 'SIGTERM') => {
        if (done) return;
        killed = signal;
        void started
          .then(async (r) => {
            const cid = task?.Status.ContainerStatus?.ContainerID;
            // The task's container on this node takes the signal; one elsewhere (or none yet) goes with its service.
            if (cid) await this.api.engine.call('POST', `/containers/${cid}/kill?signal=${signal}`).catch(() => this.api.remove('services', r.service));
            else await this.api.remove('services', r.service);
          })
          .catch((err: Error) => log?.warn({ err: err.message, signal }, 'cannot signal task'));
      },
    };
  }

  /** A secret stays in use a moment after its task has gone. */
  private async removeSecret(id: string, log: Logger | undefined): Promise<void> {
    if (!id) return;
    for (let i = 0; i < 40; i++) {
      try {
        await this.api.remove('secrets', id);
        return;
      } catch {
        await new Promise((res) => setTimeout(res, 250));
      }
    }
    log?.warn({ secret: id }, 'cannot remove secret; it goes when the app ends');
  }
}

function version(labels: Record<string, string> | undefined): number {
  return Number(labels?.[SWARM_LABEL.version] ?? 0) || 0;
}
