import { isoTime, type HeartbeatMessage, type OperatorStats, type PhysicalPlan } from '@sluice/common';
import { FailureLog, type FailureView } from './failure-log.js';
import type { LaunchedContainer } from './launcher.js';

/** STRAM's view of each container: what it reported, what it has been told, how its process is doing. */

export const ContainerState = {
  launching: 'launching',
  running: 'running',
  lost: 'lost',
  exited: 'exited',
} as const;
export type ContainerState = (typeof ContainerState)[keyof typeof ContainerState];

export interface ContainerRecord {
  id: string;
  bufferServer: string;
  operators: string[];
  state: ContainerState;
  process: LaunchedContainer | undefined;
  exit: { code: number | null; signal: string | null } | undefined;
  launchedAt: number;
  lastHeartbeatAt: number | undefined;
  heartbeats: number;
  bufferServerUrl: string | null;
  reportedState: HeartbeatMessage['state'] | undefined;
  stats: Map<string, OperatorStats>;
  /** Errors its processes reported (heartbeat `errors`), newest last, kept across replacements. */
  errors: string[];
  /** Its failures and what the restart strategy made of each (failure-log.ts), kept across replacements. */
  failures: FailureLog;
  /** When its scheduled replacement starts (restart-strategy.ts); undefined when none is waiting. */
  restartAt: number | undefined;
  /** What the container counts (heartbeat `counters`), as it last reported them. */
  counters: Record<string, number>;
  deployed: boolean;
  /** Last committed window sent to this container. */
  committedSent: number;
  /** Times this container was replaced. */
  restarts: number;
  /** Of those, the restarts asked for over REST (never counted by the restart strategy). */
  requestedRestarts: number;
  /** Why and when its latest replacement started: `requested`, or the loss cause. */
  lastRestart: { cause: string; at: number } | undefined;
  /** The window its operators restore from when next deployed (0 = fresh start). */
  restore: number;
  /** Replaced: its downstream containers must be told its new buffer server once it reports one. */
  announce: boolean;
  /** Adopted after a STRAM restart and not heard from since (docs/architecture.md "Recovery"). */
  adopted: boolean;
}

export interface ContainerView {
  id: string;
  state: ContainerState;
  pid: number | null;
  /** On an orchestrator (the swarm launcher): its service and current task; null elsewhere. */
  service: string | null;
  task: string | null;
  operators: string[];
  bufferServer: string;
  bufferServerUrl: string | null;
  deployed: boolean;
  heartbeats: number;
  lastHeartbeat: string | null;
  exit: { code: number | null; signal: string | null } | null;
  tokenExpiry: string | null;
  errors: string[];
  /** Operator exceptions (with stacks) and process losses, oldest first, with the restart strategy's decision on each. */
  failures: FailureView[];
  /** When its replacement starts, while one waits out the restart delay. */
  restartAt: string | null;
  /** Counts since its process started, by event name (docs/protocol.md "Umbilical commands and counters"). */
  counters: Record<string, number>;
  /** Times the container was replaced (process exit, heartbeat timeout, or asked for). */
  restarts: number;
  /** Of those, the restarts asked for (`POST /ws/v1/containers/{id}/restart`). */
  requestedRestarts: number;
  /** The latest replacement: why (`requested`, `exited`, `silent`, `no-credentials`) and when. */
  lastRestart: { cause: string; at: string } | null;
}

export interface OperatorView {
  id: string;
  operator: string;
  partition: number;
  container: string;
  window: number;
  tuplesIn: number;
  tuplesOut: number;
  /** Tuples out (in, for sinks) per second over the last two heartbeats. */
  tuplesPerSecond: number;
  /** Tuples in per second over the last two heartbeats, from the in counter alone. */
  tuplesInPerSecond: number;
  /** Tuples out per second over the last two heartbeats, from the out counter alone. */
  tuplesOutPerSecond: number;
  latencyMs: number;
  checkpoint: number;
  /** Its window stopped while an upstream operator's went on (stream-health.ts). */
  stalled: boolean;
}

export function newRecord(plan: PhysicalPlan, id: string, now: number): ContainerRecord {
  const c = plan.containers.find((x) => x.id === id)!;
  return {
    id,
    bufferServer: c.bufferServer,
    operators: [...c.operators],
    state: ContainerState.launching,
    process: undefined,
    exit: undefined,
    launchedAt: now,
    lastHeartbeatAt: undefined,
    heartbeats: 0,
    bufferServerUrl: null,
    reportedState: undefined,
    stats: new Map(),
    errors: [],
    failures: new FailureLog(),
    restartAt: undefined,
    counters: {},
    deployed: false,
    committedSent: 0,
    restarts: 0,
    requestedRestarts: 0,
    lastRestart: undefined,
    restore: 0,
    announce: false,
    adopted: false,
  };
}

export function containerView(r: ContainerRecord, tokenExpiry: number | undefined): ContainerView {
  return {
    id: r.id,
    state: r.state,
    pid: r.process?.pid ?? null,
    service: r.process?.service ?? null,
    task: r.process?.task ?? null,
    operators: r.operators,
    bufferServer: r.bufferServer,
    bufferServerUrl: r.bufferServerUrl,
    deployed: r.deployed,
    heartbeats: r.heartbeats,
    lastHeartbeat: r.lastHeartbeatAt === undefined ? null : new Date(r.lastHeartbeatAt).toISOString(),
    exit: r.exit ?? null,
    tokenExpiry: tokenExpiry === undefined ? null : isoTime(tokenExpiry),
    errors: r.errors,
    failures: r.failures.views(),
    restartAt: r.restartAt === undefined ? null : new Date(r.restartAt).toISOString(),
    counters: r.counters,
    restarts: r.restarts,
    requestedRestarts: r.requestedRestarts,
    lastRestart: r.lastRestart ? { cause: r.lastRestart.cause, at: isoTime(r.lastRestart.at) } : null,
  };
}

/** Per-operator throughput from successive cumulative counts, in and out each from its own counter. */
export class RateTracker {
  private readonly last = new Map<string, { at: number; tuplesIn: number; tuplesOut: number; rates: Rates }>();

  update(id: string, at: number, tuplesIn: number, tuplesOut: number): void {
    const prev = this.last.get(id);
    if (!prev) {
      this.last.set(id, { at, tuplesIn, tuplesOut, rates: NO_RATES });
      return;
    }
    const span = at - prev.at;
    if (span < 200) return; // too close to measure; keep the previous rates
    prev.rates = { in: perSecond(tuplesIn, prev.tuplesIn, span), out: perSecond(tuplesOut, prev.tuplesOut, span) };
    prev.at = at;
    prev.tuplesIn = tuplesIn;
    prev.tuplesOut = tuplesOut;
  }

  rates(id: string): Rates {
    return this.last.get(id)?.rates ?? NO_RATES;
  }

  /** The operator's headline rate: out, or in for a sink (an operator that has emitted nothing). */
  rate(id: string): number {
    const last = this.last.get(id);
    if (!last) return 0;
    return last.tuplesOut > 0 ? last.rates.out : last.rates.in;
  }
}

interface Rates {
  in: number;
  out: number;
}

/** The rate of a cumulative count over `spanMs`; a smaller count (a new process) is no rate yet. */
function perSecond(now: number, before: number, spanMs: number): number {
  return now >= before ? ((now - before) * 1000) / spanMs : 0;
}
const NO_RATES: Rates = { in: 0, out: 0 };

/** Every physical operator with its last reported stats (zeros until its container reports). */
export function operatorViews(plan: PhysicalPlan, records: ReadonlyMap<string, ContainerRecord>, rates: RateTracker, stalled: (id: string) => boolean): OperatorView[] {
  return plan.operators.map((op) => {
    const s = records.get(op.container)?.stats.get(op.id);
    return {
      id: op.id,
      operator: op.operator,
      partition: op.partition,
      container: op.container,
      window: s?.window ?? 0,
      tuplesIn: s?.tuplesIn ?? 0,
      tuplesOut: s?.tuplesOut ?? 0,
      tuplesPerSecond: Math.round(rates.rate(op.id)),
      tuplesInPerSecond: Math.round(rates.rates(op.id).in),
      tuplesOutPerSecond: Math.round(rates.rates(op.id).out),
      latencyMs: s?.latencyMs ?? 0,
      checkpoint: s?.checkpoint ?? 0,
      stalled: stalled(op.id),
    };
  });
}
