import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  SluiceError,
  appFromModule,
  createLogger,
  formatDuration,
  planApp,
  systemClock,
  validateApp,
  type Clock,
  type Logger,
  type PhysicalPlan,
  type Token,
} from '@sluice/common';
import type { DelegationTokens } from './authority.js';
import type { Launcher } from './launcher.js';
import type { RenewalPolicy } from './renewal.js';
import { DEFAULT_RESTART, formatRestart, parseRestart, type RestartStrategy } from './restart-strategy.js';

/** STRAM's options: defaults spread first, then cross-field checks naming the option. */

const DAY = 86_400_000;

export interface StramOptions {
  /** Path of the built app module (`export default defineApp({...})`). */
  appModule: string;
  /** App config passed to every operator's create(config). */
  config?: Record<string, unknown>;
  appId?: string;
  appDir?: string;
  /** Container entry script for the default local launcher (resolved by the CLI; STRAM never imports container). */
  containerEntry?: string;
  launcher?: Launcher;
  insecure?: boolean;
  /**
   * Run the app's certificate authority (docs/architecture.md "Transport encryption"): containers
   * enrol over the umbilical and get certificates naming them. Default false.
   */
  tls?: boolean;
  /** Lifetime of the certificates the CA issues; they renew at 75% of it. Default 4 h. */
  certLifetimeMs?: number;
  /** Rotate the CA's root this long after the last rotation ended (root-rotation.ts). Default: never. */
  caRotateMs?: number;
  /**
   * An operator-supplied intermediate CA in place of the app's own root (operator-ca.ts): its
   * certificate, its key (0600) and the chain above it up to the operator's root, as paths. Saved
   * in state.json as paths, so `--recover` reads the same files; the key is never copied.
   */
  caCert?: string;
  caKey?: string;
  caChain?: string;
  clock?: Clock;
  logger?: Logger;
  /** The launching user: owner of every token, subject of the web token. */
  user?: string;
  /**
   * Who launched the app for `user` when someone else did (the gateway's principal: Hadoop
   * proxy-user semantics), carried as realUser in every token; empty when the user launched it.
   */
  realUser?: string;
  /** Address STRAM's umbilical and REST listen on (default 127.0.0.1; 0.0.0.0 in a Docker container). */
  host?: string;
  /** Host name containers reach STRAM's umbilical by, when `host` is not it (e.g. STRAM's Docker container name). */
  advertiseHost?: string;
  /** Port of the REST API and Prometheus `/metrics` (default: a free one), so a scrape target stays put across launches. */
  restPort?: number;
  /**
   * Called with `<appDir>/stram.log` once the app directory exists, before STRAM logs anything
   * about the app: the CLI's log destination starts copying its lines there (docs/guide.md "Logs").
   */
  logFile?: (path: string) => void;
  /** Address containers' buffer servers listen on (credentials settings.bindHost); on a wildcard they advertise their hostname. */
  containerBindHost?: string;
  heartbeatIntervalMs?: number;
  /** A container silent this long (or whose process exits) is replaced from its last checkpoint. */
  heartbeatTimeoutMs?: number;
  /**
   * How long a container keeps streaming without STRAM before it gives up (credentials
   * settings.stramLossTimeoutMs): longer than a STRAM restart (`sluice launch --recover`).
   */
  stramLossTimeoutMs?: number;
  /** A launched container that has not heartbeated this long is replaced (starting a process can take a while on a busy host). */
  launchTimeoutMs?: number;
  windowMs?: number;
  checkpointWindows?: number;
  webTokenTtlMs?: number;
  keyUpdateIntervalMs?: number;
  renewIntervalMs?: number;
  maxLifetimeMs?: number;
  removalScanIntervalMs?: number;
  /**
   * External stores the app's credential providers issue credentials for (docs/stores.md):
   * PostgreSQL's server and privileged role as a URL without password, and the 0600 file holding
   * that role's password. Needed when an operator `uses` it or checkpoints go there.
   */
  postgres?: { url: string; passwordFile: string };
  /** Where operators checkpoint: the app directory (default) or the app's PostgreSQL schema. */
  checkpointStore?: 'file' | 'postgres';
  /** How long a store credential is accepted after an issue or renewal (renewed at 75% of it). Default 1 h. */
  storeLifetimeMs?: number;
  /** How long after its issue a store credential is replaced at the latest (reissued at 75% of it). Default 1 d. */
  storeMaxLifetimeMs?: number;
  /** Retry backoff of token renewals (renewal.ts); the defaults suit any lifetime. */
  renewalPolicy?: Partial<RenewalPolicy>;
  /**
   * Wraps the delegation-token store STRAM issues, renews and cancels through: the seam a test
   * uses to make the store temporarily unavailable, as `launcher` is for processes.
   */
  wrapTokenStore?: (store: TokenStore) => TokenStore;
  /**
   * When a lost container is replaced, and when the app gives up and is FAILED
   * (restart-strategy.ts): a strategy, or its text form (`fixed:attempts=3,delay=2s`). Default:
   * exponential backoff 1 s → 60 s, FAILED after 10 restarts without 10 minutes of calm.
   */
  restart?: string | RestartStrategy;
  /** How long containers get to exit after `shutdown` before they are killed. */
  shutdownGraceMs?: number;
  containerLogLevel?: string;
  /** How errors name an option, e.g. the CLI's `{ heartbeatTimeoutMs: '--heartbeat-timeout' }`; default: its own name. */
  optionNames?: Partial<Record<keyof StramOptions, string>>;
  /** How the person runs the CLI (`./sluice`, `sluice`), so the commands a refusal suggests run as printed. Default `sluice`. */
  command?: string;
}

const defaults = {
  heartbeatIntervalMs: 1_000,
  heartbeatTimeoutMs: 30_000,
  stramLossTimeoutMs: 120_000,
  launchTimeoutMs: 60_000,
  windowMs: 500,
  checkpointWindows: 60,
  webTokenTtlMs: 7 * DAY,
  keyUpdateIntervalMs: DAY,
  renewIntervalMs: DAY,
  maxLifetimeMs: 7 * DAY,
  removalScanIntervalMs: 3_600_000,
  storeLifetimeMs: 3_600_000,
  storeMaxLifetimeMs: DAY,
  shutdownGraceMs: 10_000,
  host: '127.0.0.1',
  tls: false,
  certLifetimeMs: 4 * 3_600_000,
};

/** The delegation-token store as STRAM uses it: StramSecretManager, or the insecure one. */
export type TokenStore = DelegationTokens & { close?(): Promise<void>; start?(): void; renew?(t: Token, r: string): Promise<number>; readonly keyRolls?: number };

export type Resolved = typeof defaults &
  StramOptions & { clock: Clock; logger: Logger; user: string; realUser: string; insecure: boolean; config: Record<string, unknown>; restart: string; restartStrategy: RestartStrategy };

/** `failed`: the restart strategy gave up; the app stopped its containers and keeps its directory (docs/guide.md "Restart strategies"). */
/** The longest `certLifetimeMs`. */
const MAX_CERT_LIFETIME_MS = 30 * 24 * 3_600_000;

export const AppState = { running: 'running', stopping: 'stopping', stopped: 'stopped', failed: 'failed' } as const;
export type AppState = (typeof AppState)[keyof typeof AppState];

export const INSECURE_WARNING = 'INSECURE MODE: any process on this machine can join this app (tokens use a well-known all-zero key)';

export function resolveOptions(options: StramOptions): Resolved {
  const o = { ...defaults, ...options } as Resolved;
  o.clock = options.clock ?? systemClock;
  o.logger = options.logger ?? createLogger({ name: 'stram' });
  o.user = options.user ?? userInfo().username;
  o.realUser = options.realUser ?? '';
  o.insecure = options.insecure ?? false;
  o.config = options.config ?? {};
  const name = (k: keyof StramOptions): string => optionName(options, k);
  // Kept as text too: state.json saves primitive options, and a recovered STRAM reads it back.
  o.restartStrategy = typeof options.restart === 'string' ? parseRestart(options.restart, name('restart')) : (options.restart ?? DEFAULT_RESTART);
  o.restart = formatRestart(o.restartStrategy);
  for (const k of ['heartbeatIntervalMs', 'heartbeatTimeoutMs', 'stramLossTimeoutMs', 'launchTimeoutMs', 'windowMs', 'checkpointWindows', 'webTokenTtlMs', 'shutdownGraceMs', 'certLifetimeMs', 'storeLifetimeMs', 'storeMaxLifetimeMs'] as const) {
    if (!Number.isSafeInteger(o[k]) || o[k] <= 0) throw new SluiceError('BAD_CONFIG', `${name(k)} must be a positive integer, not ${String(o[k])}`);
  }
  // Short-lived, renewed live (docs/architecture.md "Transport encryption"); a month at most keeps
  // every renewal timer within Node's (24.8 days) and a root rotation within the root's year.
  if (o.certLifetimeMs > MAX_CERT_LIFETIME_MS) throw new SluiceError('BAD_CONFIG', `${name('certLifetimeMs')} must be at most 30d (certificates are short-lived and renewed live), not ${formatDuration(o.certLifetimeMs)}`);
  if (o.heartbeatTimeoutMs <= o.heartbeatIntervalMs) {
    const [timeout, interval] = [formatDuration(o.heartbeatTimeoutMs), formatDuration(o.heartbeatIntervalMs)];
    throw new SluiceError('BAD_CONFIG', `${name('heartbeatTimeoutMs')} (${timeout}) must be longer than ${name('heartbeatIntervalMs')} (${interval})`);
  }
  if ((o.caCert === undefined) !== (o.caKey === undefined) || (o.caChain !== undefined && o.caCert === undefined)) {
    throw new SluiceError('BAD_USAGE', `${name('caCert')} and ${name('caKey')} go together (${name('caChain')} with them)`);
  }
  if (o.caCert !== undefined && !o.tls) throw new SluiceError('BAD_USAGE', `${name('caCert')} is the CA of TLS: it needs TLS on`);
  if (o.caCert !== undefined && o.caRotateMs !== undefined) throw new SluiceError('BAD_USAGE', `${name('caRotateMs')} rotates the app's own root; an operator-supplied intermediate is the operator's to rotate`);
  if (!options.launcher && !options.containerEntry) throw new SluiceError('BAD_CONFIG', 'STRAM needs a launcher or a containerEntry for the local launcher');
  return o;
}

/** How errors name option `k`: the caller's name for it (e.g. the CLI flag), else its own. */
export function optionName(options: StramOptions, k: keyof StramOptions): string {
  return options.optionNames?.[k] ?? k;
}

/** Loads and plans an app module: INVALID_DAG (naming the fault) when the DAG is not runnable. */
export async function planModule(appModule: string, config: Record<string, unknown> = {}): Promise<PhysicalPlan> {
  let mod: unknown;
  if (!existsSync(appModule)) throw new SluiceError('BAD_CONFIG', `app module ${appModule} does not exist (build the app first: a .js module exporting defineApp)`);
  try {
    mod = await import(pathToFileURL(resolve(appModule)).href);
  } catch (err) {
    throw new SluiceError('BAD_CONFIG', `cannot load app module ${appModule}: ${(err as Error).message}`, { cause: err });
  }
  return planApp(validateApp(appFromModule(mod), config));
}
