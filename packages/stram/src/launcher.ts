import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { SluiceError, type Logger } from '@sluice/common';

/**
 * How STRAM starts containers. A launcher gets the path of the container's credentials file and
 * nothing else secret (docs/architecture.md "State on disk"); other launchers (ssh, k8s)
 * implement the same interface later.
 */
export interface LaunchSpec {
  container: string;
  /** Path of the container's 0600 credentials file: passed as env SLUICE_CREDENTIALS. */
  credentialsPath: string;
  /** Where the container's stdout/stderr go. */
  logPath: string;
  /** What the credentials file says too, and nothing secret: the app id, app directory and app module (a launcher that mounts them needs them). */
  app: string;
  appDir: string;
  appModule: string;
}

export interface LaunchedContainer {
  readonly pid: number | undefined;
  /** Settles when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
  /** On an orchestrator: the service it runs as and its current task (what `sluice status` shows). */
  readonly service?: string | undefined;
  readonly task?: string | undefined;
}

export interface Launcher {
  readonly name: string;
  /**
   * Whether this launcher can start containers at all (its engine answers, its entry exists),
   * asked once before STRAM writes anything: a launcher that cannot start any container fails
   * the launch with one line saying what is missing, instead of failing every container.
   */
  check(): Promise<void>;
  launch(spec: LaunchSpec): LaunchedContainer;
  /**
   * STRAM restart (`sluice launch --recover`): a handle on a container a previous STRAM launched,
   * by the pid it recorded (or by what the launcher labelled it with: `pid` is then null).
   * Undefined, or no such method: STRAM relies on heartbeats alone.
   */
  adopt?(spec: LaunchSpec, pid: number | null): LaunchedContainer | undefined;
  /** The app has ended (shut down or FAILED): remove what the launcher made for it (an orchestrator's network, secrets). */
  close?(app: string): Promise<void>;
}

export interface LocalLauncherOptions {
  /** The container entry script (`@sluice/container/main`), resolved by the caller: STRAM never imports container. */
  entry: string;
  /** Container log level, passed as SLUICE_LOG_LEVEL (a setting, not a secret). */
  logLevel?: string;
  logger?: Logger;
}

/**
 * Starts each container as `node <entry>` on this machine. The child's environment is built from
 * scratch — PATH, HOME, SLUICE_CREDENTIALS, SLUICE_LOG_LEVEL — never the parent's whole
 * environment, which may hold anything (cloud keys, tokens) the container has no business with.
 */
export class LocalLauncher implements Launcher {
  readonly name = 'local';

  constructor(private readonly options: LocalLauncherOptions) {}

  check(): Promise<void> {
    if (!existsSync(this.options.entry)) {
      return Promise.reject(new SluiceError('BAD_CONFIG', `the container entry ${this.options.entry} does not exist; build the workspace first (pnpm exec tsc -b)`));
    }
    return Promise.resolve();
  }

  launch(spec: LaunchSpec): LaunchedContainer {
    const env: Record<string, string> = { SLUICE_CREDENTIALS: spec.credentialsPath };
    for (const k of ['PATH', 'HOME'] as const) {
      const v = process.env[k];
      if (v !== undefined) env[k] = v;
    }
    env['SLUICE_LOG_LEVEL'] = this.options.logLevel ?? 'info';
    const log = openSync(spec.logPath, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [this.options.entry], { env, stdio: ['ignore', log, log], detached: false });
    } finally {
      closeSync(log);
    }
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        this.options.logger?.error({ container: spec.container, err: err.message }, 'container process failed to start');
        resolve({ code: -1, signal: null });
      });
    });
    this.options.logger?.info({ container: spec.container, pid: child.pid }, 'container launched');
    return {
      pid: child.pid,
      exited,
      kill: (signal: NodeJS.Signals = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  }

  /**
   * A container started by an earlier STRAM is not our child: its exit is seen by polling the pid.
   * A pid is only trusted while /proc says it still runs this launcher's entry (pids are reused).
   */
  adopt(spec: LaunchSpec, pid: number | null): LaunchedContainer | undefined {
    if (!pid) return undefined;
    const ours = (): boolean => {
      try {
        process.kill(pid, 0);
      } catch {
        return false;
      }
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.options.entry);
      } catch {
        return true; // no /proc (not Linux): the pid is all there is to go by
      }
    };
    let gone = !ours();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (gone) return resolve({ code: null, signal: null });
      const t = setInterval(() => {
        if (ours()) return;
        gone = true;
        clearInterval(t);
        resolve({ code: null, signal: null });
      }, ADOPTED_POLL_MS);
      t.unref();
    });
    this.options.logger?.info({ container: spec.container, pid, alive: !gone }, 'container adopted from the previous STRAM');
    return {
      pid,
      exited,
      kill: (signal: NodeJS.Signals = 'SIGTERM') => {
        if (!gone && ours()) process.kill(pid, signal);
      },
    };
  }
}

/** How often an adopted container's pid is checked. */
const ADOPTED_POLL_MS = 500;
