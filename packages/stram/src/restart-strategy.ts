import { SluiceError, formatDuration as fmt, parseDuration } from '@sluice/common';

/**
 * When a lost container is restarted, and when the app gives up (docs/architecture.md
 * "Recovery"; docs/guide.md "Restart strategies"). The strategies are Flink's: fixed delay,
 * exponential backoff with a cap, failure rate, none. Pure, like renewal.ts: a container's
 * failure history and `now` go in, the decision and the new history come out; the caller owns the
 * timers, the clock and what a restart means.
 *
 * Histories are kept per container (as Apex counts recovery attempts per operator): one
 * container failing over and over fails the app, while independent failures of different
 * containers each get their own backoff.
 */

export const RestartKind = { fixed: 'fixed', exponential: 'exponential', failureRate: 'failure-rate', none: 'none' } as const;
export type RestartKind = (typeof RestartKind)[keyof typeof RestartKind];

export type RestartStrategy =
  /** At most `attempts` restarts over the app's life, each `delayMs` after its failure. */
  | { kind: 'fixed'; attempts: number; delayMs: number }
  /**
   * The first restart `initialMs` after its failure, each next one `multiplier` times later, at
   * most `maxMs`; `attempts` restarts before the app fails. A container that ran `resetMs`
   * without failing starts over (count and delay).
   */
  | { kind: 'exponential'; initialMs: number; maxMs: number; multiplier: number; resetMs: number; attempts: number }
  /** Restarts `delayMs` after each failure while at most `maxFailures` fall within any `intervalMs`. */
  | { kind: 'failure-rate'; maxFailures: number; intervalMs: number; delayMs: number }
  /** The first failure fails the app. */
  | { kind: 'none' };

/** The default: 1 s, 2 s, 4 s, ... up to 60 s; FAILED after 10 restarts without 10 minutes of calm. */
export const DEFAULT_RESTART: RestartStrategy = { kind: 'exponential', initialMs: 1_000, maxMs: 60_000, multiplier: 2, resetMs: 600_000, attempts: 10 };

/** One container's failures as a strategy counts them. */
export interface RestartHistory {
  /** Times of the failures that count (since the last reset, or within the interval). */
  readonly failures: readonly number[];
  /** The last delay granted (exponential backoff grows from it). */
  readonly lastDelayMs: number;
}

export const NO_FAILURES: RestartHistory = { failures: [], lastDelayMs: 0 };

export type RestartDecision = { restart: true; delayMs: number } | { restart: false; reason: string };

/** A failure of `container` at `now`: restart it after a delay, or fail the app (and why). */
export function onFailure(s: RestartStrategy, h: RestartHistory, now: number, container: string): { decision: RestartDecision; history: RestartHistory } {
  switch (s.kind) {
    case 'none':
      return give(h, now, `container ${container} failed and the restart strategy is none`);
    case 'fixed': {
      const failures = [...h.failures, now];
      if (failures.length > s.attempts) return give(h, now, `container ${container} failed ${failures.length} times; restart strategy ${formatRestart(s)} allows ${restarts(s.attempts)}`);
      return grant(failures, s.delayMs);
    }
    case 'exponential': {
      const last = h.failures.at(-1);
      // Flink's reset: calm for the threshold after the last restart began.
      const calm = last !== undefined && now - last >= s.resetMs + h.lastDelayMs;
      const previous = calm ? NO_FAILURES : h;
      const failures = [...previous.failures, now];
      if (failures.length > s.attempts) {
        return give(h, now, `container ${container} failed ${failures.length} times without ${fmt(s.resetMs)} of calm; restart strategy ${formatRestart(s)} allows ${restarts(s.attempts)}`);
      }
      const delay = previous.failures.length === 0 ? s.initialMs : Math.min(s.maxMs, Math.round(previous.lastDelayMs * s.multiplier));
      return grant(failures, delay);
    }
    case 'failure-rate': {
      const failures = [...h.failures.filter((t) => now - t < s.intervalMs), now];
      if (failures.length > s.maxFailures) {
        return give(h, now, `container ${container} failed ${failures.length} times within ${fmt(s.intervalMs)}; restart strategy ${formatRestart(s)} allows ${s.maxFailures}`);
      }
      return grant(failures, s.delayMs);
    }
  }
}

const restarts = (n: number): string => `${n} restart${n === 1 ? '' : 's'}`;

function grant(failures: number[], delayMs: number): { decision: RestartDecision; history: RestartHistory } {
  return { decision: { restart: true, delayMs }, history: { failures, lastDelayMs: delayMs } };
}

function give(h: RestartHistory, now: number, reason: string): { decision: RestartDecision; history: RestartHistory } {
  return { decision: { restart: false, reason }, history: { ...h, failures: [...h.failures, now] } };
}

// ---- text form: `sluice launch --restart` and the saved options ---------------------------------

/** Each kind's settings: the key in the text form, the field, and how its value reads. */
const SETTINGS = {
  fixed: { attempts: ['attempts', 'count'], delay: ['delayMs', 'duration'] },
  exponential: { initial: ['initialMs', 'duration'], max: ['maxMs', 'duration'], multiplier: ['multiplier', 'factor'], reset: ['resetMs', 'duration'], attempts: ['attempts', 'count'] },
  'failure-rate': { max: ['maxFailures', 'count'], interval: ['intervalMs', 'duration'], delay: ['delayMs', 'duration'] },
  none: {},
} as const satisfies Record<RestartKind, Record<string, readonly [string, 'count' | 'duration' | 'factor']>>;

const DEFAULTS: { [K in RestartKind]: Extract<RestartStrategy, { kind: K }> } = {
  fixed: { kind: 'fixed', attempts: 3, delayMs: 10_000 },
  exponential: DEFAULT_RESTART as Extract<RestartStrategy, { kind: 'exponential' }>,
  'failure-rate': { kind: 'failure-rate', maxFailures: 10, intervalMs: 300_000, delayMs: 1_000 },
  none: { kind: 'none' },
};

const isKind = (k: string): k is RestartKind => Object.hasOwn(SETTINGS, k);

/**
 * `exponential:initial=1s,max=60s,multiplier=2,reset=10m,attempts=10`, `fixed:attempts=3,delay=2s`,
 * `failure-rate:max=10,interval=5m,delay=1s`, `none`. Settings left out keep their defaults;
 * a bad one is BAD_CONFIG naming `option` and the setting.
 */
export function parseRestart(text: string, option = '--restart'): RestartStrategy {
  const [head = '', ...rest] = text.trim().split(':');
  const kind = head === 'fixed-delay' ? 'fixed' : head;
  if (!isKind(kind)) throw new SluiceError('BAD_CONFIG', `${option}: "${head}" is not a restart strategy; use exponential, fixed, failure-rate or none (like fixed:attempts=3,delay=2s)`);
  const settings: Record<string, readonly [string, string]> = SETTINGS[kind];
  const out: Record<string, unknown> = { ...DEFAULTS[kind] };
  const body = rest.join(':');
  for (const entry of body ? body.split(',') : []) {
    const [key = '', value] = entry.split('=').map((x) => x.trim());
    const setting = settings[key];
    if (!setting || value === undefined || value === '') {
      const known = Object.keys(settings);
      throw new SluiceError('BAD_CONFIG', `${option}: "${entry}" is not a setting of ${kind}; ${known.length ? `give ${known.map((k) => `${k}=...`).join(',')}` : 'it takes none'}`);
    }
    out[setting[0]] = settingValue(value, setting[1], `${option} ${kind} ${key}`);
  }
  const s = out as RestartStrategy;
  if (s.kind === 'exponential' && s.maxMs < s.initialMs) throw new SluiceError('BAD_CONFIG', `${option}: exponential max (${fmt(s.maxMs)}) must not be below initial (${fmt(s.initialMs)})`);
  return s;
}

function settingValue(value: string, type: string, what: string): number {
  if (type === 'duration') return parseDuration(value, what);
  const n = Number(value);
  if (type === 'factor') {
    if (!Number.isFinite(n) || n < 1) throw new SluiceError('BAD_CONFIG', `${what}: "${value}" must be a number of at least 1`);
    return n;
  }
  if (!Number.isSafeInteger(n) || n < 1) throw new SluiceError('BAD_CONFIG', `${what}: "${value}" must be a whole number of at least 1`);
  return n;
}

/** The text form of a strategy (parseRestart reads it back): what status shows and state.json keeps. */
export function formatRestart(s: RestartStrategy): string {
  const settings: Record<string, readonly [string, string]> = SETTINGS[s.kind];
  const fields: Record<string, unknown> = { ...s };
  const parts = Object.entries(settings).map(([key, [field, type]]) => `${key}=${type === 'duration' ? fmt(Number(fields[field])) : String(fields[field])}`);
  return parts.length ? `${s.kind}:${parts.join(',')}` : s.kind;
}
