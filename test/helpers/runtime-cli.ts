import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Runs the built `sluice` CLI as a real process. */

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SLUICE = join(ROOT, 'packages', 'cli', 'bin', 'sluice.js');
export const WORDCOUNT = join(ROOT, 'packages', 'cli', 'dist', 'demo', 'wordcount.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running CLI process with its output so far. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => (this.stdout += b.toString('utf8')));
    child.stderr?.on('data', (b: Buffer) => (this.stderr += b.toString('utf8')));
    this.exited = new Promise((res) => child.once('close', (code, signal) => res({ code, signal, stdout: this.stdout, stderr: this.stderr })));
  }

  /** Resolves once stdout matches `re` (rejects if the process exits first). */
  async waitFor(re: RegExp, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpMatchArray> {
    for (;;) {
      const m = this[stream].match(re);
      if (m) return m;
      const r = await Promise.race([this.exited, new Promise<undefined>((res) => setTimeout(() => res(undefined), 50))]);
      if (r) {
        const again = this[stream].match(re);
        if (again) return again;
        throw new Error(`sluice exited (${r.code ?? r.signal}) before printing ${re}\nstdout: ${r.stdout}\nstderr: ${r.stderr.slice(-3000)}`);
      }
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

export function startCli(args: string[], cwd: string, env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, [SLUICE, ...args], { cwd, env: { ...process.env, SLUICE_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new CliProcess(child);
}

export function runCli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  return startCli(args, cwd, env).exited;
}

export function tempDir(prefix = 'sluice-e2e-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Whether a process with this pid exists: the same check `sluice status` makes. */
export { processAlive as pidAlive } from '@sluice/stram';

/** Waits until `pred` holds, polling (no timing assertions: the test timeout is the bound). */
export async function until(pred: () => boolean | Promise<boolean>, intervalMs = 100): Promise<void> {
  while (!(await pred())) await new Promise((r) => setTimeout(r, intervalMs));
}

/**
 * The process runs: it exists and is not a zombie. An orphan that exits stays a zombie where PID 1
 * does not reap (this sandbox's init does not), and signal 0 still reaches a zombie.
 */
export function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Bytes of /proc/<pid>/<file>, or null when the process is gone. */
export function procFile(pid: number, file: 'cmdline' | 'environ'): string | null {
  try {
    return readFileSync(`/proc/${pid}/${file}`).toString('utf8');
  } catch {
    return null;
  }
}
