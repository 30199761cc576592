import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  SluiceError,
  StramSecretManager,
  advertisedUrl,
  deployFor,
  generateSecret,
  sealCredentials,
  subscriptionsOf,
  tokenFromText,
  writeCredentials,
  writeFileAtomic,
  type Command,
  type HeartbeatMessage,
  type PhysicalPlan,
  type Token,
} from '@sluice/common';
import { AppDir, defaultAppDir, newAppId } from './app-dir.js';
import { InsecureDelegationTokens, StramAuthority } from './authority.js';
import { ContainerState, RateTracker, containerView, newRecord, operatorViews, type ContainerRecord, type ContainerView, type OperatorView } from './container-table.js';
import { LocalLauncher, type LaunchSpec, type LaunchedContainer, type Launcher } from './launcher.js';
import { StramMetrics } from './metrics.js';
import { RestServer, signWebToken } from './rest.js';
import { UmbilicalServer, type UmbilicalConnection } from './umbilical-server.js';
import { CredentialsKeeper, type TokenStatus } from './credentials-keeper.js';
import { StreamHealth, stallThreshold } from './stream-health.js';
import { AppState, INSECURE_WARNING, planModule, resolveOptions, type Resolved, type StramOptions, type TokenStore } from './stram-options.js';

export { AppState, INSECURE_WARNING, planModule, type StramOptions, type TokenStore } from './stram-options.js';
import { credentialsOf, downstreamOf, loadState, primitiveOptions, resubscribesFor, saveState, statePath, tokenSeqs, type SavedState } from './recovery.js';

/**
 * The application master (issue 5): plans the app, seeds each container's credentials, launches
 * containers, serves the umbilical and the REST API, sends deploys once upstream buffer servers
 * are known, tracks the committed window, and shuts everything down.
 */

const KILL_AFTER_TERM_MS = 2_000;

export class Stram {
  readonly metrics = new StramMetrics();
  readonly startedAt: number;
  private readonly records = new Map<string, ContainerRecord>();
  private keeper!: CredentialsKeeper;
  private readonly rates = new RateTracker();
  private readonly health: StreamHealth;
  private umbilical!: UmbilicalServer;
  private rest!: RestServer;
  private state: AppState = AppState.running;
  private committed = 0;
  private stopping: Promise<void> | undefined;
  private shutdownReason = '';
  private timers: NodeJS.Timeout[] = [];
  private resolveStopped!: () => void;
  /** Settles once the app has shut down (by REST, signal or `shutdown()`). */
  readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));

  private constructor(
    private readonly o: Resolved,
    readonly appId: string,
    readonly dir: AppDir,
    readonly plan: PhysicalPlan,
    private readonly tokens: TokenStore,
    private readonly authority: StramAuthority,
    private readonly launcher: Launcher,
  ) {
    this.startedAt = o.clock.now();
    this.health = new StreamHealth({ plan, metrics: this.metrics, stallAfterMs: stallThreshold(o) });
  }

  /** Plans the app, seeds credentials, starts the servers and launches every container. */
  static async launch(options: StramOptions): Promise<Stram> {
    const o = resolveOptions(options);
    const plan = await planModule(o.appModule, o.config);
    const appId = o.appId ?? newAppId(plan.logical.app);
    const dir = new AppDir(resolve(o.appDir ?? defaultAppDir(appId)));
    dir.create();
    const logger = o.logger.child({ app: appId });
    o.logger = logger;
    if (o.insecure) logger.warn(INSECURE_WARNING);
    const store: TokenStore = o.insecure
      ? new InsecureDelegationTokens(o.clock, o.maxLifetimeMs)
      : await StramSecretManager.open({
          app: appId,
          stateDir: dir.stramDir,
          clock: o.clock,
          keyUpdateIntervalMs: o.keyUpdateIntervalMs,
          renewIntervalMs: o.renewIntervalMs,
          maxLifetimeMs: o.maxLifetimeMs,
          removalScanIntervalMs: o.removalScanIntervalMs,
          logger,
        });
    const tokens = o.wrapTokenStore ? o.wrapTokenStore(store) : store;
    const authority = new StramAuthority({ app: appId, tokens, clock: o.clock, owner: o.user, bufferTokenTtlMs: o.maxLifetimeMs, insecure: o.insecure });
    const launcher = o.launcher ?? new LocalLauncher({ entry: o.containerEntry!, logger, ...(o.containerLogLevel ? { logLevel: o.containerLogLevel } : {}) });
    const stram = new Stram(o, appId, dir, plan, tokens, authority, launcher);
    await stram.start();
    return stram;
  }

  /**
   * Resumes the app saved in `appDir` after its STRAM died (`sluice launch --recover`, issue 6):
   * same app id, keys and tokens (the secret manager reloads `<appDir>/stram`), the umbilical on
   * its old port, and the running containers adopted rather than relaunched — they reconnect with
   * the tokens they hold. Those that do not heartbeat within the heartbeat timeout are replaced.
   * `options` override what was saved (timeouts, logger, launcher).
   */
  static async recover(options: Partial<StramOptions> & { appDir: string }): Promise<Stram> {
    const dir = new AppDir(resolve(options.appDir));
    const saved = loadState(dir);
    if (existsSync(dir.info)) {
      const { pid } = dir.readInfo();
      if (pid !== process.pid && processAlive(pid)) throw new SluiceError('BAD_CONFIG', `the STRAM of ${saved.appId} is still running (pid ${pid}); recover only an app whose STRAM is gone`);
    }
    return Stram.launch({
      ...(saved.options as Partial<StramOptions>),
      ...options,
      appModule: saved.appModule,
      appId: saved.appId,
      appDir: dir.root,
      config: saved.config,
      user: saved.user,
      insecure: saved.insecure,
      recoverFrom: saved,
    });
  }

  private async start(): Promise<void> {
    const o = this.o;
    if (o.recoverFrom) {
      this.committed = o.recoverFrom.committed;
      this.metrics.committedWindow.set(this.committed);
    }
    // Master key rolls and the expired-token scan (DESIGN.md "Token lifetime").
    this.tokens.start?.();
    this.metrics.countKeyRollsFrom(() => this.tokens.keyRolls ?? 0);
    const umbilical = {
      service: this.authority.service,
      authority: this.authority,
      metrics: this.metrics,
      logger: o.logger,
      clock: o.clock,
      host: o.host,
      handler: {
        onConnect: (conn: UmbilicalConnection) => o.logger.info({ container: conn.container }, 'container connected'),
        onHeartbeat: (conn: UmbilicalConnection, hb: HeartbeatMessage) => this.onHeartbeat(conn, hb),
        onDisconnect: (conn: UmbilicalConnection, code: number) => o.logger.info({ container: conn.container, code }, 'container disconnected'),
      },
    };
    // A recovered STRAM listens where the previous one did: its containers hold that URL (issue 6).
    const port = o.recoverFrom?.umbilicalPort;
    this.umbilical = await UmbilicalServer.listen(port ? { ...umbilical, port } : umbilical).catch((err: Error) => {
      if (!port) throw err;
      o.logger.warn({ port, err: err.message }, 'the previous umbilical port is taken; listening on a new one (containers find it in their credentials files)');
      return UmbilicalServer.listen(umbilical);
    });
    this.keeper = new CredentialsKeeper({
      app: this.appId,
      plan: this.plan,
      dir: this.dir,
      authority: this.authority,
      logger: o.logger,
      renew: this.tokens.renew?.bind(this.tokens),
      clock: o.clock,
      metrics: this.metrics,
      ...(o.renewalPolicy ? { policy: o.renewalPolicy } : {}),
      common: {
        stramUrl: advertisedUrl(this.umbilical.url, o.advertiseHost),
        appModule: resolve(o.appModule),
        appDir: this.dir.root,
        config: o.config,
        settings: { heartbeatIntervalMs: o.heartbeatIntervalMs, heartbeatTimeoutMs: o.heartbeatTimeoutMs, stramLossTimeoutMs: o.stramLossTimeoutMs, maxLifetimeMs: o.maxLifetimeMs, windowMs: o.windowMs, checkpointWindows: o.checkpointWindows, insecure: o.insecure, ...(o.containerBindHost ? { bindHost: o.containerBindHost } : {}) },
      },
    });
    const webKey = generateSecret();
    writeFileAtomic(this.dir.webKey, `${webKey.toString('hex')}\n`);
    this.rest = await RestServer.listen({
      app: this.appId,
      key: webKey,
      metrics: this.metrics,
      clock: o.clock,
      logger: o.logger,
      host: o.host,
      backend: {
        app: () => this.appView(),
        containers: () => ({ containers: this.containers() }),
        operators: () => ({ operators: this.operators() }),
        shutdown: (reason) => void this.shutdown(reason),
      },
    });
    writeFileAtomic(this.dir.webToken, `${await signWebToken(webKey, { app: this.appId, user: o.user, now: o.clock.now(), ttlMs: o.webTokenTtlMs })}\n`);
    for (const c of this.plan.containers) {
      const r = newRecord(this.plan, c.id, o.clock.now());
      this.records.set(c.id, r);
      if (o.recoverFrom) this.adoptRecord(r, o.recoverFrom);
      else await this.keeper.issue(c.id);
    }
    this.dir.writeInfo({
      appId: this.appId,
      name: this.plan.logical.app,
      pid: process.pid,
      umbilical: this.umbilical.url,
      rest: this.rest.url,
      startedAt: new Date(this.startedAt).toISOString(),
      insecure: o.insecure,
    });
    for (const r of this.records.values()) {
      if (o.recoverFrom) this.resume(r, o.recoverFrom);
      else this.launchContainer(r);
    }
    this.persist();
    this.every(o.heartbeatIntervalMs, () => this.watch());
    this.keeper.start();
    this.updateGauges();
    o.logger.info({ umbilical: this.umbilical.url, rest: this.rest.url, containers: this.records.size }, 'app launched');
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, Math.min(ms, 2 ** 31 - 1));
    t.unref();
    this.timers.push(t);
  }

  private specOf(r: ContainerRecord): LaunchSpec {
    return { container: r.id, credentialsPath: this.dir.credentials(r.id), logPath: this.dir.containerLog(r.id) };
  }

  private launchContainer(r: ContainerRecord): void {
    this.watchProcess(r, this.launcher.launch(this.specOf(r)));
  }

  private watchProcess(r: ContainerRecord, proc: LaunchedContainer): void {
    r.process = proc;
    r.exit = undefined;
    r.state = ContainerState.launching;
    r.launchedAt = this.o.clock.now();
    void proc.exited.then((exit) => {
      if (r.process !== proc) return; // a process already replaced
      r.exit = exit;
      r.state = ContainerState.exited;
      this.updateGauges();
      if (this.state === AppState.running) {
        this.o.logger.error({ container: r.id, ...exit }, 'container exited unexpectedly; replacing it');
        void this.replace(r, `process exited (${exit.code ?? exit.signal})`);
      }
    });
  }

  // ---- umbilical -------------------------------------------------------------------------------
  private onHeartbeat(conn: UmbilicalConnection, hb: HeartbeatMessage): Command[] {
    const r = this.records.get(conn.container);
    if (!r) throw new SluiceError('OUT_OF_SCOPE', `container ${conn.container} is not part of app ${this.appId}`);
    const mine = new Set(r.operators);
    const foreign = hb.operators.find((s) => !mine.has(s.id));
    // A container speaks only for its own operators (it must not skew another's stats or the committed window).
    if (foreign) throw new SluiceError('OUT_OF_SCOPE', `container ${r.id} reported operator ${foreign.id}, which it does not run`);
    const now = this.o.clock.now();
    r.lastHeartbeatAt = now;
    r.heartbeats++;
    r.reportedState = hb.state;
    if (r.state !== ContainerState.exited) r.state = ContainerState.running;
    let changed = false;
    if (hb.bufferServer && hb.bufferServer !== r.bufferServerUrl) {
      r.bufferServerUrl = hb.bufferServer;
      changed = true;
    }
    if (hb.errors?.length) r.errors = hb.errors.slice(-20);
    this.metrics.heartbeats.inc({ container: r.id });
    for (const s of hb.operators) {
      r.stats.set(s.id, s);
      this.rates.update(s.id, now, s.tuplesOut > 0 ? s.tuplesOut : s.tuplesIn);
      this.metrics.tuples.set({ operator: s.id, direction: 'in' }, s.tuplesIn);
      this.metrics.tuples.set({ operator: s.id, direction: 'out' }, s.tuplesOut);
      this.metrics.operatorWindow.set({ operator: s.id }, s.window);
    }
    this.health.observe(r, hb, now);
    if (this.state !== AppState.running) return [{ c: 'shutdown', reason: this.shutdownReason }];
    const commands = [...this.recoveryCommands(r, hb, conn.session.credentialsKey), ...r.pending.splice(0)];
    if (!r.deployed) {
      if (this.upstreamOf(r.id).every((id) => this.records.get(id)?.bufferServerUrl)) {
        const restore = r.restore > 0 ? new Map(r.operators.map((op) => [op, r.restore])) : undefined;
        commands.push({ c: 'deploy', operators: deployFor(this.plan, r.id, this.bufferServerUrls(), restore) });
        r.deployed = true;
        changed = true;
        this.o.logger.info({ container: r.id, operators: r.operators }, 'deploy sent');
      }
    }
    // The committed window is recomputed once per heartbeat interval (watch), not per heartbeat:
    // with many containers a per-heartbeat scan of every operator would be quadratic.
    if (this.committed > r.committedSent && r.deployed) {
      commands.push({ c: 'committed', w: this.committed });
      r.committedSent = this.committed;
    }
    commands.push(...this.keeper.commandsFor(r.id, conn.session.credentialsKey));
    if (changed) this.persist();
    return commands;
  }


  private readonly upstreams = new Map<string, string[]>();

  /** The containers whose buffer servers container `id` reads from (computed once). */
  private upstreamOf(id: string): string[] {
    let ids = this.upstreams.get(id);
    if (!ids) {
      const byBs = new Map(this.plan.containers.map((c) => [c.bufferServer, c.id]));
      ids = [...subscriptionsOf(this.plan, id).keys()].map((bs) => byBs.get(bs)!);
      this.upstreams.set(id, ids);
    }
    return ids;
  }

  private bufferServerUrls(): Map<string, string> {
    const urls = new Map<string, string>();
    for (const r of this.records.values()) if (r.bufferServerUrl) urls.set(r.id, r.bufferServerUrl);
    return urls;
  }

  /** Committed window = min over every operator of its last checkpoint (DESIGN.md "Windows, checkpoints, recovery"). */
  private updateCommitted(): void {
    let min = Number.MAX_SAFE_INTEGER;
    for (const op of this.plan.operators) {
      const s = this.records.get(op.container)?.stats.get(op.id);
      min = Math.min(min, s?.checkpoint ?? 0);
    }
    if (min > this.committed && min !== Number.MAX_SAFE_INTEGER) {
      this.committed = min;
      this.metrics.committedWindow.set(min);
      // On disk before any container hears of it: a recovered STRAM must never restore from a
      // window older than what containers have purged (issue 6).
      this.persist();
    }
  }

  /**
   * Replaces containers silent for longer than the heartbeat timeout (SIGSTOP, a hung process, a
   * network cut, or one that did not come back after a STRAM restart), and retries replacements
   * that failed (e.g. the token store was unavailable).
   */
  private watch(): void {
    this.updateCommitted();
    const now = this.o.clock.now();
    this.health.update(now);
    for (const r of this.records.values()) {
      const since = r.lastHeartbeatAt ?? r.launchedAt;
      // A process this STRAM started gets the launch timeout for its first heartbeat; one adopted after a restart is already up.
      const timeout = r.lastHeartbeatAt === undefined && !this.unconfirmed.has(r.id) ? Math.max(this.o.launchTimeoutMs, this.o.heartbeatTimeoutMs) : this.o.heartbeatTimeoutMs;
      if ((r.state === ContainerState.running || r.state === ContainerState.launching) && now - since > timeout) {
        r.state = ContainerState.lost;
        this.o.logger.error({ container: r.id, silentMs: now - since }, 'container stopped heartbeating; replacing it');
        void this.replace(r, `no heartbeat for ${now - since} ms`);
      } else if (r.state === ContainerState.lost || r.state === ContainerState.exited) {
        void this.replace(r, 'retrying the replacement');
      }
    }
    this.updateGauges();
  }

  // ---- recovery (issue 6; DESIGN.md "Windows, checkpoints, recovery") ------------------------------
  private readonly replacing = new Set<string>();
  /** Containers adopted after a STRAM restart that have not heartbeated yet. */
  private readonly unconfirmed = new Set<string>();

  /**
   * Replaces container `r` the way Apex's StreamingContainerManager does: the old process is
   * killed if it still exists (a SIGSTOPped one too), its STRAM token cancelled and its subscribe
   * tokens revoked at the upstream buffer servers; the replacement gets fresh credentials — a new
   * buffer-server secret, so every token for the dead server dies with it, and downstream
   * containers get subscribe tokens for the new one — and restores its operators from the
   * committed window, which every downstream operator has passed and every upstream buffer server
   * still holds (they purge only up to it). Downstream inputs re-subscribe once it reports its
   * buffer server (recoveryCommands).
   */
  private async replace(r: ContainerRecord, reason: string): Promise<void> {
    if (this.state !== AppState.running || this.replacing.has(r.id)) return;
    this.replacing.add(r.id);
    const log = this.o.logger;
    try {
      r.state = ContainerState.lost;
      r.process?.kill('SIGKILL');
      const old = credentialsOf(this.dir, r.id);
      for (const [bs, seq] of Object.entries(tokenSeqs(old).subscribe)) {
        this.recordOfBufferServer(bs)?.pending.push({ c: 'revoke', seqs: [seq] });
      }
      this.authority.rotateSecret(r.bufferServer);
      await this.keeper.replace(r.id);
      if (this.state !== AppState.running) return;
      for (const id of downstreamOf(this.plan, (c) => this.upstreamOf(c), r.id)) this.records.get(id)!.pushSubscribe.add(r.bufferServer);
      r.restore = this.committed;
      // Until the replacement checkpoints anew, its operators count as checkpointed at the
      // restore window: the committed window must not pass it, or upstreams would purge what it replays.
      for (const [id, st] of r.stats) r.stats.set(id, { ...st, window: r.restore, checkpoint: r.restore });
      r.bufferServerUrl = null;
      r.deployed = false;
      r.committedSent = 0;
      r.pending = [];
      r.pushSubscribe.clear();
      r.announce = true;
      r.lastHeartbeatAt = undefined;
      r.errors = [];
      r.restarts++;
      this.unconfirmed.delete(r.id);
      this.metrics.containerRestarts.inc({ container: r.id });
      log.warn({ container: r.id, reason, restoreWindow: r.restore, restarts: r.restarts }, 'replacing container');
      this.launchContainer(r);
      this.persist();
    } catch (err) {
      // watch() retries while the record stays lost.
      log.error({ container: r.id, err: (err as Error).message }, 'container replacement failed; will retry');
    } finally {
      this.replacing.delete(r.id);
      this.updateGauges();
    }
  }

  private recordOfBufferServer(bs: string): ContainerRecord | undefined {
    for (const r of this.records.values()) if (r.bufferServer === bs) return r;
    return undefined;
  }

  /**
   * Recovery's share of a heartbeat-ack, ahead of the pending commands: new subscribe tokens for
   * replaced upstreams (sealed, before any resubscribe that needs them), and — once a replacement
   * reports its buffer server — a resubscribe for every downstream input reading from it.
   */
  private recoveryCommands(r: ContainerRecord, hb: HeartbeatMessage, sessionKey: Uint8Array): Command[] {
    const commands: Command[] = [];
    if (this.unconfirmed.delete(r.id) && r.deployed && hb.operators.length === 0 && hb.state === 'starting') {
      r.deployed = false; // STRAM died before this container got its deploy
    }
    if (r.pushSubscribe.size > 0) {
      const held = credentialsOf(this.dir, r.id);
      if (held) {
        const reads = subscriptionsOf(this.plan, r.id);
        const subscribe = { ...held.subscribe };
        for (const bs of r.pushSubscribe) subscribe[bs] = this.authority.subscribeToken(r.id, bs, reads.get(bs) ?? []);
        // The container merges the changed fields, writes its credentials file and uses them for new connections.
        commands.push({ c: 'credentials', box: sealCredentials(sessionKey, { subscribe }) });
      }
      r.pushSubscribe.clear();
    }
    if (r.announce && r.bufferServerUrl) {
      r.announce = false;
      const me = this.plan.containers.find((c) => c.id === r.id)!;
      for (const id of downstreamOf(this.plan, (c) => this.upstreamOf(c), r.id)) {
        const d = this.records.get(id)!;
        // A downstream not deployed yet (or being replaced itself) gets the new URL in its deploy.
        if (d.deployed) d.pending.push(...resubscribesFor(this.plan, id, me, r.bufferServerUrl, r.restore + 1));
      }
      this.o.logger.info({ container: r.id, bufferServer: r.bufferServerUrl }, 'downstream containers told to re-subscribe');
      this.persist();
    }
    return commands;
  }

  /** STRAM restart: container `r` runs on with the credentials it holds; this STRAM takes them over. */
  private adoptRecord(r: ContainerRecord, saved: SavedState): void {
    const s = saved.containers[r.id];
    r.restarts = s?.restarts ?? 0;
    r.restore = s?.restore ?? 0;
    r.announce = s?.announce ?? false;
    r.bufferServerUrl = s?.bufferServerUrl ?? null;
    r.deployed = s?.deployed ?? false;
    if (r.restarts > 0) this.metrics.containerRestarts.inc({ container: r.id }, r.restarts);
    const held = credentialsOf(this.dir, r.id);
    if (!held) return; // resume() replaces it
    const token = tokenFromText(held.stramToken);
    this.authority.adopt(token);
    this.keeper.adopt(r.id, token);
    this.authority.adoptSecret(r.bufferServer, Buffer.from(held.bufferServer.secret, 'hex'));
    const url = advertisedUrl(this.umbilical.url, this.o.advertiseHost);
    // The old port was taken: the container re-reads its credentials file when it reconnects.
    if (held.stram !== url) writeCredentials(this.dir.credentials(r.id), { ...held, stram: url });
  }

  /** STRAM restart: watch the process the previous STRAM launched, or replace it if it is gone. */
  private resume(r: ContainerRecord, saved: SavedState): void {
    const pid = saved.containers[r.id]?.pid;
    if (!credentialsOf(this.dir, r.id)) {
      void this.replace(r, 'no credentials left after the STRAM restart');
      return;
    }
    this.unconfirmed.add(r.id);
    if (pid && this.launcher.adopt) {
      this.watchProcess(r, this.launcher.adopt(this.specOf(r), pid));
    } else {
      // No handle on the process: heartbeats alone tell whether it is still there (watch()).
      r.state = ContainerState.launching;
      r.launchedAt = this.o.clock.now();
    }
  }

  /** Writes what a recovered STRAM needs (state.json, 0600, no secrets). */
  private persist(): void {
    if (this.state !== AppState.running || !this.umbilical) return;
    const containers: SavedState['containers'] = {};
    for (const r of this.records.values()) {
      const seqs = tokenSeqs(credentialsOf(this.dir, r.id));
      containers[r.id] = {
        pid: r.process?.pid ?? null,
        bufferServerUrl: r.bufferServerUrl,
        deployed: r.deployed,
        restarts: r.restarts,
        announce: r.announce,
        restore: r.restore,
        stramSeq: seqs.stram,
        subscribeSeqs: seqs.subscribe,
      };
    }
    const { recoverFrom: _, ...options } = this.o;
    saveState(this.dir, {
      version: 1,
      appId: this.appId,
      appModule: resolve(this.o.appModule),
      user: this.o.user,
      insecure: this.o.insecure,
      config: this.o.config,
      options: primitiveOptions(options),
      umbilicalPort: Number(new URL(this.umbilical.url).port),
      committed: this.committed,
      containers,
    });
  }

  private updateGauges(): void {
    const counts: Record<string, number> = { launching: 0, running: 0, lost: 0, exited: 0 };
    for (const r of this.records.values()) {
      counts[r.state] = (counts[r.state] ?? 0) + 1;
      const expiry = this.keeper.expiryOf(r.id);
      if (expiry !== undefined) this.metrics.tokenExpiry.set({ container: r.id }, expiry / 1000);
    }
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
    return this.committed;
  }

  containers(): (ContainerView & { tokens: TokenStatus | null })[] {
    return [...this.records.values()].map((r) => ({ ...containerView(r, this.keeper.expiryOf(r.id)), tokens: this.keeper.statusOf(r.id) }));
  }

  operators(): OperatorView[] {
    return operatorViews(this.plan, this.records, this.rates, (id) => this.health.isStalled(id));
  }

  appView(): Record<string, unknown> {
    const containers = this.containers();
    return {
      id: this.appId,
      name: this.plan.logical.app,
      state: this.state,
      secure: !this.o.insecure,
      user: this.o.user,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeMs: this.o.clock.now() - this.startedAt,
      appDir: this.dir.root,
      umbilical: this.umbilical.url,
      rest: this.rest.url,
      containers: { total: containers.length, running: containers.filter((c) => c.state === ContainerState.running).length },
      operators: this.plan.operators.length,
      committedWindow: this.committed,
      subscriberTakeovers: this.health.takeovers(),
      tokens: {
        ...this.keeper.totals(),
        keyRolls: this.tokens.keyRolls ?? 0,
        renewIntervalMs: this.o.renewIntervalMs,
        maxLifetimeMs: this.o.maxLifetimeMs,
        keyUpdateIntervalMs: this.o.keyUpdateIntervalMs,
      },
    };
  }

  // ---- shutdown ----------------------------------------------------------------------------------
  /**
   * Sends `shutdown` to every container (with its next heartbeat-ack), waits for the processes to
   * exit, kills those still running after the grace period, then closes the servers, cancels the
   * tokens and removes credentials and spool files. Idempotent.
   */
  shutdown(reason = 'shutdown requested'): Promise<void> {
    this.stopping ??= this.doShutdown(reason).finally(() => this.resolveStopped());
    return this.stopping;
  }

  private async doShutdown(reason: string): Promise<void> {
    const log = this.o.logger;
    this.state = AppState.stopping;
    this.shutdownReason = reason;
    log.info({ reason }, 'shutting down');
    for (const t of this.timers) clearInterval(t);
    const exits = [...this.records.values()].map((r) => r.process?.exited ?? Promise.resolve({ code: null, signal: null }));
    const all = Promise.all(exits);
    const graceOver = await Promise.race([all.then(() => false), delay(this.o.shutdownGraceMs).then(() => true)]);
    if (graceOver) {
      // SIGTERM first (a container stops cleanly on it), SIGKILL for whatever is still there.
      for (const r of this.records.values()) {
        if (!r.exit) {
          log.warn({ container: r.id }, 'container did not exit within the grace period; terminating it');
          r.process?.kill('SIGTERM');
        }
      }
      if (await Promise.race([all.then(() => false), delay(KILL_AFTER_TERM_MS).then(() => true)])) {
        for (const r of this.records.values()) if (!r.exit) r.process?.kill('SIGKILL');
      }
      await all;
    }
    await Promise.all([this.umbilical.close(), this.rest.close()]);
    await this.keeper.cancelAll();
    await this.tokens.close?.();
    for (const r of this.records.values()) {
      rmSync(this.dir.credentials(r.id), { force: true });
      rmSync(this.dir.spool(r.id), { recursive: true, force: true });
    }
    rmSync(this.dir.spoolRoot, { recursive: true, force: true });
    rmSync(this.dir.info, { force: true });
    rmSync(statePath(this.dir), { force: true }); // a stopped app is not recovered
    rmSync(this.dir.webToken, { force: true });
    this.state = AppState.stopped;
    this.updateGauges();
    log.info('app stopped');
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
