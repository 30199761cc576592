import { physicalId, type HeartbeatMessage, type PhysicalPlan } from '@sluice/common';
import type { StramMetrics } from './metrics.js';

/**
 * Whether the streams are flowing, as far as the operators' reported windows tell, and the
 * subscriber-name takeovers containers report (docs/protocol.md "Subscriber names").
 *
 * A subscription can go quiet while its container heartbeats on — cut off at its upstream buffer
 * server, say — and nothing else in STRAM would notice: the operator's window just stops moving.
 * An operator is **stalled** when its window has not moved for `stallAfterMs` while one of its
 * upstream operators' has moved past it since. An upstream that is itself stopped (or being
 * replaced, so its window went back to the restore point) stalls nobody downstream.
 */

/** An operator's last reported window and when STRAM saw it move. */
export interface Progress {
  readonly window: number;
  readonly advancedAt: number;
}

/** Every physical operator's upstream physical operators (same-container inputs: the same partition). */
export function upstreamOperators(plan: PhysicalPlan): Map<string, string[]> {
  const ups = new Map<string, string[]>(plan.operators.map((op) => [op.id, []]));
  for (const op of plan.operators) {
    for (const s of plan.logical.streams) {
      if (!s.to.some((t) => t.operator === op.operator)) continue;
      const from = plan.operators.filter((u) => u.operator === s.from.operator);
      const list = s.locality === 'container' ? [physicalId(s.from.operator, op.partition)] : from.map((u) => u.id);
      ups.get(op.id)!.push(...list);
    }
  }
  return ups;
}

/** The stalled operators (see the module comment). Pure: progress and time in, a set out. */
export function stalledOperators(
  upstreams: ReadonlyMap<string, readonly string[]>,
  progress: ReadonlyMap<string, Progress>,
  now: number,
  stallAfterMs: number,
): Set<string> {
  const stalled = new Set<string>();
  for (const [id, ups] of upstreams) {
    const p = progress.get(id);
    if (!p || now - p.advancedAt < stallAfterMs) continue;
    const passed = ups.some((u) => {
      const q = progress.get(u);
      return q !== undefined && q.window > p.window && q.advancedAt > p.advancedAt;
    });
    if (passed) stalled.add(id);
  }
  return stalled;
}

/** How long a window may stand still before it counts as stalled: several heartbeats and windows. */
export function stallThreshold(o: { heartbeatIntervalMs: number; windowMs: number }): number {
  return Math.max(4 * o.heartbeatIntervalMs, 5 * o.windowMs);
}

/** The increase of a cumulative count; a smaller count is a new process starting over from zero. */
function increase(last: number | undefined, reported: number): number {
  return last === undefined || reported < last ? reported : reported - last;
}

export interface TakeoverTotals {
  /** Subscribe attempts buffer servers refused because the name belonged to another container or owner. */
  refused: number;
  /** Subscriptions closed 4409 by a connection their container did not make. */
  takenOver: number;
}

export interface StreamHealthOptions {
  plan: PhysicalPlan;
  metrics: StramMetrics;
  stallAfterMs: number;
}

/**
 * STRAM's one owner of the above: fed each heartbeat (`observe`), re-judged once per heartbeat
 * interval (`update`), read by the status views and /metrics.
 */
export class StreamHealth {
  private readonly upstreams: Map<string, string[]>;
  /** Updated in place per heartbeat; stalledOperators reads it as Progress. */
  private readonly progress = new Map<string, { window: number; advancedAt: number }>();
  private stalled = new Set<string>();
  private readonly lastRefused = new Map<string, number>();
  private readonly lastTakenOver = new Map<string, number>();
  private readonly totals: TakeoverTotals = { refused: 0, takenOver: 0 };

  constructor(private readonly o: StreamHealthOptions) {
    this.upstreams = upstreamOperators(o.plan);
    o.metrics.atScrape.stalled = () => Array.from(this.upstreams.keys(), (id) => [id, this.stalled.has(id)] as const);
  }

  /** A heartbeat of container `container`, which runs `operators` (already checked to report only those). */
  observe(container: { id: string; operators: readonly string[] }, hb: HeartbeatMessage, now: number): void {
    for (const s of hb.operators) {
      const p = this.progress.get(s.id);
      if (!p) this.progress.set(s.id, { window: s.window, advancedAt: now });
      else if (p.window !== s.window) {
        p.window = s.window;
        p.advancedAt = now;
      }
    }
    const t = hb.takeovers;
    if (!t) return;
    const refused = increase(this.lastRefused.get(container.id), t.refused);
    this.lastRefused.set(container.id, t.refused);
    if (refused > 0) {
      this.totals.refused += refused;
      this.o.metrics.takeoversRefused.inc({ container: container.id }, refused);
    }
    for (const e of t.takenOver) {
      // A container speaks only for its own operators' inputs.
      if (!container.operators.includes(e.operator)) continue;
      const key = `${e.operator}|${e.port}`;
      const n = increase(this.lastTakenOver.get(key), e.count);
      this.lastTakenOver.set(key, e.count);
      if (n === 0) continue;
      this.totals.takenOver += n;
      this.o.metrics.takeovers.inc({ operator: e.operator, port: e.port }, n);
    }
  }

  /** Re-judges which operators are stalled (sluice_operator_stalled reads it when scraped). */
  update(now: number): void {
    this.stalled = stalledOperators(this.upstreams, this.progress, now, this.o.stallAfterMs);
  }

  isStalled(operator: string): boolean {
    return this.stalled.has(operator);
  }

  takeovers(): TakeoverTotals {
    return { ...this.totals };
  }
}
