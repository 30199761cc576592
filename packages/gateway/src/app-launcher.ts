import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { openPrivateAppend, type Logger } from '@sluice/common';
import { AppDir, newAppId } from '@sluice/stram';
import { GatewayRefusal, RefusalCode, type LaunchRequest } from './api.js';
import type { AppEntry } from './registry.js';
import type { GatewayStores } from './stores.js';

/**
 * Launches an app as its caller (docs/security.md "Launching as the caller"): `sluice launch` in
 * a detached process of its own session, so the app outlives the gateway, with `--owner` the
 * caller and `--real-user` the gateway's principal (its STRAM tokens say who asked and who acted).
 * Nothing of the gateway's reaches it: no keytab, ticket cache or session key in its argv, its
 * environment (an allow-list, no KRB5_*) or its app directory. Its stdout and stderr go to
 * `<state-dir>/launches/<id>.log` (the app directory must be new for `sluice launch`).
 */

export interface LauncherOptions {
  stateDir: string;
  /** How to run the CLI: `[process.execPath, <cli bin>]`. */
  launchCommand: readonly string[];
  /** Apps known by name (`demo`), mapped to their module's path. */
  builtinApps: Readonly<Record<string, string>>;
  gatewayPrincipal: string;
  /** The stores a request may name (stores.ts). */
  stores: GatewayStores;
  logger: Logger;
  /** How long a launch may take to write its stram.json. */
  startTimeoutMs?: number;
}

/**
 * Launch settings a caller may give, by their long name (a trailing `Ms` is dropped): nothing that
 * picks the directory, the owner or the security mode. `tls` may only add encryption (`on`; off is
 * the default), and `certLifetime` sets how long its certificates live.
 */
const SETTINGS = new Set([
  'window',
  'checkpointWindows',
  'heartbeatInterval',
  'heartbeatTimeout',
  'stramLossTimeout',
  'renewInterval',
  'maxLifetime',
  'keyRoll',
  'tokenScan',
  'restart',
  'logLevel',
  'tls',
  'certLifetime',
  'checkpointStore',
  'storeLifetime',
  'storeMaxLifetime',
]);

/** The environment an app gets: what a node process needs to run, nothing that grants anything. */
const CHILD_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER', 'LOGNAME', 'SLUICE_LOG_LEVEL'];

const USAGE_CODES = new Set(['BAD_USAGE', 'BAD_CONFIG', 'BAD_APP_PACKAGE', 'INVALID_DAG']);

/** A launch under way: the app as the registry should know it from now on, and its outcome. */
export interface Launch {
  entry: AppEntry;
  /** Resolves with the entry (named as the app names itself) once its STRAM serves; rejects with the launch's one-line refusal. */
  started: Promise<AppEntry>;
}

export class AppLauncher {
  constructor(private readonly o: LauncherOptions) {}

  /**
   * Spawns the app for `caller`. The entry is known at once, so the registry can hold it while
   * the app starts (a gateway killed meanwhile still knows the app after a restart).
   */
  start(req: LaunchRequest, caller: string): Launch {
    const app = this.resolveApp(req.app);
    const name = req.app in this.o.builtinApps ? req.app : basename(app).replace(/\.[cm]?js$/, '');
    const id = newAppId(name);
    const appDir = join(this.o.stateDir, 'apps', id);
    const logPath = join(this.o.stateDir, 'launches', `${id}.log`);
    const args = [
      ...this.o.launchCommand.slice(1),
      'launch',
      `--app-dir=${appDir}`,
      `--app-id=${id}`,
      `--owner=${caller}`,
      `--real-user=${this.o.gatewayPrincipal}`,
      '--log-format=json',
      ...configArgs(req.config),
      ...this.storeArgs(req),
      ...settingArgs(req.settings),
      '--',
      app,
    ];
    mkdirSync(join(this.o.stateDir, 'apps'), { recursive: true, mode: 0o700 });
    mkdirSync(join(this.o.stateDir, 'launches'), { recursive: true, mode: 0o700 });
    const out = openPrivateAppend(logPath);
    const entry: AppEntry = { id, name, owner: caller, realUser: this.o.gatewayPrincipal, appDir, startedAt: Date.now(), grants: { view: [], manage: [] } };
    // cwd `/`: the app is given absolute paths only, and nothing of the gateway's directory.
    const child = spawn(this.o.launchCommand[0]!, args, { detached: true, stdio: ['ignore', out, out], env: childEnv(), cwd: '/' });
    closeSync(out);
    const log = this.o.logger.child({ app: id, owner: caller });
    log.info({ pid: child.pid, appDir }, 'launching app');
    const started = this.waitForStram(child, entry, logPath).then((named) => {
      log.info({ pid: child.pid, name: named.name }, 'app launched');
      return named;
    });
    return { entry, started };
  }

  /** Until the app's stram.json appears; the launch's own one-line refusal if it exits first. */
  private async waitForStram(child: ChildProcess, entry: AppEntry, logPath: string): Promise<AppEntry> {
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(-1));
    });
    const dir = new AppDir(entry.appDir);
    const timeoutMs = this.o.startTimeoutMs ?? 60_000;
    const deadline = entry.startedAt + timeoutMs;
    while (!existsSync(dir.info)) {
      const code = await Promise.race([exited, sleep(100).then(() => undefined)]);
      if (code !== undefined && !existsSync(dir.info)) {
        rmSync(entry.appDir, { recursive: true, force: true });
        throw launchFailed(logPath, code);
      }
      if (Date.now() > deadline) {
        stopGroup(child.pid);
        throw new GatewayRefusal(504, RefusalCode.launchFailed, `the app did not start within ${Math.round(timeoutMs / 1000)} s; its output is in ${logPath}`);
      }
    }
    child.unref();
    return { ...entry, name: dir.readInfo().name };
  }

  /**
   * The store a request names, as `sluice launch` flags (docs/stores.md "Through a gateway"). Only
   * `file` or `postgres` may say where checkpoints go: a URL there would name a server the gateway
   * does not offer.
   */
  private storeArgs(req: LaunchRequest): string[] {
    const where = req.settings['checkpointStore'];
    if (where !== undefined && where !== 'file' && where !== 'postgres') throw badRequest(`setting checkpointStore must be "file" or "postgres", not "${String(where).slice(0, 100)}"`);
    if (req.store === undefined) {
      if (where === 'postgres') throw badRequest(`checkpointStore "postgres" needs a store: name one of this gateway's (${this.o.stores.names.join(', ') || 'it has none'}) in "store"`);
      return [];
    }
    return this.o.stores.launchArgs(req.store);
  }

  private resolveApp(app: string): string {
    const builtin = this.o.builtinApps[app];
    if (builtin) return builtin;
    if (!isAbsolute(app)) throw badRequest(`app must be ${Object.keys(this.o.builtinApps).map((n) => `"${n}"`).join(', ')} or an absolute path on the gateway's machine, not "${app.slice(0, 200)}"`);
    if (!existsSync(app)) throw badRequest(`app ${app.slice(0, 200)} does not exist on the gateway's machine`);
    return app;
  }
}

function configArgs(config: Record<string, unknown>): string[] {
  return Object.entries(config).map(([key, value]) => {
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw badRequest(`config key "${key.slice(0, 100)}" is not a name (letters, digits, _ . -)`);
    return `--config=${key}=${JSON.stringify(value)}`;
  });
}

function settingArgs(settings: Record<string, string | number | boolean>): string[] {
  return Object.entries(settings).map(([key, value]) => {
    const name = key.replace(/Ms$/, '');
    if (!SETTINGS.has(name)) throw badRequest(`setting "${key.slice(0, 100)}" is not one of ${[...SETTINGS].join(', ')}`);
    const flag = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const text = typeof value === 'number' && key.endsWith('Ms') ? `${value}ms` : String(value);
    return `--${flag}=${text}`;
  });
}

function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(CHILD_ENV.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]]])));
}

/** The launch's own one-line refusal (`sluice launch: ... [CODE]`), as a 400 when it was the request's fault. */
function launchFailed(logPath: string, code: number | null): GatewayRefusal {
  let text = '';
  try {
    text = readFileSync(logPath, 'utf8');
  } catch {
    // no output at all: say so below
  }
  const lines = [...text.matchAll(/^sluice launch: (.*) \[([A-Z_]+)\]$/gm)];
  const last = lines.at(-1);
  if (last && USAGE_CODES.has(last[2]!)) return badRequest(`the launch was refused: ${last[1]!.slice(0, 500)} [${last[2]}]`);
  const reason = last ? `${last[1]!.slice(0, 500)} [${last[2]}]` : `it exited with code ${code} before serving`;
  return new GatewayRefusal(500, RefusalCode.launchFailed, `the app did not start: ${reason}; its output is in ${logPath}`);
}

function badRequest(reason: string): GatewayRefusal {
  return new GatewayRefusal(400, RefusalCode.badRequest, reason);
}

/** Ends a launch that hangs: its whole process group (it is detached, so it leads one). */
function stopGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
