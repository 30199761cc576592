import { execFile } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SluiceError, isoTime, type Logger } from '@sluice/common';
import { renewalPolicy, retryDelay, type RenewalPolicy } from '@sluice/stram';
import { checkKeytab } from './spnego.js';

const run = promisify(execFile);

/**
 * The gateway's own Kerberos login (docs/security.md "The gateway API"): a TGT for its
 * principal from its keytab in a private ticket cache, logged in again at 75% of each ticket's
 * lifetime and retried with backoff while the KDC does not answer. The keytab's path may appear
 * in argv; its bytes never leave the file.
 */

/** What the server's metrics need to hear; `sluice_gateway_kerberos_*` are published from it. */
export interface KerberosLoginObserver {
  /** A login succeeded; its TGT expires at `expiresAt` (ms since the epoch). */
  login(expiresAt: number, logins: number): void;
  /** A login failed; the next attempt is in `retryInMs`. */
  failure?(error: SluiceError, retryInMs: number): void;
}

export interface KeytabLoginOptions {
  keytab: string;
  /** The principal whose keys the keytab holds (`HTTP/gw.example.com@EXAMPLE.COM`). */
  principal: string;
  /** The ticket cache file (default: a file in a fresh private temp dir, removed by stop()). */
  ccacheFile?: string;
  observer?: KerberosLoginObserver;
  logger?: Logger;
  /** Re-login at this fraction of a ticket's lifetime, and the backoff of failed attempts. */
  policy?: Partial<RenewalPolicy>;
  /** Extra environment for kinit and klist (KRB5_CONFIG, ...); the process's own by default. */
  env?: NodeJS.ProcessEnv;
}

/** When a ticket valid from `startsAt` to `expiresAt` should be replaced (ms since the epoch). */
export function reloginAt(startsAt: number, expiresAt: number, fraction: number): number {
  return Math.floor(startsAt + fraction * (expiresAt - startsAt));
}

/**
 * The krbtgt line of `klist` run with LC_ALL=C and TZ=UTC: its start and end (ms since the epoch),
 * or undefined when the cache holds no TGT.
 */
export function parseKlist(stdout: string): { startsAt: number; expiresAt: number } | undefined {
  const t = String.raw`(\d\d)/(\d\d)/(\d\d(?:\d\d)?) (\d\d):(\d\d):(\d\d)`;
  const m = new RegExp(`^${t}\\s+${t}\\s+krbtgt/`, 'm').exec(stdout);
  if (!m) return undefined;
  const at = (i: number): number => {
    const [mo, d, y, h, mi, s] = m.slice(i, i + 6).map(Number) as [number, number, number, number, number, number];
    return Date.UTC(y < 100 ? 2000 + y : y, mo - 1, d, h, mi, s);
  };
  return { startsAt: at(1), expiresAt: at(7) };
}

const LOGIN_BACKOFF_MAX_MS = 30_000;
/** The longest wait before the next login (see `schedule`). */
const MAX_WAIT_MS = 24 * 3_600_000;

export class KeytabLogin {
  readonly principal: string;
  readonly keytab: string;
  /** `FILE:<path>`: give it to GSSAPI as KRB5CCNAME. */
  readonly ccache: string;
  private readonly file: string;
  private readonly ownDir: string | undefined;
  private readonly policy: RenewalPolicy;
  private readonly env: NodeJS.ProcessEnv;
  private timer: NodeJS.Timeout | undefined;
  private attempt: Promise<boolean> | undefined;
  private consecutiveFailures = 0;
  private _failures = 0;
  private _failing = 0;
  private stopped = false;
  private _logins = 0;
  private _expiresAt: number | undefined;

  constructor(private readonly options: KeytabLoginOptions) {
    this.principal = options.principal;
    this.keytab = checkKeytab(options.keytab);
    // Retries back off to 30 s at most, not the 5 min of token renewals: once its TGT has lapsed
    // the gateway cannot log in on anyone's behalf, and one kinit costs the KDC little.
    this.policy = renewalPolicy({ backoffMaxMs: LOGIN_BACKOFF_MAX_MS, ...options.policy });
    this.env = { ...process.env, ...options.env, LC_ALL: 'C', TZ: 'UTC' };
    if (options.ccacheFile) {
      this.file = options.ccacheFile;
    } else {
      this.ownDir = mkdtempSync(join(tmpdir(), 'sluice-gw-ccache-'));
      this.file = join(this.ownDir, 'ccache');
    }
    this.ccache = `FILE:${this.file}`;
  }

  /** Logins that succeeded so far. */
  get logins(): number {
    return this._logins;
  }

  /** Logins that failed so far (each retry counts). */
  get failures(): number {
    return this._failures;
  }

  /** Failed logins since the last one that succeeded (0: healthy). */
  get failuresSinceLogin(): number {
    return this._failing;
  }

  /** When the current TGT expires (ms since the epoch), undefined before the first login. */
  get expiresAt(): number | undefined {
    return this._expiresAt;
  }

  /**
   * Logs in now and keeps the ticket fresh from then on. Resolves true once logged in, false
   * when the first attempt failed (retries are then already scheduled); never rejects for a KDC
   * that does not answer.
   */
  start(): Promise<boolean> {
    this.stopped = false;
    return this.loginNow();
  }

  /** Stops re-logging in and removes the private ticket cache. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.attempt;
    if (this.ownDir) rmSync(this.ownDir, { recursive: true, force: true });
  }

  /** One attempt at a time: a call while one is running shares it. */
  private loginNow(): Promise<boolean> {
    this.attempt ??= this.login().finally(() => (this.attempt = undefined));
    return this.attempt;
  }

  private async login(): Promise<boolean> {
    const log = this.options.logger;
    try {
      const life = await this.kinit();
      this.consecutiveFailures = 0;
      this._logins++;
      this._failing = 0;
      this._expiresAt = life.expiresAt;
      const next = Math.max(reloginAt(life.startsAt, life.expiresAt, this.policy.fraction), Date.now() + this.policy.minWaitMs);
      log?.info({ principal: this.principal, expiresAt: isoTime(life.expiresAt), logins: this._logins, nextLoginAt: isoTime(next) }, 'kerberos login');
      this.options.observer?.login(life.expiresAt, this._logins);
      this.schedule(next - Date.now());
      return true;
    } catch (err) {
      const error = err instanceof SluiceError ? err : new SluiceError('KERBEROS_LOGIN_FAILED', String(err), { cause: err });
      this.consecutiveFailures++;
      this._failures++;
      this._failing++;
      const remaining = this._expiresAt === undefined ? 0 : this._expiresAt - Date.now();
      const wait = retryDelay(this.consecutiveFailures, remaining, this.policy);
      log?.warn({ principal: this.principal, failures: this.consecutiveFailures, retryInMs: wait, err: error.message }, 'kerberos login failed');
      this.options.observer?.failure?.(error, wait);
      this.schedule(wait);
      return false;
    }
  }

  /** At most a day ahead: a longer setTimeout (past 24.8 days) fires at once, and a relogin a day early costs one kinit. */
  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loginNow(), Math.min(Math.max(0, ms), MAX_WAIT_MS));
    this.timer.unref();
  }

  /**
   * kinit into a fresh file renamed over the cache, so a reader of the cache never sees it
   * empty or half written; then klist for the new TGT's times.
   */
  private async kinit(): Promise<{ startsAt: number; expiresAt: number }> {
    const fresh = `${this.file}.${process.pid}.new`;
    try {
      await run('kinit', ['-k', '-t', this.keytab, '-c', `FILE:${fresh}`, this.principal], { env: this.env, timeout: 30_000 });
      const { stdout } = await run('klist', ['-c', `FILE:${fresh}`], { env: this.env, timeout: 10_000 });
      const life = parseKlist(stdout);
      if (!life) throw new SluiceError('KERBEROS_LOGIN_FAILED', `kinit for ${this.principal} left no TGT in its ticket cache`);
      renameSync(fresh, this.file);
      return life;
    } catch (err) {
      rmSync(fresh, { force: true });
      if (err instanceof SluiceError) throw err;
      const stderr = ((err as { stderr?: string }).stderr ?? '').trim().split('\n').pop() ?? '';
      const why = stderr.replace(/^kinit:\s*/, '') || (err as Error).message;
      throw new SluiceError('KERBEROS_LOGIN_FAILED', `cannot log in as ${this.principal} with keytab ${this.keytab}: ${why}`, { cause: err });
    }
  }
}
