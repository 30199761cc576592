import type { Clock, HeartbeatMessage, Logger } from '@sluice/common';
import type { AgentTable } from './agent-table.js';
import type { ContainerAgent, Heard } from './container-agent.js';
import { ContainerState } from './container-table.js';
import type { CredentialsKeeper } from './credentials-keeper.js';
import { describeFailure } from './failure-log.js';
import type { HeartbeatMonitor } from './heartbeat-monitor.js';
import type { StramMetrics } from './metrics.js';
import { resubscribesFor } from './recovery.js';
import { NO_FAILURES, onFailure, type RestartHistory, type RestartStrategy } from './restart-strategy.js';

/**
 * Replacing a lost container (docs/architecture.md "Recovery"), the way Apex's
 * StreamingContainerManager does: the old process is killed if it still exists (a SIGSTOPped one
 * too), its credentials die with it (credentials-keeper.ts `replace`), and the replacement
 * restores its operators from the committed window — which every downstream operator has passed
 * and every upstream buffer server still holds (they purge only up to it). Once it reports its
 * buffer server, its downstream containers are told to re-subscribe there.
 *
 * Every loss is a failure the restart strategy counts (restart-strategy.ts): the replacement
 * starts after the delay it grants — never at once, so a container that dies at start cannot
 * spin — or the app fails. The old credentials are cancelled at the loss, not after the delay: a
 * process cut off by the network that comes back meanwhile is refused.
 *
 * A restart asked for (`POST /ws/v1/containers/{id}/restart`, `request`) takes the same path at
 * once — killed, fresh credentials, restored from the committed window — but is no failure: the
 * restart strategy never counts it, so asking can never fail the app.
 */

/** Why a container was found lost (metric sluice_container_losses_total). */
export const LossCause = { exited: 'exited', silent: 'silent', noCredentials: 'no-credentials' } as const;
export type LossCause = (typeof LossCause)[keyof typeof LossCause];

/** Why a replacement started (status `lastRestart.cause`): a loss, or asked for. */
export const REQUESTED = 'requested';
export type RestartCause = LossCause | typeof REQUESTED;

/** What `request` made of a restart asked for: started, or refused (no such container; app or container not running). */
export type RestartRequest = { refused: undefined } | { refused: 'unknown' | 'not-running' | 'busy'; reason: string };

export interface ReplacementsOptions {
  agents: AgentTable;
  keeper: CredentialsKeeper;
  monitor: HeartbeatMonitor;
  metrics: StramMetrics;
  logger: Logger;
  clock: Clock;
  strategy: RestartStrategy;
  /** The committed window now. */
  committed(): number;
  /** Starts a process for the agent's container. */
  launch(agent: ContainerAgent): void;
  /** Saves what a recovered STRAM needs. */
  persist(): void;
  running(): boolean;
  /** The restart strategy gave up: the app is FAILED, for this reason. */
  fail(reason: string): void;
}

/** A replacement waiting for its credentials (retried until they are made) and for its start time. */
interface Pending {
  at: number;
  cause: RestartCause;
  reason: string;
  prepared: boolean;
  preparing: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class Replacements {
  private readonly pending = new Map<string, Pending>();
  private readonly histories = new Map<string, RestartHistory>();

  constructor(private readonly o: ReplacementsOptions) {}

  /** Whether `id` is lost and its replacement not started yet. */
  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  /**
   * `agent`'s process is gone (`cause`) or silent: a failure. Its process is killed, and the
   * restart strategy decides: a replacement after its delay, or the app fails. Once per process.
   */
  lost(agent: ContainerAgent, cause: typeof LossCause.exited | typeof LossCause.silent, reason: string): void {
    if (!this.o.running() || this.pending.has(agent.id)) return;
    const r = agent.record;
    const now = this.o.clock.now();
    this.stopProcess(agent);
    const failure = r.failures.lost(cause, reason, r.restarts, now);
    const { decision, history } = onFailure(this.o.strategy, this.histories.get(r.id) ?? NO_FAILURES, now, r.id);
    this.histories.set(r.id, history);
    if (!decision.restart) {
      this.o.fail(`${decision.reason}; last failure: ${describeFailure(failure)}`);
      return;
    }
    failure.restartAfterMs = decision.delayMs;
    this.o.metrics.restartDelay.set({ container: r.id }, decision.delayMs / 1000);
    this.o.logger.warn({ container: r.id, reason, restartInMs: decision.delayMs }, 'container lost; replacing it after the restart delay');
    this.schedule(agent, now + decision.delayMs, cause, reason);
  }

  /** Replaced at once and not counted as a failure: after a STRAM restart its credentials are gone, or a restart was asked for. */
  replaceNow(agent: ContainerAgent, cause: typeof LossCause.noCredentials | typeof REQUESTED, reason: string): void {
    if (!this.o.running() || this.pending.has(agent.id)) return;
    this.stopProcess(agent);
    this.schedule(agent, this.o.clock.now(), cause, reason);
  }

  /** A restart of container `id` asked for: replaced now if the app and the container are running. */
  request(id: string): RestartRequest {
    const agent = this.o.agents.get(id);
    if (!agent) return { refused: 'unknown', reason: `no container ${id.slice(0, 64)} in this app` };
    if (!this.o.running()) return { refused: 'not-running', reason: 'the app is not running' };
    const state = agent.record.state;
    if (this.pending.has(id)) return { refused: 'busy', reason: `container ${id} is already being replaced` };
    if (state !== ContainerState.running) return { refused: 'busy', reason: `container ${id} is ${state}, not running; ask again once it runs` };
    this.o.logger.info({ container: id }, 'container restart requested');
    this.replaceNow(agent, REQUESTED, 'restart requested');
    return { refused: undefined };
  }

  /** Once per heartbeat interval: retries replacements whose credentials could not be made, starts those due. */
  retry(): void {
    for (const id of [...this.pending.keys()]) void this.advance(this.o.agents.get(id)!);
  }

  /** The app stops: no replacement starts any more. */
  cancel(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  private stopProcess(agent: ContainerAgent): void {
    const r = agent.record;
    if (r.state !== ContainerState.exited) r.state = ContainerState.lost;
    this.o.monitor.unwatch(r.id);
    r.process?.kill('SIGKILL');
  }

  private schedule(agent: ContainerAgent, at: number, cause: RestartCause, reason: string): void {
    this.pending.set(agent.id, { at, cause, reason, prepared: false, preparing: false, timer: undefined });
    agent.record.restartAt = at;
    void this.advance(agent);
  }

  /** Makes the replacement's credentials (once), then starts it when its time comes. */
  private async advance(agent: ContainerAgent): Promise<void> {
    const p = this.pending.get(agent.id);
    if (!p || p.preparing || !this.o.running()) return;
    if (!p.prepared) {
      p.preparing = true;
      try {
        await this.prepare(agent);
        p.prepared = true;
      } catch (err) {
        // The token store may be down: the agent stays lost, and the next tick retries.
        this.o.logger.error({ container: agent.id, err: (err as Error).message }, 'container replacement failed; will retry');
        return;
      } finally {
        p.preparing = false;
      }
      if (this.pending.get(agent.id) !== p || !this.o.running()) return;
    }
    const wait = p.at - this.o.clock.now();
    if (wait > 0) {
      clearTimeout(p.timer);
      p.timer = setTimeout(() => void this.advance(agent), wait);
      p.timer.unref();
      return;
    }
    this.start(agent, p);
  }

  /** Credentials for the new process (the old ones cancelled) and a record reset to restore from the committed window. */
  private async prepare(agent: ContainerAgent): Promise<void> {
    await this.o.keeper.replace(agent);
    const r = agent.record;
    r.restore = this.o.committed();
    // Until the replacement checkpoints anew, its operators count as checkpointed at the
    // restore window: the committed window must not pass it, or upstreams would purge what it replays.
    for (const [id, st] of r.stats) r.stats.set(id, { ...st, window: r.restore, checkpoint: r.restore });
    r.bufferServerUrl = null;
    r.deployed = false;
    r.committedSent = 0;
    r.announce = true;
    r.adopted = false;
    r.lastHeartbeatAt = undefined;
  }

  private start(agent: ContainerAgent, p: Pending): void {
    const r = agent.record;
    this.pending.delete(r.id);
    clearTimeout(p.timer);
    r.restartAt = undefined;
    r.restarts++;
    r.lastRestart = { cause: p.cause, at: this.o.clock.now() };
    this.o.metrics.containerRestarts.inc({ container: r.id });
    if (p.cause === REQUESTED) {
      r.requestedRestarts++;
      this.o.metrics.containerRestartsRequested.inc({ container: r.id });
    }
    this.o.logger.warn({ container: r.id, reason: p.reason, restoreWindow: r.restore, restarts: r.restarts }, 'replacing container');
    this.o.launch(agent);
    this.o.persist();
  }

  /**
   * Recovery's share of a heartbeat: an adopted container that never got its deploy (STRAM died
   * first) gets one; a replacement that reports its buffer server has its downstream containers
   * told to re-subscribe there. Returns whether something worth saving changed.
   */
  onHeartbeat(agent: ContainerAgent, hb: HeartbeatMessage, heard: Heard): boolean {
    const r = agent.record;
    if (heard.adopted && r.deployed && hb.operators.length === 0 && hb.state === 'starting') r.deployed = false;
    if (!r.announce || !r.bufferServerUrl) return false;
    r.announce = false;
    const me = this.o.agents.plan.containers.find((c) => c.id === r.id)!;
    for (const d of this.o.agents.downstreamOf(r.id)) {
      // A downstream not deployed yet (or being replaced itself) gets the new URL in its deploy.
      if (d.record.deployed) d.send(...resubscribesFor(this.o.agents.plan, d.id, me, r.bufferServerUrl, r.restore + 1));
    }
    this.o.logger.info({ container: r.id, bufferServer: r.bufferServerUrl }, 'downstream containers told to re-subscribe');
    return true;
  }
}
