import type { OperatorView } from '@sluice/stram';
import type { AppDetail } from '../api.js';

/**
 * What the console shows of an app, read from STRAM's status as the gateway proxies it
 * (`/ws/v1/app`, containers, operators). STRAM's answer is data from another process: every
 * field is read with its type checked, and a missing one reads as empty, never as a crash.
 */

export interface DagView {
  operators: { name: string; partitions: number }[];
  streams: { name: string; from: string; to: string[]; locality: string }[];
}

/** An operator partition's figures, as STRAM's operator view has them. */
export type OperatorFigures = Pick<OperatorView, 'id' | 'operator' | 'partition' | 'container' | 'window' | 'tuplesIn' | 'tuplesOut' | 'tuplesInPerSecond' | 'tuplesOutPerSecond' | 'latencyMs' | 'stalled'>;

export interface RenewalHealth {
  expiry: string | null;
  lastRenewal: string | null;
  consecutiveFailures: number;
  lastError: string | null;
}

/** A container's certificate under TLS (STRAM's `certificate`): its expiry and serial, and whether renewal keeps up. */
export interface CertificateFigures {
  notAfter: string | null;
  serial: string | null;
  lastRenewal: string | null;
  consecutiveFailures: number;
  lastError: string | null;
  failing: boolean;
}

export interface ContainerFigures {
  id: string;
  state: string;
  pid: number | null;
  host: string;
  operators: string[];
  restarts: number;
  requestedRestarts: number;
  lastRestart: { cause: string; at: string } | null;
  lastHeartbeat: string | null;
  tokens: RenewalHealth | null;
  certificate: CertificateFigures | null;
}

export interface AppFigures {
  state: string;
  uptimeMs: number | null;
  committedWindow: number | null;
  /** Whether the app runs with TLS between its containers (then each has a certificate). */
  tls: boolean;
  dag: DagView;
  operators: OperatorFigures[];
  containers: ContainerFigures[];
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function hostOf(url: unknown): string {
  try {
    return new URL(str(url)).hostname;
  } catch {
    return '';
  }
}

function renewal(v: unknown): RenewalHealth | null {
  if (typeof v !== 'object' || v === null) return null;
  const t = obj(v);
  return { expiry: strOrNull(t['expiry']), lastRenewal: strOrNull(t['lastRenewal']), consecutiveFailures: num(t['consecutiveFailures']), lastError: strOrNull(t['lastError']) };
}

function certificateOf(v: unknown): CertificateFigures | null {
  if (typeof v !== 'object' || v === null) return null;
  const c = obj(v);
  return { notAfter: strOrNull(c['notAfter']), serial: strOrNull(c['serial']), lastRenewal: strOrNull(c['lastRenewal']), consecutiveFailures: num(c['consecutiveFailures']), lastError: strOrNull(c['lastError']), failing: c['failing'] === true };
}

function lastRestartOf(v: unknown): { cause: string; at: string } | null {
  const r = obj(v);
  return typeof r['cause'] === 'string' && typeof r['at'] === 'string' ? { cause: r['cause'], at: r['at'] } : null;
}

/** The figures of an app's detail; undefined when STRAM gave none (the app finished). */
export function figuresOf(detail: AppDetail): AppFigures | undefined {
  if (!detail.status) return undefined;
  const app = obj(detail.status.app);
  const dag = obj(app['dag']);
  return {
    state: str(app['state']) || detail.state,
    uptimeMs: typeof app['uptimeMs'] === 'number' ? app['uptimeMs'] : null,
    committedWindow: typeof app['committedWindow'] === 'number' ? app['committedWindow'] : null,
    tls: app['tls'] === true,
    dag: {
      operators: list(dag['operators']).map((o) => ({ name: str(obj(o)['name']), partitions: num(obj(o)['partitions']) || 1 })),
      streams: list(dag['streams']).map((s) => ({ name: str(obj(s)['name']), from: str(obj(s)['from']), to: list(obj(s)['to']).map(str), locality: str(obj(s)['locality']) })),
    },
    operators: detail.status.operators.map((v) => {
      const o = obj(v);
      return {
        id: str(o['id']),
        operator: str(o['operator']),
        partition: num(o['partition']),
        container: str(o['container']),
        window: num(o['window']),
        tuplesIn: num(o['tuplesIn']),
        tuplesOut: num(o['tuplesOut']),
        tuplesInPerSecond: num(o['tuplesInPerSecond']),
        tuplesOutPerSecond: num(o['tuplesOutPerSecond']),
        latencyMs: num(o['latencyMs']),
        stalled: o['stalled'] === true,
      };
    }),
    containers: detail.status.containers.map((v) => {
      const c = obj(v);
      return {
        id: str(c['id']),
        state: str(c['state']),
        pid: typeof c['pid'] === 'number' ? c['pid'] : null,
        host: hostOf(c['bufferServerUrl']),
        operators: list(c['operators']).map(str),
        restarts: num(c['restarts']),
        requestedRestarts: num(c['requestedRestarts']),
        lastRestart: lastRestartOf(c['lastRestart']),
        lastHeartbeat: strOrNull(c['lastHeartbeat']),
        tokens: renewal(c['tokens']),
        certificate: certificateOf(c['certificate']),
      };
    }),
  };
}

/** Tuples per second entering the app: what its source operators (no input stream) emit. */
export function throughputOf(f: AppFigures): number {
  const fed = new Set(f.dag.streams.flatMap((s) => s.to));
  return f.operators.filter((o) => !fed.has(o.operator)).reduce((sum, o) => sum + o.tuplesOutPerSecond, 0);
}

/** What the live stream sends each tick: the figures that move. */
export interface LiveFigures {
  state: string;
  committedWindow: number | null;
  operators: Pick<OperatorFigures, 'id' | 'window' | 'tuplesIn' | 'tuplesOut' | 'tuplesInPerSecond' | 'tuplesOutPerSecond' | 'latencyMs' | 'stalled'>[];
  /** Each container's state, host, pid, heartbeat and restarts (the cells of the physical plan that move). */
  containers: { id: string; state: string; host: string; pid: string; lastHeartbeat: string; restarts: string; lastRestart: string; certNotAfter: string; certSerial: string; certRenewal: string; certHealth: string }[];
  renewalFailing: string[];
  /** Containers whose certificate renewal is failing. */
  certificateFailing: string[];
}

/** How a certificate's renewal health reads in the page. */
export const certHealthText = (c: CertificateFigures | null): string => (c === null ? '–' : c.failing ? `failing${c.consecutiveFailures > 0 ? ` (${c.consecutiveFailures} refused)` : ' (overdue)'}` : 'healthy');

/** How the physical plan shows a container's restarts and its last one (the page and the live stream alike). */
export function restartsText(c: ContainerFigures): string {
  return `${c.restarts}${c.requestedRestarts > 0 ? ` (${c.requestedRestarts} requested)` : ''}`;
}
export function lastRestartText(c: ContainerFigures): string {
  return c.lastRestart ? `${c.lastRestart.cause} at ${c.lastRestart.at}` : '–';
}

export function liveOf(f: AppFigures): LiveFigures {
  return {
    state: f.state,
    committedWindow: f.committedWindow,
    operators: f.operators.map(({ id, window, tuplesIn, tuplesOut, tuplesInPerSecond, tuplesOutPerSecond, latencyMs, stalled }) => ({ id, window, tuplesIn, tuplesOut, tuplesInPerSecond, tuplesOutPerSecond, latencyMs, stalled })),
    containers: f.containers.map((c) => ({
      id: c.id,
      state: c.state,
      host: c.host || '–',
      pid: c.pid === null ? '–' : String(c.pid),
      lastHeartbeat: c.lastHeartbeat ?? '–',
      restarts: restartsText(c),
      lastRestart: lastRestartText(c),
      certNotAfter: c.certificate?.notAfter ?? '–',
      certSerial: c.certificate?.serial ?? '–',
      certRenewal: c.certificate?.lastRenewal ?? 'not yet',
      certHealth: certHealthText(c.certificate),
    })),
    certificateFailing: f.containers.filter((c) => c.certificate?.failing === true).map((c) => c.id),
    renewalFailing: f.containers.filter((c) => (c.tokens?.consecutiveFailures ?? 0) > 0).map((c) => c.id),
  };
}
