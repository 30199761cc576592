import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Control } from '@sluice/buffer-server';
import { cpuSeconds, peakRss, profileArgs, startRole, type Role } from './child.js';
import { startServer, type RunningServer, type ServerMode, type ServerOptions } from './servers.js';
import type { Ctx } from './suite.js';

/**
 * A publisher → server → N subscribers rig, every role in its own process, kept up across the
 * runs of a case (the publisher publishes one run per command). For Sluice servers the runner
 * plays STRAM's part: it purges the windows every subscriber has finished, so the server holds
 * only what is in flight (docs/architecture.md "Recovery").
 */
export interface RigOptions {
  server: ServerMode;
  size: number;
  batch: number;
  subscribers: number;
  /** Tag tuples with p = position in batch; subscriber s reads partition s mod N (mask N-1, N a power of 2). */
  partitions?: number;
  windowTuples: number;
  readRate?: number;
  verify?: boolean;
  serverOptions?: ServerOptions;
  /** Poll the server's stats (Sluice only) every this many ms during runs. */
  statsEveryMs?: number;
  /** Subscribers count their rate from this long after a run's first data (steady state). */
  steadyAfterMs: number;
  /** Length of the unreported warm-up run (default 300 ms). */
  warmupMs?: number;
  /** Longest one run may take, publishing and draining. */
  runTimeoutMs: number;
  nodeArgs?: { publisher?: string[]; subscriber?: string[] };
}

export interface RunResult {
  /** Steady-state tuples/s of each subscriber. */
  subRates: number[];
  subTuples: number[];
  /** Every tuple so far received once and in order (with verify), per subscriber. */
  verified: (boolean | null)[];
  received: number[];
  subStalls: number[];
  pubTuples: number;
  /** Tuples published since the rig started (the next sequence number). */
  pubTotal: number;
  pubRate: number;
  /** Peak RSS of the server during this run (VmHWM, reset at the run's start). */
  serverPeakRss: number;
  /** Server CPU seconds (user + system) from the publisher's start to the last subscriber's report. */
  serverCpuS: number;
  wallS: number;
  /** From the server's stats, sampled during the run (collections: 0 from a server without the figure). */
  stats: { peakSpoolBytes: number; spilledBytes: number; pauses: number; peakMemoryBytes: number; memoryLimit: number; spoolLimit: number; collections: number; peakFootprintBytes: number } | null;
}

let rigs = 0;

export class StreamRig {
  private control: Control | null = null;
  private purgeTimer: NodeJS.Timeout | undefined;
  private runs = 0;
  readonly idleRss: number;

  private constructor(
    private readonly o: RigOptions,
    readonly server: RunningServer,
    private readonly pub: Role,
    private readonly subs: Role[],
    private readonly progress: number[],
  ) {
    this.idleRss = peakRss(server.role.pid);
  }

  static async start(ctx: Ctx, o: RigOptions): Promise<StreamRig> {
    const n = ++rigs;
    const mode = o.server === 'raw' ? 'raw' : 'sluice';
    // Clients start while the server boots (module loading overlaps); they connect on command.
    const roles: Role[] = [];
    const tokenFiles: [string, 'subscribe' | 'publish'][] = [];
    const clientTlsDir = o.server === 'secure-tls' ? join(ctx.tmp, `rig-${n}-tls`) : undefined;
    const tokenFile = (access: 'subscribe' | 'publish'): string[] => {
      if (mode === 'raw') return [];
      const path = join(ctx.tmp, `rig-${n}-${tokenFiles.length}.token`);
      tokenFiles.push([path, access]);
      return ['--token-file', path, ...(clientTlsDir ? ['--tls-dir', clientTlsDir] : [])];
    };
    const subs: Role[] = [];
    const progress: number[] = [];
    for (let s = 0; s < o.subscribers; s++) {
      const args = ['--mode', mode, '--name', `sub-${s}`, '--warmup-ms', String(o.steadyAfterMs), ...tokenFile('subscribe')];
      if (o.partitions) args.push('--partition-mask', String(o.partitions - 1), '--partition-key', String(s % o.partitions));
      if (o.readRate) args.push('--read-rate', String(Math.round(o.readRate)));
      if (o.verify) args.push('--verify');
      const sub = startRole('subscriber', args, { timeoutMs: 60 * 60_000, nodeArgs: [...(o.nodeArgs?.subscriber ?? []), ...profileArgs(ctx.profileDir, `subscriber-${o.server}`)] });
      progress.push(0);
      sub.onProgress((p) => (progress[s] = Number(p['w'])));
      subs.push(sub);
      roles.push(sub);
    }
    const pubArgs = ['--mode', mode, '--size', String(o.size), '--batch', String(o.batch), '--window-tuples', String(o.windowTuples), ...tokenFile('publish')];
    if (o.partitions) pubArgs.push('--partitioned');
    const pub = startRole('publisher', pubArgs, { timeoutMs: 60 * 60_000, nodeArgs: [...(o.nodeArgs?.publisher ?? []), ...profileArgs(ctx.profileDir, `publisher-${o.server}`)] });
    roles.push(pub);
    let server: RunningServer | undefined;
    try {
      server = await startServer(ctx, o.server, { ...o.serverOptions, ...(clientTlsDir ? { clientTlsDir } : {}) });
      for (const [path, access] of tokenFiles) server.token(access, ['bench'], path);
      // Subscribers first, so they are there from the first window.
      for (const sub of subs) sub.send({ connect: { url: server.url } });
      await Promise.all(subs.map((r) => r.ready));
      pub.send({ connect: { url: server.url } });
      await pub.ready;
      const rig = new StreamRig(o, server, pub, subs, progress);
      if (mode === 'sluice') await rig.startPurging();
      // One short run, not reported: JIT warm-up and first-connection costs hit neither side's figures.
      await rig.run(o.warmupMs ?? 300);
      return rig;
    } catch (err) {
      await Promise.all(roles.map((r) => r.stop()));
      await server?.stop();
      throw err;
    }
  }

  private async startPurging(): Promise<void> {
    const control = (this.control = await this.server.control());
    let purged = 0;
    let purging = false;
    this.purgeTimer = setInterval(() => {
      const w = Math.min(...this.progress);
      if (purging || w <= purged) return;
      purging = true;
      control.purge('bench', w).then(
        () => ((purged = w), (purging = false)),
        () => (purging = false),
      );
    }, 100);
  }

  async run(durationMs: number): Promise<RunResult> {
    const k = this.runs++;
    const pid = this.server.role.pid;
    // Reset the server's peak RSS so VmHWM is this run's peak (proc(5), clear_refs "5").
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      // Not allowed here: the peak then covers the rig's whole life, which is still an upper bound.
    }
    let stats: RunResult['stats'] = null;
    let statsTimer: NodeJS.Timeout | undefined;
    if (this.o.statsEveryMs && this.control) {
      const st = (stats = { peakSpoolBytes: 0, spilledBytes: 0, pauses: 0, peakMemoryBytes: 0, memoryLimit: 0, spoolLimit: 0, collections: 0, peakFootprintBytes: 0 });
      const control = this.control;
      statsTimer = setInterval(() => {
        control.stats().then(
          (s) => {
            st.peakSpoolBytes = Math.max(st.peakSpoolBytes, s.spoolBytes);
            st.spilledBytes = s.spilledBytes;
            st.pauses = s.pauses;
            st.peakMemoryBytes = s.peakMemoryBytes;
            st.memoryLimit = s.memoryLimit;
            st.spoolLimit = s.spoolLimit;
            st.collections = s.collections ?? 0;
            st.peakFootprintBytes = Math.max(st.peakFootprintBytes, s.footprintBytes ?? 0);
          },
          () => {},
        );
      }, this.o.statsEveryMs);
    }
    const cpu0 = cpuSeconds(pid);
    const wall0 = performance.now();
    const timeout = new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new Error(`run ${k} not finished within ${this.o.runTimeoutMs} ms`)), this.o.runTimeoutMs);
      t.unref();
    });
    try {
      this.pub.send({ run: { k, durationMs } });
      const pubResult = await Promise.race([this.pub.nextResult(), timeout]);
      const subResults = await Promise.race([Promise.all(this.subs.map((s) => s.nextResult())), timeout]);
      const serverCpuS = cpuSeconds(pid) - cpu0;
      const wallS = (performance.now() - wall0) / 1000;
      return {
        subRates: subResults.map((r) => Number(r['rate'])),
        subTuples: subResults.map((r) => Number(r['tuples'])),
        verified: subResults.map((r) => (r['verified'] === null || r['verified'] === undefined ? null : Boolean(r['verified']))),
        received: subResults.map((r) => Number(r['received'])),
        subStalls: subResults.map((r) => Number(r['stalls'])),
        pubTuples: Number(pubResult['tuples']),
        pubTotal: Number(pubResult['lastSeq']),
        pubRate: Number(pubResult['rate']),
        serverPeakRss: peakRss(pid),
        serverCpuS,
        wallS,
        stats,
      };
    } finally {
      clearInterval(statsTimer);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.purgeTimer);
    await this.control?.close().catch(() => {});
    this.pub.send({ stop: true });
    await Promise.all([this.pub, ...this.subs].map((r) => r.stop()));
    await this.server.stop();
  }
}

/** Starts a case's rigs together (start-up is mostly module loading, which overlaps well); all or none. */
export async function startRigs(ctx: Ctx, options: RigOptions[]): Promise<StreamRig[]> {
  const t0 = performance.now();
  const started = await Promise.allSettled(options.map((o) => StreamRig.start(ctx, o)));
  const rigs = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopRigs(rigs);
    throw failed.reason;
  }
  ctx.log(`rigs (${options.map((o) => o.server).join(', ')}) up and warm in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return rigs;
}

export async function stopRigs(rigs: StreamRig[]): Promise<void> {
  await Promise.all(rigs.map((r) => r.stop()));
}
