import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FAILURE_LIMITS, SluiceError, advertisedUrl, appFromModule, readCredentials, type AppDefinition, type Command, type Credentials, type FailureReport, type HeartbeatMessage, type Logger, type Session, type CertMessage, type TlsMaterial } from '@sluice/common';
import type { BufferServer, BufferServerOptions, Publisher, PublisherOptions, Subscriber, SubscriberOptions } from '@sluice/buffer-server';
import type { CheckpointStore } from './checkpoint-store.js';
import { openCheckpointStore, refreshStoreLogin } from './checkpoint-stores.js';
import { ContainerCounters, ContainerEvent, servedCloses } from './counters.js';
import { failureReport } from './failure-report.js';
import { HeldCredentials } from './held-credentials.js';
import type { OperatorRunner } from './operator-runner.js';
import { TakeoverTally } from './takeover-tally.js';
import { TlsIdentity } from './tls-identity.js';
import { UmbilicalClient } from './umbilical-client.js';
import { teardownWithin, type TeardownStep } from './bounded-teardown.js';
import { deployOperators, sourceId, undeploy, type DataPlaneClients, type Deployed } from './wiring.js';

/**
 * A streaming container (docs/architecture.md "Processes"): hosts one buffer server for its operators'
 * outputs, runs the operators STRAM deploys, heartbeats over the umbilical and obeys the
 * commands that come back. Exits (through `exit`) with one of ExitCode.
 */

export const ExitCode = {
  /** Shut down by STRAM (or a signal). */
  ok: 0,
  /** Unexpected failure. */
  failed: 1,
  /** Missing or invalid credentials / settings. */
  badConfig: 2,
  /** STRAM unreachable past the heartbeat timeout: operators stopped, no orphan left. */
  stramLost: 3,
  /** An operator threw; STRAM relaunches the container from the last checkpoint. */
  operatorFailed: 4,
  /** STRAM refused this container's token (4401: cancelled or expired): it has been, or will be, replaced. */
  stramRefused: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface DataPlane {
  startBufferServer(o: BufferServerOptions): Promise<BufferServer>;
  connectPublisher(o: PublisherOptions): Promise<Publisher>;
  connectSubscriber(o: SubscriberOptions): Promise<Subscriber>;
}

export interface ContainerOptions {
  credentialsPath: string;
  credentials: Credentials;
  logger: Logger;
  dataPlane: DataPlane;
  exit(code: ExitCode): void;
  now?: () => number;
  /** How long stopping may take before the process exits anyway (default STOP_GRACE_MS). */
  stopGraceMs?: number;
}

/** How long a container whose publisher was lost waits to hear STRAM's verdict before it exits as failed. */
const LOST_PUBLISHER_GRACE_MS = 5_000;
/** How long stopping may take before the process exits anyway, with its code (bounded-teardown.ts). */
const STOP_GRACE_MS = 5_000;

export class Container {
  private readonly held: HeldCredentials;
  private readonly log: Logger;
  private readonly now: () => number;
  private server: BufferServer | null = null;
  private umbilical: UmbilicalClient | null = null;
  private identity: TlsIdentity | null = null;
  /** Settles once the buffer server listens (or failed to): deploys wait for it. */
  private serverStarted: Promise<void> = Promise.resolve();
  private readonly deployed = new Map<string, Deployed>();
  private readonly checkpoints: CheckpointStore;
  private state: HeartbeatMessage['state'] = 'starting';
  private readonly errors: string[] = [];
  /** Exceptions of this process's operators, with their stacks: every heartbeat until the process exits carries them. */
  private readonly failures: FailureReport[] = [];
  private readonly takeovers = new TakeoverTally();
  private commands: Promise<void> = Promise.resolve();
  private app: AppDefinition | null = null;
  private stopping: Promise<void> | null = null;
  private readonly counters = new ContainerCounters();
  /** Own buffer-server secrets rotated so far. */
  private secretRotations = 0;
  /** Settles once every publisher has re-registered after the last secret rotation. */
  private publishersSwitched: Promise<void> = Promise.resolve();

  constructor(private readonly o: ContainerOptions) {
    this.held = new HeldCredentials(o.credentials);
    this.log = o.logger;
    this.now = o.now ?? Date.now;
    this.checkpoints = openCheckpointStore(o.credentials);
  }

  get id(): string {
    return this.held.value.container;
  }

  async start(): Promise<void> {
    const c = this.held.value;
    if (!c.settings.tls) {
      await this.startBufferServer(undefined);
      this.startUmbilical();
      return;
    }
    // Under TLS the buffer server needs its certificate first, and that comes over the umbilical.
    if (!c.caRoots) throw new SluiceError('BAD_CONFIG', 'credentials say TLS but carry no CA roots to check STRAM by; relaunch the app');
    const identity = new TlsIdentity({
      app: c.app,
      container: c.container,
      initialRoots: c.caRoots,
      logger: this.log.child({ component: 'tls' }),
      request: () => this.umbilical?.requestCertificate(),
      onRenewed: (material) => this.server?.setTls(material),
      now: this.now,
    });
    this.identity = identity;
    let started!: () => void;
    this.serverStarted = new Promise((r) => (started = r));
    this.startUmbilical();
    await identity.enrol();
    await this.startBufferServer(await identity.ready).finally(started);
  }

  private async startBufferServer(tls: TlsMaterial | undefined): Promise<void> {
    const c = this.held.value;
    const spoolDir = join(c.appDir, 'spool', c.container);
    // A predecessor killed outright (SIGKILL, OOM) left its spool behind: it is ours to clear.
    rmSync(spoolDir, { recursive: true, force: true });
    this.server = await this.o.dataPlane.startBufferServer({
      id: c.bufferServer.id,
      secret: Buffer.from(c.bufferServer.secret, 'hex'),
      // Started in the middle of a rotation: tokens of the previous secrets are still welcome.
      previousSecrets: (c.bufferServer.previous ?? []).map((h) => Buffer.from(h, 'hex')),
      host: c.settings.bindHost ?? '127.0.0.1',
      port: 0,
      spoolDir,
      logger: this.log.child({ component: 'buffer-server' }),
      ...(tls ? { tls } : {}),
    });
    this.log.info({ bufferServer: this.bufferServerUrl }, 'buffer server listening');
  }

  private startUmbilical(): void {
    const c = this.held.value;
    const identity = this.identity;
    this.umbilical = new UmbilicalClient({
      url: c.stram,
      // A recovered STRAM that could not get its old port back wrote the new URL into our credentials file.
      resolveUrl: () => this.stramUrl(),
      container: c.container,
      token: () => this.held.stramToken(),
      heartbeatIntervalMs: c.settings.heartbeatIntervalMs,
      // Operators keep streaming while STRAM is away (restarting); only past this do they stop (docs/architecture.md "Recovery").
      heartbeatTimeoutMs: c.settings.stramLossTimeoutMs ?? c.settings.heartbeatTimeoutMs,
      heartbeat: () => this.heartbeat(),
      onCommands: (commands, session) => this.enqueue(commands, session),
      onLost: () => void this.stop(ExitCode.stramLost, 'STRAM unreachable past the heartbeat timeout'),
      onRefused: (reason) => void this.stop(ExitCode.stramRefused, `STRAM refused this container's token: ${reason}`),
      logger: this.log.child({ component: 'umbilical' }),
      now: this.now,
      ...(identity ? { enrolment: { csr: () => identity.csr(), onCert: (cert: CertMessage) => identity.onCert(cert) }, tls: () => identity.umbilicalTls() } : {}),
    });
    this.umbilical.start();
  }

  /** Publishers and subscribers, over TLS with this container's certificate when the app runs TLS. */
  private get clients(): DataPlaneClients {
    const identity = this.identity;
    if (!identity) return this.o.dataPlane;
    return {
      connectPublisher: (o) => this.o.dataPlane.connectPublisher({ ...o, tls: identity.clientFor(o.token.service) }),
      connectSubscriber: (o) => this.o.dataPlane.connectSubscriber({ ...o, tls: identity.clientFor(o.token.service) }),
    };
  }

  /**
   * The URL other containers reach this buffer server by: listening on a wildcard address (in
   * Docker), it is advertised under settings.advertiseHost or this host's name (the launcher
   * makes that the container's name on its network).
   */
  get bufferServerUrl(): string | null {
    if (!this.server) return null;
    const { bindHost, advertiseHost } = this.held.value.settings;
    return advertisedUrl(this.server.url, advertiseHost ?? (bindHost === '0.0.0.0' || bindHost === '::' ? hostname() : undefined));
  }

  /** STRAM's URL as its credentials file says now: a STRAM recovered on a new port writes it there (docs/architecture.md "Recovery"). */
  private stramUrl(): string {
    try {
      return readCredentials(this.o.credentialsPath).stram;
    } catch (err) {
      this.log.warn({ code: (err as SluiceError).code, err: (err as Error).message }, 'cannot read the credentials file for STRAM\'s URL; using the one held');
      return this.held.value.stram;
    }
  }

  heartbeat(): HeartbeatMessage {
    const operators = [...this.deployed.values()].map((d) => d.runner.stats());
    const takeovers = this.takeovers.report(this.server?.takeoversRefused ?? 0);
    return {
      t: 'heartbeat',
      container: this.id,
      bufferServer: this.bufferServerUrl,
      state: this.state,
      operators,
      // What STRAM may count as held: pushes still queued behind a slow command are not in it yet.
      credentialsRevision: this.held.value.revision ?? 0,
      ...(this.errors.length > 0 ? { errors: this.errors.slice(-20) } : {}),
      counters: { ...this.counters.snapshot(), ...servedCloses(this.server?.closesByCode ?? new Map()) },
      ...(takeovers ? { takeovers } : {}),
      ...(this.failures.length > 0 ? { failures: this.failures.slice(-FAILURE_LIMITS.reports) } : {}),
    };
  }

  /** Commands run one at a time in arrival order; heartbeats go on meanwhile. */
  private enqueue(commands: Command[], session: Session): Promise<void> {
    return (this.commands = this.commands.then(async () => {
      for (const cmd of commands) {
        if (this.stopping) return;
        try {
          await this.run(cmd, session);
        } catch (err) {
          this.log.error({ command: cmd.c, err: (err as Error).message }, 'command failed');
          this.report(`${cmd.c} failed: ${(err as Error).message}`);
          if (cmd.c === 'deploy') {
            // An operator's create or setup threw: as much a failure of the app as one in a window.
            this.failures.push(failureReport(err, this.now()));
            void this.stop(ExitCode.failed, 'deploy failed');
          }
        }
      }
    }));
  }

  private async run(cmd: Command, session: Session): Promise<void> {
    switch (cmd.c) {
      case 'deploy':
        // Before anything that waits: the names downstream containers will subscribe under here
        // are theirs from now on, even if someone else holding a token comes first
        // (docs/protocol.md "Subscriber names").
        if (cmd.boundNames) this.server?.reserveNames(cmd.boundNames);
        return this.deploy(cmd.operators);
      case 'undeploy': {
        const entries = cmd.ids.flatMap((id) => this.deployed.get(id) ?? []);
        for (const e of entries) this.deployed.delete(e.runner.id);
        await undeploy(entries);
        return;
      }
      case 'resubscribe': {
        const link = this.deployed.get(cmd.operator)?.links.get(sourceId(cmd.port, cmd.upstream.operator));
        if (!link) {
          this.log.warn({ operator: cmd.operator, port: cmd.port, upstream: cmd.upstream.operator }, 'resubscribe for an unknown input; ignored');
          return;
        }
        // The replacement publishes from cmd.window; windows this operator has already ended need not come again.
        const window = Math.max(cmd.window, this.deployed.get(cmd.operator)!.runner.resumeWindow(sourceId(cmd.port, cmd.upstream.operator)));
        await link.retarget({ url: cmd.upstream.url, bufferServer: cmd.upstream.bufferServer, partitions: cmd.upstream.partitions }, window);
        return;
      }
      case 'committed':
        for (const d of this.deployed.values()) for (const stream of d.publishers.keys()) this.server?.purge(stream, cmd.w);
        await Promise.all([...this.deployed.values()].map((d) => this.checkpoints.prune(d.runner.id, cmd.w)));
        return;
      case 'revoke':
        this.server?.revoke(cmd.seqs);
        return;
      case 'credentials':
        return this.renewCredentials(session, cmd.box);
      case 'retire-secrets':
        return this.retireSecrets();
      case 'shutdown':
        this.log.info({ reason: cmd.reason }, 'shutdown requested by STRAM');
        void this.stop(ExitCode.ok, cmd.reason);
        return;
    }
  }

  private async loadApp(): Promise<AppDefinition> {
    if (!this.app) {
      const mod: unknown = await import(pathToFileURL(resolve(this.held.value.appModule)).href);
      this.app = appFromModule(mod);
    }
    return this.app;
  }

  private async deploy(operators: Parameters<typeof deployOperators>[1]): Promise<void> {
    // Under TLS STRAM may deploy before the buffer server has its certificate and listens.
    await this.serverStarted;
    const fresh = operators.filter((d) => !this.deployed.has(d.id));
    if (fresh.length === 0 || !this.server) return;
    const app = await this.loadApp();
    const c = this.held.value;
    const entries = await deployOperators(
      {
        app,
        config: c.config ?? {},
        appDir: c.appDir,
        logger: this.log,
        checkpoints: this.checkpoints,
        store: (system) => this.held.value.stores?.[system],
        checkpointWindows: c.settings.checkpointWindows,
        windowMs: c.settings.windowMs,
        ownServerUrl: this.server.url,
        publishToken: (stream) => this.held.publishToken(stream, this.now()),
        subscribeToken: (bs) => this.held.subscribeToken(bs),
        clients: this.clients,
        onError: (err, runner) => this.operatorFailed(err, runner),
        onPublisherLost: (stream, code, reason) => this.publisherLost(stream, code, reason),
        counter: this.counters,
        onSubscriptionTakenOver: (operator, port) => this.takeovers.takenOver(operator, port),
      },
      fresh,
      this.deployed,
    );
    for (const e of entries) this.deployed.set(e.runner.id, e);
    this.state = 'running';
    this.log.info({ operators: entries.map((e) => e.runner.id) }, 'operators deployed');
  }

  /** New credentials from STRAM (held-credentials.ts); live streams are not dropped. */
  private renewCredentials(session: Session, box: Uint8Array): void {
    const applied = this.held.apply(session.credentialsKey, box);
    if (applied.secret) this.rotateSecret(applied.secret);
    refreshStoreLogin(this.checkpoints, this.held.value);
    // Subscriptions move to the new tokens now: whatever secret they replace can then be retired.
    if (applied.subscribe) for (const d of this.deployed.values()) for (const link of d.links.values()) link.refreshNow();
    this.counters.count(ContainerEvent.credentialsApplied);
    this.log.info('credentials renewed');
  }

  /**
   * Live secret rotation (docs/protocol.md "Secret rotation"). A new own secret: the buffer server
   * makes it current and keeps accepting the previous ones; publish tokens are minted from it from
   * now on and each publisher re-registers at its next window boundary.
   */
  private rotateSecret(secret: Buffer): void {
    const server = this.server;
    if (!server) return;
    server.rotateSecret(secret);
    this.secretRotations++;
    this.counters.count(ContainerEvent.secretRotated);
    const links = [...this.deployed.values()].flatMap((d) => [...d.publishers.values()]);
    this.publishersSwitched = Promise.all(links.map((l) => l.renewSoon())).then(() => undefined);
    this.log.info({ rotations: this.secretRotations, accepted: server.acceptedSecrets, publishers: links.length }, 'buffer-server secret rotated');
  }

  /**
   * `retire-secrets`, the rotation's last step (STRAM sends it once every downstream container
   * holds subscribe tokens of the new secret): once every publisher has re-registered, the buffer
   * server stops accepting the previous secrets, closing (4401) whatever still uses one. Off the
   * command queue: a publisher waits for its next window boundary, other commands need not.
   */
  private retireSecrets(): void {
    this.held.dropPrevious();
    const server = this.server;
    if (!server) return;
    void this.publishersSwitched.then(() => {
      if (this.stopping) return;
      // A newer rotation may have come meanwhile: the secrets it still accepts stay.
      const before = server.acceptedSecrets;
      server.retireSecrets(this.held.previousSecrets());
      if (server.acceptedSecrets >= before) return;
      this.counters.count(ContainerEvent.secretsRetired);
      this.log.info({ rotations: this.secretRotations, accepted: server.acceptedSecrets }, 'publishers re-registered; previous buffer-server secrets retired');
    });
  }

  private report(message: string): void {
    this.errors.push(message.slice(0, 1000));
    if (this.errors.length > 20) this.errors.shift();
  }

  private operatorFailed(err: Error, runner: OperatorRunner): void {
    this.report(`operator ${runner.id} failed: ${err.message}`);
    this.failures.push(failureReport(err, this.now(), runner.id));
    void this.stop(ExitCode.operatorFailed, `operator ${runner.id} failed`);
  }

  /**
   * The buffer server closed one of our publishers (its token expired: this process was frozen or
   * cut off past its max date). The stream cannot go on without the windows in flight, so the
   * container must be replaced. It first checks in with STRAM: a container cut off past its
   * STRAM token's max date is refused (4401 expired) and exits stramRefused; otherwise, or when
   * STRAM says nothing within the grace, it exits as failed. Either way STRAM replaces it.
   */
  private publisherLost(stream: string, code: number, reason: string): void {
    if (this.stopping) return;
    this.counters.count(ContainerEvent.publisherLost);
    this.report(`publisher of ${stream} closed by the buffer server (${code} ${reason})`);
    const umbilical = this.umbilical;
    void (async () => {
      if (umbilical) await umbilical.confirm(LOST_PUBLISHER_GRACE_MS);
      void this.stop(ExitCode.failed, `publisher of ${stream} lost (${code} ${reason})`);
    })();
  }

  /** Stops operators, closes streams and the buffer server (removing its spool), then exits. */
  stop(code: ExitCode, reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ code, reason }, 'container stopping');
      this.state = 'stopping';
      if (this.failures.length > 0 && this.umbilical) {
        // Best effort: let STRAM see the failure, with its stack, before the process goes (docs/protocol.md "Umbilical commands and counters").
        await Promise.race([this.umbilical.beat().then(() => this.umbilical?.beat()), new Promise((r) => setTimeout(r, 2000).unref())]);
      }
      this.umbilical?.stop();
      this.identity?.stop();
      const steps: TeardownStep[] = [
        ['operators and streams', () => undeploy([...this.deployed.values()]).then(() => this.deployed.clear())],
        ['buffer server', () => this.server?.close()],
        ['checkpoint store', () => this.checkpoints.close()],
      ];
      await teardownWithin(steps, this.o.stopGraceMs ?? STOP_GRACE_MS, this.log.child({ code }));
      this.o.exit(code);
    })();
    return this.stopping;
  }
}
