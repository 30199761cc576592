import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';

/** A spawned server's stderr so far (the last few MB), when it exits, and how to stop it and remove its directory. */
export interface WatchedChild {
  stderr(): string;
  readonly exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export function watchChild(proc: ChildProcess, dir: string): WatchedChild {
  let err = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    err += chunk;
    if (err.length > 4_000_000) err = err.slice(-2_000_000);
  });
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  return {
    stderr: () => err,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(kill);
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
