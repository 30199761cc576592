import type { HeartbeatMessage, Logger } from '@sluice/common';
import type { AgentTable } from './agent-table.js';
import type { ContainerAgent, Heard } from './container-agent.js';
import { ContainerState } from './container-table.js';
import type { CredentialsKeeper } from './credentials-keeper.js';
import type { HeartbeatMonitor } from './heartbeat-monitor.js';
import type { StramMetrics } from './metrics.js';
import { resubscribesFor } from './recovery.js';

/**
 * Replacing a lost container (docs/architecture.md "Recovery"), the way Apex's
 * StreamingContainerManager does: the old process is killed if it still exists (a SIGSTOPped one
 * too), its credentials die with it (credentials-keeper.ts `replace`), and the replacement
 * restores its operators from the committed window — which every downstream operator has passed
 * and every upstream buffer server still holds (they purge only up to it). Once it reports its
 * buffer server, its downstream containers are told to re-subscribe there.
 */

/** Why a container was found lost (metric sluice_container_losses_total). */
export const LossCause = { exited: 'exited', silent: 'silent', noCredentials: 'no-credentials' } as const;
export type LossCause = (typeof LossCause)[keyof typeof LossCause];

export interface ReplacementsOptions {
  agents: AgentTable;
  keeper: CredentialsKeeper;
  monitor: HeartbeatMonitor;
  metrics: StramMetrics;
  logger: Logger;
  /** The committed window now. */
  committed(): number;
  /** Starts a process for the agent's container. */
  launch(agent: ContainerAgent): void;
  /** Saves what a recovered STRAM needs. */
  persist(): void;
  running(): boolean;
}

export class Replacements {
  private readonly replacing = new Set<string>();

  constructor(private readonly o: ReplacementsOptions) {}

  /** Replaces `agent`'s container; a failure (e.g. the token store is down) leaves it lost, and the next look retries. */
  async replace(agent: ContainerAgent, reason: string): Promise<void> {
    if (!this.o.running() || this.replacing.has(agent.id)) return;
    this.replacing.add(agent.id);
    const r = agent.record;
    try {
      r.state = ContainerState.lost;
      this.o.monitor.unwatch(r.id);
      r.process?.kill('SIGKILL');
      await this.o.keeper.replace(agent);
      if (!this.o.running()) return;
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
      r.errors = [];
      r.restarts++;
      this.o.metrics.containerRestarts.inc({ container: r.id });
      this.o.logger.warn({ container: r.id, reason, restoreWindow: r.restore, restarts: r.restarts }, 'replacing container');
      this.o.launch(agent);
      this.o.persist();
    } catch (err) {
      this.o.logger.error({ container: r.id, err: (err as Error).message }, 'container replacement failed; will retry');
    } finally {
      this.replacing.delete(r.id);
    }
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
