import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  deployFor,
  instantiateOperator,
  matchesPartition,
  planApp,
  validateApp,
  type AppDefinition,
  type DeployOperator,
  type Logger,
  type OperatorStats,
} from '@sluice/common';
import { FileCheckpointStore } from './checkpoint-store.js';
import { OutputEmitter, type OutputSink } from './emitter.js';
import { OperatorRunner } from './operator-runner.js';
import { partitionKeyFor, sourceId, sourcesOf } from './wiring.js';

/**
 * The local harness (Flink's MiniCluster, Apex's local mode): an app's whole DAG in this process,
 * for an app author's unit tests. The operators, the OperatorRunner (lifecycle, window clock,
 * checkpoints) and the WindowTracker (window alignment) are the ones a container runs; only the
 * transport differs: every stream is an in-process edge, with the partition filter a buffer server
 * would apply to a partitioned stream (docs/protocol.md "Subscriber (role `subscribe`)", its "Partitions" paragraph). No STRAM, no tokens, no
 * sockets. Windows come as fast as the operators take them; checkpoints are written to `dir`
 * exactly as a container writes them, so a second run can restore from them.
 */

export interface LocalRunOptions {
  /** Input operators emit this many windows (after `restoreWindow`), then the run ends. */
  windows: number;
  /** The app config, as `--config key=value` gives it at launch. */
  config?: Record<string, unknown>;
  /** Operators checkpoint every n windows (default 60, as at launch). */
  checkpointWindows?: number;
  /** The app directory (checkpoints, and OperatorContext.appDir); default a fresh temporary one, removed by close(). */
  dir?: string;
  /** Restore every operator from its checkpoint of this window in `dir` and resume after it (what recovery does from the committed window). */
  restoreWindow?: number;
  logger?: Logger;
}

export interface LocalRun {
  /** The app directory the run used. */
  readonly dir: string;
  /** The last window every operator completed. */
  readonly lastWindow: number;
  /** The tuples emitted on a stream, per window (every window the run went through, empty ones too), ascending. */
  outputs(stream: string): { w: number; tuples: unknown[] }[];
  /** The windows an operator (physical id, e.g. `counter#1`) checkpointed, ascending. */
  checkpoints(operator: string): number[];
  /** The state an operator checkpointed at window w. */
  checkpoint(operator: string, w: number): unknown;
  stats(): OperatorStats[];
  /** Removes the app directory when the harness made it. */
  close(): void;
}

const LOCAL_URL = 'local:';

export async function runLocal(app: AppDefinition, options: LocalRunOptions): Promise<LocalRun> {
  if (!Number.isSafeInteger(options.windows) || options.windows <= 0) throw new Error(`runLocal: windows must be a positive whole number, not ${String(options.windows)}`);
  const config = options.config ?? {};
  const plan = planApp(validateApp(app, config));
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), `sluice-local-${app.name}-`));
  const logger = options.logger ?? createLogger({ name: 'local', level: 'silent' });
  const checkpoints = new FileCheckpointStore(dir);
  const restore = options.restoreWindow ?? 0;
  const last = restore + options.windows;
  const urls = new Map(plan.containers.map((c) => [c.id, LOCAL_URL]));
  const restoreAt = new Map(plan.operators.map((o) => [o.id, restore]));
  const deploys = plan.containers.flatMap((c) => deployFor(plan, c.id, urls, restoreAt));
  const order = new Map(plan.logical.order.map((name, i) => [name, i]));
  deploys.sort((a, b) => order.get(a.operator)! - order.get(b.operator)!);

  let failure: Error | undefined;
  const runners = new Map<string, OperatorRunner>(
    deploys.map((d) => [
      d.id,
      new OperatorRunner({
        deploy: d,
        instance: instantiateOperator(app, d.operator, config),
        appDir: dir,
        logger,
        checkpoints,
        checkpointWindows: options.checkpointWindows ?? 60,
        windowMs: 0,
        lastWindow: last,
        onError: (err) => (failure ??= err),
      }),
    ]),
  );
  const recorded = new Map<string, Map<number, unknown[]>>(plan.logical.streams.map((s) => [s.name, new Map()]));
  for (const d of deploys) runners.get(d.id)!.setSources(sourcesOf(d));
  for (const d of deploys) {
    for (const out of d.outputs) {
      const sinks = [recorder(recorded.get(out.stream)!), ...downstreamSinks(deploys, runners, d.id, out.stream)];
      runners.get(d.id)!.setOutput(out.port, new OutputEmitter(sinks, out.partitioned ? partitionKeyFor({ app, config }, out.stream) : false));
    }
  }
  for (const r of runners.values()) await r.setup({ appDir: dir, logger });
  for (const r of runners.values()) r.startWindows();
  try {
    // The runners pump on promises; wait for every operator to finish the last window (or fail).
    while (!failure && [...runners.values()].some((r) => r.stats().window < last)) await new Promise((resolve) => setImmediate(resolve));
  } finally {
    for (const r of runners.values()) await r.stop();
  }
  if (failure) {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw failure;
  }
  return {
    dir,
    lastWindow: last,
    outputs: (stream) => {
      const windows = recorded.get(stream);
      if (!windows) throw new Error(`the app has no stream "${stream}"`);
      return [...windows].sort(([a], [b]) => a - b).map(([w, tuples]) => ({ w, tuples }));
    },
    checkpoints: (operator) => checkpoints.windowsNow(operator),
    checkpoint: (operator, w) => checkpoints.loadNow(operator, w),
    stats: () => [...runners.values()].map((r) => r.stats()),
    close: () => {
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The in-process edges from one upstream's stream to each downstream input, filtered per partition as a buffer server does. */
function downstreamSinks(deploys: DeployOperator[], runners: Map<string, OperatorRunner>, upstream: string, stream: string): OutputSink[] {
  const sinks: OutputSink[] = [];
  for (const d of deploys) {
    for (const input of d.inputs) {
      if (input.stream !== stream) continue;
      const local = runners.get(d.id)!.localSink(sourceId(input.port, upstream));
      if (input.local.includes(upstream)) {
        sinks.push(local);
        continue;
      }
      const remote = input.upstreams.find((u) => u.operator === upstream);
      if (!remote) continue;
      const filter = remote.partitions;
      sinks.push({
        ...local,
        data: (w, tuples, p) => {
          if (!filter || !p) return local.data(w, tuples);
          const mine = tuples.filter((_, i) => matchesPartition(p[i]!, filter));
          if (mine.length > 0) local.data(w, mine); // a buffer server sends no empty data message
        },
      });
    }
  }
  return sinks;
}

/** Records a stream's tuples per window (every partition of its upstream, in emission order). */
function recorder(windows: Map<number, unknown[]>): OutputSink {
  return {
    begin: (w) => {
      if (!windows.has(w)) windows.set(w, []); // partitions of one upstream share the window's list
    },
    data: (w, tuples) => {
      windows.get(w)!.push(...tuples);
    },
    end: () => undefined,
    ready: () => Promise.resolve(),
  };
}
