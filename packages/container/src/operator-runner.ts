import { hooksOf, portsOf, type DeployOperator, type InputPort, type Logger, type OperatorHooks, type OperatorPorts, type OperatorStats } from '@sluice/common';
import type { CheckpointStore } from './checkpoint-store.js';
import type { OutputEmitter, OutputSink } from './emitter.js';
import { WindowTracker, type StreamEvent, type TrackerAction } from './window-tracker.js';

/**
 * Runs one physical operator: its lifecycle, its windows and its stats. Input operators are
 * driven by a window clock (ids restoreWindow+1, +2, … in every partition); the others by the
 * WindowTracker over their upstream sources. Hooks run one at a time, in window order, on a
 * serial action queue, so async hooks never interleave.
 */

export interface RunnerOptions {
  deploy: DeployOperator;
  instance: object;
  appDir: string;
  logger: Logger;
  checkpoints: CheckpointStore;
  checkpointWindows: number;
  windowMs: number;
  /** Input operators stop after this window (the local harness runs a fixed number); absent = until stopped. */
  lastWindow?: number;
  /** Called once when a hook throws; the runner stops itself. */
  onError(err: Error, runner: OperatorRunner): void;
  now?: () => number;
}

/** Queued actions above which upstreams are held back (subscriber onEnd waits). */
const BACKLOG_LIMIT = 256;

export class OperatorRunner {
  readonly id: string;
  readonly deploy: DeployOperator;
  readonly ports: OperatorPorts;
  readonly emitters = new Map<string, OutputEmitter>();
  private readonly hooks: OperatorHooks;
  private readonly log: Logger;
  private readonly now: () => number;
  private tracker: WindowTracker | undefined;
  private readonly sourcePorts = new Map<string, InputPort>();
  private readonly queue: TrackerAction[] = [];
  private pumping: Promise<void> | null = null;
  private waiters: (() => void)[] = [];
  private stopped = false;
  private sleepTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private inputLoop: Promise<void> | null = null;
  private windowStart = 0;
  private readonly stat: OperatorStats;

  constructor(private readonly o: RunnerOptions) {
    this.deploy = o.deploy;
    this.id = o.deploy.id;
    this.ports = portsOf(o.instance);
    this.hooks = hooksOf(o.instance);
    this.log = o.logger.child({ operator: this.id });
    this.now = o.now ?? Date.now;
    const w = o.deploy.restoreWindow;
    this.stat = { id: this.id, window: w, tuplesIn: 0, tuplesOut: 0, latencyMs: 0, checkpoint: w };
  }

  get isInput(): boolean {
    return this.ports.inputs.size === 0;
  }

  /** Declares the upstream sources (`<port>|<upstream id>`) whose windows this operator aligns. */
  setSources(sources: { id: string; port: string }[]): void {
    for (const s of sources) {
      const port = this.ports.inputs.get(s.port);
      if (!port) throw new Error(`${this.id} has no input port ${s.port}`);
      this.sourcePorts.set(s.id, port);
    }
    if (sources.length > 0) this.tracker = new WindowTracker(sources.map((s) => s.id), this.deploy.restoreWindow);
  }

  setOutput(port: string, emitter: OutputEmitter): void {
    const out = this.ports.outputs.get(port);
    if (!out) throw new Error(`${this.id} has no output port ${port}`);
    this.emitters.set(port, emitter);
    out.connect((t) => emitter.emit(t));
  }

  /** The window a source should be (re)subscribed from. */
  resumeWindow(source: string): number {
    return this.tracker?.resumeWindow(source) ?? this.deploy.restoreWindow + 1;
  }

  async setup(ctx: { appDir: string; logger: Logger; store?: (system: string) => Readonly<Record<string, string>> | undefined }): Promise<void> {
    await this.hooks.setup?.({
      id: this.id,
      name: this.deploy.operator,
      partition: this.deploy.partition,
      partitions: this.deploy.partitions,
      appDir: ctx.appDir,
      logger: ctx.logger.child({ operator: this.id }),
      ...(ctx.store ? { store: ctx.store } : {}),
    });
    const w = this.deploy.restoreWindow;
    if (w > 0) {
      const state = await this.o.checkpoints.load(this.id, w);
      this.hooks.restore?.(state);
      this.log.info({ window: w }, 'restored from checkpoint');
    }
  }

  /** Feeds one upstream event (from a subscriber or an in-process upstream). */
  deliver(source: string, event: StreamEvent): void {
    if (this.stopped || !this.tracker) return;
    const actions = this.tracker.push(source, event);
    if (event.t !== 'data') this.log.debug({ source, event: event.t, w: event.w, open: this.tracker.openWindow, actions: actions.length, queue: this.queue.length }, 'upstream event');
    if (actions.length === 0) return;
    for (const a of actions) this.queue.push(a);
    this.kick();
  }

  /**
   * Starts the action pump unless it runs. `pumping` is cleared in a `.finally` callback, which
   * always runs after the assignment (a pump that finishes synchronously must not leave a stale
   * promise behind), and re-kicks for actions queued after the loop's last look.
   */
  private kick(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.queue.length > 0) this.kick();
    });
  }

  /** Whether upstreams should wait (see ready()). */
  get backlogged(): boolean {
    return this.queue.length >= BACKLOG_LIMIT && !this.stopped;
  }

  /** Resolves once the action backlog is small again (backpressure towards upstreams). */
  ready(): Promise<void> {
    if (this.queue.length < BACKLOG_LIMIT || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A sink feeding this runner in-process (container locality). */
  localSink(source: string): OutputSink {
    return {
      begin: (w) => this.deliver(source, { t: 'begin', w }),
      data: (w, tuples) => this.deliver(source, { t: 'data', w, tuples }),
      end: (w) => this.deliver(source, { t: 'end', w }),
      ready: () => this.ready(),
    };
  }

  private async pump(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.stopped) {
        const a = this.queue.shift()!;
        if (a.t === 'begin') await this.beginWindow(a.w);
        else if (a.t === 'data') this.process(a.source, a.tuples);
        else await this.endWindow(a.w);
        if (this.queue.length < BACKLOG_LIMIT / 2 && this.waiters.length > 0) this.release();
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.release();
    }
  }

  private release(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }

  private process(source: string, tuples: unknown[]): void {
    const port = this.sourcePorts.get(source)!;
    this.stat.tuplesIn += tuples.length;
    for (const t of tuples) port.process(t);
  }

  private async beginWindow(w: number): Promise<void> {
    this.windowStart = this.now();
    for (const e of this.emitters.values()) e.begin(w);
    await this.hooks.beginWindow?.(w);
  }

  private async endWindow(w: number): Promise<void> {
    await this.hooks.endWindow?.(w);
    for (const e of this.emitters.values()) e.end(w);
    this.stat.window = w;
    this.stat.latencyMs = Math.max(0, this.now() - this.windowStart);
    if (w % this.o.checkpointWindows === 0) {
      await this.o.checkpoints.save(this.id, w, this.hooks.checkpoint?.());
      this.stat.checkpoint = w;
    }
    for (const e of this.emitters.values()) await e.ready();
  }

  /** Input operators: runs windows every windowMs until stopped. */
  startWindows(): void {
    if (!this.isInput || this.inputLoop) return;
    this.inputLoop = this.runInputWindows().catch((err: unknown) => this.fail(err as Error));
  }

  private async runInputWindows(): Promise<void> {
    let w = this.deploy.restoreWindow;
    let due = this.now();
    const last = this.o.lastWindow ?? Infinity;
    while (!this.stopped && w < last) {
      w++;
      await this.beginWindow(w);
      await this.hooks.emitTuples?.(w);
      await this.endWindow(w);
      due += this.o.windowMs;
      const delay = due - this.now();
      if (delay > 0) await this.sleep(delay);
      else due = this.now(); // behind: carry on at once, without a burst to catch up
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  private fail(err: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    this.log.error({ err: err.message }, 'operator failed');
    this.o.onError(err, this);
  }

  stats(): OperatorStats {
    let out = 0;
    for (const e of this.emitters.values()) out += e.tuplesOut;
    return { ...this.stat, tuplesOut: out };
  }

  /** Stops windows (the current hook finishes first), then runs teardown. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.sleepTimer);
    this.wake?.();
    this.release();
    await this.inputLoop;
    await this.pumping;
    try {
      await this.hooks.teardown?.();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'teardown failed');
    }
  }
}
