import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * One bench role in its own `node` process. Roles speak one JSON object per stdout line:
 * `{"ready": {...}}` once they can be used, `{"progress": {...}}` while running and
 * `{"result": {...}}` at the end. stderr is kept for error messages.
 */
export interface Role {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Resolves with the `ready` payload (or the first line matching `readyLine` for foreign commands). */
  readonly ready: Promise<Record<string, unknown>>;
  /** Resolves with the first `result` payload; rejects if the process exits without one. */
  readonly result: Promise<Record<string, unknown>>;
  /** The next `result` not yet taken by nextResult() (roles that run several times report one per run). */
  nextResult(): Promise<Record<string, unknown>>;
  /** Sends one command line (JSON) to the role's stdin. */
  send(command: Record<string, unknown>): void;
  onProgress(fn: (p: Record<string, unknown>) => void): void;
  stderrTail(): string;
  stop(): Promise<void>;
}

export const rolePath = (role: string): string => fileURLToPath(new URL(`../roles/${role}.js`, import.meta.url));

export interface SpawnOptions {
  /** For commands that print plain text: a line matching this is the ready signal ({line, match}). */
  readyLine?: RegExp;
  timeoutMs?: number;
  nodeArgs?: string[];
  cwd?: string;
  /** Extra environment (e.g. NODE_OPTIONS for processes this one spawns). */
  env?: Record<string, string>;
}

let profiled = 0;

/**
 * Node flags that make a role write a V8 CPU profile into `dir` when it exits
 * (`pnpm bench --profile DIR`; read them with `node bench/dist/tools/prof-top.js FILE`).
 */
export function profileArgs(dir: string | null, label: string): string[] {
  if (!dir) return [];
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${String(++profiled).padStart(3, '0')}-${label.replace(/[^A-Za-z0-9_-]/g, '_')}.cpuprofile`];
}

/** Starts `node <script> ...args`. */
export function startNode(name: string, script: string, args: string[], options: SpawnOptions = {}): Role {
  const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: options.cwd,
    env: options.env ? { ...process.env, ...options.env } : process.env,
  });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const progress: ((p: Record<string, unknown>) => void)[] = [];
  const results: Record<string, unknown>[] = [];
  const waiters: { resolve(v: Record<string, unknown>): void; reject(e: Error): void }[] = [];
  let failure: Error | null = null;
  const failAll = (err: Error): void => {
    failure ??= err;
    for (const w of waiters.splice(0)) w.reject(err);
  };
  let resolveReady!: (v: Record<string, unknown>) => void;
  let rejectReady!: (e: Error) => void;
  let resolveResult!: (v: Record<string, unknown>) => void;
  let rejectResult!: (e: Error) => void;
  const ready = new Promise<Record<string, unknown>>((res, rej) => ((resolveReady = res), (rejectReady = rej)));
  const result = new Promise<Record<string, unknown>>((res, rej) => ((resolveResult = res), (rejectResult = rej)));
  ready.catch(() => {});
  result.catch(() => {});
  const timer = setTimeout(() => {
    const err = new Error(`${name}: not done within ${options.timeoutMs} ms; stderr: ${stderr.trim().slice(-600)}`);
    failAll(err);
    rejectReady(err);
    rejectResult(err);
    proc.kill('SIGKILL');
  }, options.timeoutMs ?? 120_000);
  timer.unref();
  proc.stdin!.on('error', () => {});
  const lines = createInterface({ input: proc.stdout! });
  lines.on('line', (line) => {
    if (options.readyLine) {
      const m = options.readyLine.exec(line);
      if (m) resolveReady({ line, match: m });
    }
    if (!line.startsWith('{')) return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if (msg['ready'] !== undefined) resolveReady(msg['ready'] as Record<string, unknown>);
    if (msg['progress'] !== undefined) for (const fn of progress) fn(msg['progress'] as Record<string, unknown>);
    if (msg['result'] !== undefined) {
      const r = msg['result'] as Record<string, unknown>;
      resolveResult(r);
      const w = waiters.shift();
      if (w) w.resolve(r);
      else results.push(r);
    }
    if (msg['error'] !== undefined) {
      const err = new Error(`${name}: ${String(msg['error'])}`);
      failAll(err);
      rejectReady(err);
      rejectResult(err);
    }
  });
  const exited = new Promise<void>((res) =>
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      const err = new Error(`${name} exited (${signal ?? code}) before reporting; stderr: ${stderr.trim().slice(-800)}`);
      // Give the line reader a moment: the result line may still be in the pipe.
      setTimeout(() => {
        failAll(err);
        rejectReady(err);
        rejectResult(err);
        res();
      }, 50);
    }),
  );
  return {
    name,
    proc,
    pid: proc.pid!,
    ready,
    result,
    onProgress: (fn) => void progress.push(fn),
    nextResult: () => {
      const r = results.shift();
      if (r) return Promise.resolve(r);
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    send: (command) => {
      if (proc.stdin?.writable) proc.stdin.write(`${JSON.stringify(command)}\n`);
    },
    stderrTail: () => stderr,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

export function startRole(role: string, args: string[], options: SpawnOptions = {}): Role {
  return startNode(role, rolePath(role), args, options);
}

/** Peak resident set size (VmHWM) of a live process, in bytes. */
export function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export function currentRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const TICKS_PER_S = 100;

/** CPU seconds (user + system) a live process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that ends the command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
