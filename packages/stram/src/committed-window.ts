import type { AgentTable } from './agent-table.js';
import type { ContainerAgent } from './container-agent.js';

/**
 * The committed window (docs/architecture.md "Recovery"): the minimum last checkpoint over every
 * operator. Buffer servers purge up to it and checkpoints before it may go, so it only moves
 * forward, and a replacement restores from it.
 */
export class CommittedWindow {
  constructor(
    private current: number,
    private readonly gauge: { set(v: number): void },
  ) {
    gauge.set(current);
  }

  get value(): number {
    return this.current;
  }

  /**
   * Recomputed once per heartbeat interval, not per heartbeat: with many containers a
   * per-heartbeat scan of every operator would be quadratic. Returns whether it moved.
   */
  recompute(agents: AgentTable): boolean {
    let min = Number.MAX_SAFE_INTEGER;
    for (const op of agents.plan.operators) min = Math.min(min, agents.get(op.container)?.record.stats.get(op.id)?.checkpoint ?? 0);
    if (min === Number.MAX_SAFE_INTEGER || min <= this.current) return false;
    this.current = min;
    this.gauge.set(min);
    return true;
  }

  /** Tells a deployed container the committed window, once per value. */
  offer(agent: ContainerAgent): void {
    const r = agent.record;
    if (this.current > r.committedSent && r.deployed) {
      agent.send({ c: 'committed', w: this.current });
      r.committedSent = this.current;
    }
  }
}
