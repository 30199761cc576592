import { resolve } from 'node:path';
import { SluiceError, isoTime, type Command, type HeartbeatMessage, type PhysicalPlan } from '@sluice/common';
import type { AgentTable } from './agent-table.js';
import type { AppDir, FailedReport } from './app-dir.js';
import type { AppLock } from './app-lock.js';
import type { CertificateStatus } from './cert-health.js';
import type { StramAuthority } from './authority.js';
import { CommittedWindow } from './committed-window.js';
import type { ContainerAgent } from './container-agent.js';
import { ContainerState, RateTracker, containerView, operatorViews, type ContainerView, type OperatorView } from './container-table.js';
import type { CredentialsKeeper, TokenStatus } from './credentials-keeper.js';
import { offerDeploy } from './deploy.js';
import { HeartbeatMonitor } from './heartbeat-monitor.js';
import type { LaunchSpec, LaunchedContainer, Launcher } from './launcher.js';
import type { StramMetrics } from './metrics.js';
import { markEnding, primitiveOptions, saveState, savedState } from './recovery.js';
import { LossCause, Replacements } from './replacement.js';
import { formatRestart } from './restart-strategy.js';
import { RestServer } from './rest.js';
import { buildLaunch } from './launch.js';
import { buildRecovery, type RecoverOptions } from './recover.js';
import { AppState, type Resolved, type StramOptions, type TokenStore } from './stram-options.js';
import { StreamHealth, stallThreshold } from './stream-health.js';
import type { Built, StramParts } from './stram-parts.js';
import { removeRuntimeFiles, stopProcesses } from './teardown.js';
import { UmbilicalServer, type UmbilicalConnection } from './umbilical-server.js';
import type { AppCa } from './root-rotation.js';

export { AppState, INSECURE_WARNING, planModule, type StramOptions, type TokenStore } from './stram-options.js';

/**
 * The application master (docs/architecture.md "Processes"): serves the umbilical and the REST
 * API, hands each heartbeat to its container's agent and the small units that read agent state
 * and add commands (deploy, committed window, recovery, credentials), watches processes and
 * heartbeats, and shuts everything down — or, when the restart strategy gives up, fails the app
 * (docs/guide.md "Restart strategies"). `Stram.launch` (launch.ts) and `Stram.recover`
 * (recover.ts) build it, holding the app directory's lock (app-lock.ts); each container's state
 * lives in its agent (container-agent.ts).
 */

export class Stram {
  readonly metrics: StramMetrics;
  readonly startedAt: number;
  readonly appId: string;
  readonly dir: AppDir;
  readonly plan: PhysicalPlan;
  private readonly o: Resolved;
  private readonly agents: AgentTable;
  private readonly keeper: CredentialsKeeper;
  private readonly launcher: Launcher;
  private readonly tokens: TokenStore;
  private readonly monitor: HeartbeatMonitor;
  private readonly committed: CommittedWindow;
  private readonly replacements: Replacements;
  private readonly rates = new RateTracker();
  private readonly health: StreamHealth;
  private readonly umbilical: UmbilicalServer;
  private readonly rest: RestServer;
  private readonly lock: AppLock;
  private state: AppState = AppState.running;
  private stopping: Promise<void> | undefined;
  private shutdownReason = '';
  private failed: { reason: string; at: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private resolveStopped!: () => void;
  /** Settles once the app has shut down (by REST, signal or `shutdown()`). */
  readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));

  /** Plans the app, seeds credentials, starts the servers and launches every container (launch.ts). */
  static async launch(options: StramOptions): Promise<Stram> {
    return Stram.start(await buildLaunch(options));
  }

  /**
   * Resumes the app saved in `appDir` after its STRAM died (`sluice launch --recover`; recover.ts):
   * same app id, keys and tokens, the umbilical on its old port, the running containers adopted
   * rather than relaunched. `options` override what was saved (timeouts, logger, launcher).
   */
  static async recover(options: RecoverOptions): Promise<Stram> {
    return Stram.start(await buildRecovery(options));
  }

  /** Builds the Stram from its parts; the builder then launches or adopts its containers through these steps (private to the builders). */
  private static async start(built: Built): Promise<Stram> {
    const s = new Stram(built.parts, built.parts.ca);
    await built.start({
      publish: () => s.publish(),
      launchAll: () => s.launchAll(),
      adopt: (agent, pid) => s.adopt(agent, pid),
      replaceUnrecoverable: (agent) => s.replaceUnrecoverable(agent),
      run: () => s.run(),
    });
    return s;
  }

  private constructor(p: StramParts, private readonly tls: AppCa | undefined) {
    this.o = p.o;
    this.appId = p.appId;
    this.dir = p.dir;
    this.plan = p.plan;
    this.metrics = p.metrics;
    this.agents = p.agents;
    this.keeper = p.keeper;
    this.metrics.atScrape.tokenExpiries = () => this.keeper.expiries();
    this.launcher = p.launcher;
    this.tokens = p.tokens;
    this.lock = p.lock;
    this.startedAt = p.o.clock.now();
    this.monitor = new HeartbeatMonitor({ clock: p.o.clock, heartbeatTimeoutMs: p.o.heartbeatTimeoutMs, launchTimeoutMs: p.o.launchTimeoutMs });
    this.committed = new CommittedWindow(p.committed, p.metrics.committedWindow);
    this.health = new StreamHealth({ plan: p.plan, metrics: p.metrics, stallAfterMs: stallThreshold(p.o) });
    this.replacements = new Replacements({
      agents: p.agents,
      keeper: p.keeper,
      monitor: this.monitor,
      metrics: p.metrics,
      logger: p.o.logger,
      clock: p.o.clock,
      strategy: p.o.restartStrategy,
      committed: () => this.committed.value,
      launch: (agent) => this.launch(agent),
      persist: () => this.persist(),
      running: () => this.state === AppState.running,
      fail: (reason) => this.fail(reason),
    });
    for (const a of p.agents) for (const cause of Object.values(LossCause)) p.metrics.containerLosses.inc({ container: a.id, cause }, 0);
    for (const op of p.plan.operators) p.metrics.operatorFailures.inc({ operator: op.id }, 0);
    this.metrics.countKeyRollsFrom(() => this.tokens.keyRolls ?? 0);
    const log = p.o.logger;
    this.umbilical = UmbilicalServer.serve(p.umbilical, {
      service: p.authority.service,
      authority: p.authority,
      metrics: p.metrics,
      logger: log,
      clock: p.o.clock,
      handler: {
        onConnect: (conn) => log.info({ container: conn.container }, 'container connected'),
        onHeartbeat: (conn, hb) => this.onHeartbeat(conn, hb),
        onDisconnect: (conn, code) => log.info({ container: conn.container, code }, 'container disconnected'),
        ...(tls ? { onCsr: tls.onCsr } : {}),
      },
    });
    this.rest = RestServer.serve(p.rest.listener, {
      app: p.appId,
      key: p.rest.key,
      metrics: p.metrics,
      clock: p.o.clock,
      logger: log,
      backend: {
        app: () => this.appView(),
        containers: () => ({ containers: this.containers() }),
        operators: () => ({ operators: this.operators() }),
        status: () => ({ app: this.appView(), containers: this.containers(), operators: this.operators() }),
        shutdown: (reason) => void this.shutdown(reason),
        restart: (id) => this.replacements.request(id),
      },
    });
  }

  /** Launches a process for every container (a new app). */
  private launchAll(): void {
    for (const a of this.agents) this.launch(a);
  }

  /** STRAM restart: watch the process the previous STRAM launched (by its pid, when the launcher can), or rely on heartbeats alone. */
  private adopt(agent: ContainerAgent, pid: number | null): void {
    const r = agent.record;
    r.adopted = true;
    const proc = this.launcher.adopt?.(this.specOf(agent), pid);
    if (proc) {
      this.watch(agent, proc);
    } else {
      r.state = ContainerState.launching;
      r.launchedAt = this.o.clock.now();
    }
    this.monitor.adopted(agent.id);
  }

  /** STRAM restart: a container whose credentials are gone cannot go on; it is replaced. */
  private replaceUnrecoverable(agent: ContainerAgent): void {
    this.metrics.containerLosses.inc({ container: agent.id, cause: LossCause.noCredentials });
    this.replacements.replaceNow(agent, LossCause.noCredentials, 'no credentials left after the STRAM restart');
  }

  /** Writes stram.json: where this STRAM listens, for `sluice status` and `sluice shutdown` (no secrets). */
  private publish(): void {
    this.dir.writeInfo({
      appId: this.appId,
      name: this.plan.logical.app,
      pid: process.pid,
      umbilical: this.umbilical.url,
      rest: this.rest.url,
      startedAt: new Date(this.startedAt).toISOString(),
      insecure: this.o.insecure,
    });
  }

  /** Saves the state, starts the heartbeat watch and the renewals; the containers are launched or adopted by now. */
  private run(): void {
    this.persist();
    this.timer = setInterval(() => this.tick(), Math.min(this.o.heartbeatIntervalMs, 2 ** 31 - 1));
    this.timer.unref();
    this.keeper.start();
    this.updateGauges();
    this.o.logger.info({ umbilical: this.umbilical.url, rest: this.rest.url, containers: this.agents.size }, 'app launched');
  }

  private specOf(agent: ContainerAgent): LaunchSpec {
    return { container: agent.id, credentialsPath: this.dir.credentials(agent.id), logPath: this.dir.containerLog(agent.id), app: this.appId, appDir: this.dir.root, appModule: resolve(this.o.appModule) };
  }

  private launch(agent: ContainerAgent): void {
    this.watch(agent, this.launcher.launch(this.specOf(agent)));
    this.monitor.launched(agent.id);
  }

  private watch(agent: ContainerAgent, proc: LaunchedContainer): void {
    const r = agent.record;
    r.process = proc;
    r.exit = undefined;
    r.state = ContainerState.launching;
    r.launchedAt = this.o.clock.now();
    void proc.exited.then((exit) => {
      if (r.process !== proc) return; // a process already replaced
      r.exit = exit;
      r.state = ContainerState.exited;
      this.monitor.unwatch(r.id);
      this.updateGauges();
      // Already lost (silent, then killed): one loss, counted once.
      if (this.state !== AppState.running || this.replacements.isPending(r.id)) return;
      this.o.logger.error({ container: r.id, ...exit }, 'container exited unexpectedly');
      this.metrics.containerExits.inc({ container: r.id, code: String(exit.code ?? exit.signal) });
      this.metrics.containerLosses.inc({ container: r.id, cause: LossCause.exited });
      this.replacements.lost(agent, LossCause.exited, `process exited (${exit.code !== null ? `code ${exit.code}` : exit.signal})`);
    });
  }

  /**
   * A heartbeat (docs/architecture.md "Processes"), already checked to come from the container's
   * own session: it goes to the container's agent, each unit adds what it has to say, and the
   * agent's outbox drains into the ack.
   */
  private onHeartbeat(conn: UmbilicalConnection, hb: HeartbeatMessage): Command[] {
    const agent = this.agents.get(conn.container);
    if (!agent) throw new SluiceError('OUT_OF_SCOPE', `container ${conn.container} is not part of app ${this.appId}`);
    // A process already given up on (its replacement waits out the restart delay) has nothing to say.
    if (this.replacements.isPending(agent.id)) return [{ c: 'shutdown', reason: 'this container was found lost and is being replaced' }];
    const now = this.o.clock.now();
    const heard = agent.heartbeat(hb, conn, now);
    this.monitor.heard(agent.id, now);
    this.metrics.observe(agent.id, hb, heard.failures);
    for (const s of hb.operators) this.rates.update(s.id, now, s.tuplesIn, s.tuplesOut);
    for (const f of heard.failures) this.o.logger.error({ container: agent.id, operator: f.operator, failure: f.message, stack: f.stack }, 'operator failed');
    this.health.observe(agent.record, hb, now);
    if (this.state !== AppState.running) return [{ c: 'shutdown', reason: this.shutdownReason }];
    let changed = heard.bufferServerChanged;
    changed = this.replacements.onHeartbeat(agent, hb, heard) || changed;
    this.keeper.onHeartbeat(agent);
    if (offerDeploy(agent, this.agents)) {
      changed = true;
      this.o.logger.info({ container: agent.id, operators: agent.record.operators }, 'deploy sent');
    }
    this.committed.offer(agent);
    if (changed) this.persist();
    return agent.drain(conn);
  }

  /**
   * Once per heartbeat interval: the committed window (on disk before any container hears of it:
   * a recovered STRAM must never restore from a window older than what containers have purged),
   * containers silent past their timeout (SIGSTOP, a hung process, a network cut, one that did not
   * come back after a STRAM restart) and replacements that failed and are retried.
   */
  private tick(): void {
    if (this.committed.recompute(this.agents)) this.persist();
    this.health.update(this.o.clock.now());
    for (const { id, silentMs } of this.monitor.overdue()) {
      this.o.logger.error({ container: id, silentMs }, 'container stopped heartbeating');
      this.metrics.containerLosses.inc({ container: id, cause: LossCause.silent });
      this.replacements.lost(this.agents.get(id)!, LossCause.silent, `no heartbeat for ${silentMs} ms`);
    }
    this.replacements.retry();
    this.updateGauges();
  }

  /** Writes what a recovered STRAM needs (state.json, 0600, no secrets). */
  private persist(): void {
    if (this.state !== AppState.running) return;
    const o = this.o;
    const app = { appId: this.appId, appModule: resolve(o.appModule), user: o.user, realUser: o.realUser, insecure: o.insecure, config: o.config, options: primitiveOptions(o), ...(o.postgres ? { postgres: { url: o.postgres.url, passwordFile: resolve(o.postgres.passwordFile) } } : {}) };
    saveState(this.dir, savedState(app, Number(new URL(this.umbilical.url).port), this.committed.value, this.agents));
  }

  private updateGauges(): void {
    const counts: Record<string, number> = { launching: 0, running: 0, lost: 0, exited: 0 };
    for (const a of this.agents) counts[a.record.state] = (counts[a.record.state] ?? 0) + 1;
    for (const [state, n] of Object.entries(counts)) this.metrics.containers.set({ state }, n);
  }

  // ---- views (no secrets) -------------------------------------------------------------------------
  get umbilicalUrl(): string {
    return this.umbilical.url;
  }
  get restUrl(): string {
    return this.rest.url;
  }
  get appState(): AppState {
    return this.state;
  }
  get committedWindow(): number {
    return this.committed.value;
  }
  /** Why and when the app FAILED (its restart strategy gave up); undefined unless it did. */
  get failure(): { reason: string; at: string } | undefined {
    return this.failed && { reason: this.failed.reason, at: new Date(this.failed.at).toISOString() };
  }

  containers(): (ContainerView & { tokens: TokenStatus | null; certificate: CertificateStatus | null })[] {
    return [...this.agents].map((a) => ({ ...containerView(a.record, this.keeper.expiryOf(a.id)), tokens: this.keeper.statusOf(a.id), certificate: this.tls?.certificates.statusOf(a.id) ?? null }));
  }

  operators(): OperatorView[] {
    return operatorViews(this.plan, this.agents.records(), this.rates, (id) => this.health.isStalled(id));
  }

  appView(): Record<string, unknown> {
    const containers = this.containers();
    return {
      id: this.appId,
      name: this.plan.logical.app,
      state: this.state,
      secure: !this.o.insecure,
      tls: this.o.tls,
      user: this.o.user,
      owner: this.o.user,
      realUser: this.o.realUser,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeMs: this.o.clock.now() - this.startedAt,
      appDir: this.dir.root,
      umbilical: this.umbilical.url,
      rest: this.rest.url,
      containers: { total: containers.length, running: containers.filter((c) => c.state === ContainerState.running).length },
      operators: this.plan.operators.length,
      committedWindow: this.committed.value,
      restartStrategy: formatRestart(this.o.restartStrategy),
      failure: this.failure ?? null,
      subscriberTakeovers: this.health.takeovers(),
      stores: this.keeper.storeStatus(),
      /** The logical DAG: operators with their partitions, and the streams between their ports. */
      dag: {
        operators: this.plan.logical.order.map((name) => ({ name, partitions: this.plan.logical.operators.find((op) => op.name === name)!.partitions })),
        streams: this.plan.logical.streams.map((st) => ({ name: st.name, from: st.from.operator, to: st.to.map((t) => t.operator), locality: st.locality })),
      },
      tokens: {
        ...this.keeper.totals(),
        keyRolls: this.tokens.keyRolls ?? 0,
        renewIntervalMs: this.o.renewIntervalMs,
        maxLifetimeMs: this.o.maxLifetimeMs,
        keyUpdateIntervalMs: this.o.keyUpdateIntervalMs,
      },
    };
  }

  // ---- shutdown and failure ---------------------------------------------------------------------
  /**
   * Sends `shutdown` to every container (with its next heartbeat-ack), waits for the processes to
   * exit, kills those still running after the grace period, then closes the servers, cancels the
   * tokens and removes credentials and spool files. Idempotent.
   */
  shutdown(reason = 'shutdown requested'): Promise<void> {
    return this.stop(AppState.stopped, reason);
  }

  /**
   * The restart strategy gave up (docs/guide.md "Restart strategies"): the app is FAILED. It stops
   * as at shutdown — containers told to stop, tokens cancelled, credentials removed — and keeps its
   * directory, with failed.json saying why, for `sluice status` once this STRAM is gone.
   */
  private fail(reason: string): void {
    if (this.state !== AppState.running) return;
    this.failed = { reason, at: this.o.clock.now() };
    this.o.logger.error({ reason }, 'app FAILED');
    void this.stop(AppState.failed, reason);
  }

  private stop(end: typeof AppState.stopped | typeof AppState.failed, reason: string): Promise<void> {
    this.stopping ??= this.teardown(end, reason).finally(() => this.resolveStopped());
    return this.stopping;
  }

  private async teardown(end: typeof AppState.stopped | typeof AppState.failed, reason: string): Promise<void> {
    const log = this.o.logger;
    // Heartbeats are answered `shutdown` from now on; REST says `failed` at once for a failure.
    this.state = end === AppState.failed ? AppState.failed : AppState.stopping;
    this.shutdownReason = reason;
    log.info({ reason }, 'shutting down');
    markEnding(this.dir, { state: end, reason, at: isoTime(this.o.clock.now()) });
    if (end === AppState.failed) this.dir.writeFailed(this.failedReport());
    clearInterval(this.timer);
    this.tls?.stop();
    this.replacements.cancel();
    await stopProcesses([...this.agents].map((a) => a.record), this.o.shutdownGraceMs, log);
    await this.launcher.close?.(this.appId).catch((err: Error) => log.warn({ err: err.message }, 'launcher cleanup failed'));
    await Promise.all([this.umbilical.close(), this.rest.close()]);
    await this.keeper.cancelAll();
    await this.tokens.close?.();
    this.state = end;
    if (end === AppState.failed) this.dir.writeFailed(this.failedReport());
    removeRuntimeFiles(this.dir, [...this.agents].map((a) => a.id));
    this.lock.release();
    this.updateGauges();
    log.info({ state: end }, end === AppState.failed ? 'app FAILED; its directory is kept' : 'app stopped');
  }

  private failedReport(): FailedReport {
    const failure = this.failure!;
    return { app: { ...this.appView(), id: this.appId, state: AppState.failed, failure }, containers: this.containers(), operators: this.operators() };
  }
}
