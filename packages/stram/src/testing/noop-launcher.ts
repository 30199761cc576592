import type { LaunchSpec, LaunchedContainer, Launcher } from '../launcher.js';

/**
 * A launcher that starts nothing: tests connect FakeContainers with the credentials STRAM wrote.
 * `kill` (or STRAM's shutdown grace) "ends" the pretend process.
 */
export class NoopLauncher implements Launcher {
  readonly name = 'noop';
  readonly launched: LaunchSpec[] = [];
  private readonly ends = new Map<string, (code?: number) => void>();

  check(): Promise<void> {
    return Promise.resolve();
  }

  launch(spec: LaunchSpec): LaunchedContainer {
    this.launched.push(spec);
    let end!: (e: { code: number | null; signal: NodeJS.Signals | null }) => void;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => (end = r));
    this.ends.set(spec.container, (code = 0) => end({ code, signal: null }));
    return { pid: undefined, exited, kill: (signal = 'SIGTERM') => end({ code: null, signal }) };
  }

  /** Pretend container `id` exited by itself (code 0 unless told). */
  exit(id: string, code = 0): void {
    this.ends.get(id)?.(code);
  }

  /** How many processes were started for container `id`. */
  launches(id: string): number {
    return this.launched.filter((s) => s.container === id).length;
  }
}
