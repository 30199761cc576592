import type { Control } from '@sluice/buffer-server';
import { peakRss, sleep, startRole, type Role } from './child.js';
import { startServer, type ServerMode, type ServerOptions } from './servers.js';
import type { Ctx } from './suite.js';
import { FINAL_WINDOW } from './tuples.js';

/**
 * One publisher → server → N subscribers run, every role in its own process. For Sluice
 * servers the runner plays STRAM's part: it purges windows every subscriber has finished, so
 * the server holds only what is in flight (DESIGN.md "Windows, checkpoints, recovery").
 */
export interface StreamRunOptions {
  server: ServerMode;
  size: number;
  batch: number;
  subscribers: number;
  durationMs: number;
  windowTuples: number;
  readRate?: number;
  verify?: boolean;
  serverOptions?: ServerOptions;
  /** Poll the server's stats (Sluice only) every this many ms. */
  statsEveryMs?: number;
  nodeArgs?: { server?: string[]; publisher?: string[]; subscriber?: string[] };
  timeoutMs?: number;
}

export interface StreamRunResult {
  /** Steady-state tuples/s of each subscriber. */
  subRates: number[];
  subTuples: number[];
  verified: (boolean | null)[];
  pubTuples: number;
  pubRate: number;
  serverPeakRss: number;
  serverIdleRss: number;
  stats: { peakSpoolBytes: number; spilledBytes: number; pauses: number; peakMemoryBytes: number; memoryLimit: number; spoolLimit: number } | null;
}

export async function streamRun(ctx: Ctx, o: StreamRunOptions): Promise<StreamRunResult> {
  const server = await startServer(ctx, o.server, { ...o.serverOptions, ...(o.nodeArgs?.server ? { nodeArgs: o.nodeArgs.server } : {}) });
  const roles: Role[] = [server.role];
  let control: Control | null = null;
  let purgeTimer: NodeJS.Timeout | undefined;
  let statsTimer: NodeJS.Timeout | undefined;
  try {
    const serverIdleRss = peakRss(server.role.pid);
    const mode = o.server === 'raw' ? 'raw' : 'sluice';
    const timeoutMs = o.timeoutMs ?? o.durationMs * 4 + 60_000;
    const warmupMs = Math.min(1000, o.durationMs * 0.25);
    const subs: Role[] = [];
    const progress: number[] = [];
    for (let s = 0; s < o.subscribers; s++) {
      const args = ['--mode', mode, '--url', server.url, '--name', `sub-${s}`, '--warmup-ms', String(warmupMs), '--timeout-ms', String(timeoutMs)];
      if (mode === 'sluice') args.push('--token-file', server.token('subscribe'));
      if (o.readRate) args.push('--read-rate', String(Math.round(o.readRate)));
      if (o.verify) args.push('--verify');
      const sub = startRole('subscriber', args, { timeoutMs: timeoutMs + 10_000, ...(o.nodeArgs?.subscriber ? { nodeArgs: o.nodeArgs.subscriber } : {}) });
      progress.push(0);
      sub.onProgress((p) => (progress[s] = Number(p['w'])));
      subs.push(sub);
      roles.push(sub);
    }
    await Promise.all(subs.map((s) => s.ready));
    let stats: StreamRunResult['stats'] = null;
    if (mode === 'sluice') {
      control = await server.control();
      let purged = 0;
      let purging = false;
      purgeTimer = setInterval(() => {
        const w = Math.min(...progress);
        if (purging || w <= purged || w >= FINAL_WINDOW) return;
        purging = true;
        control!.purge('bench', w).then(
          () => ((purged = w), (purging = false)),
          () => (purging = false),
        );
      }, 100);
      if (o.statsEveryMs) {
        stats = { peakSpoolBytes: 0, spilledBytes: 0, pauses: 0, peakMemoryBytes: 0, memoryLimit: 0, spoolLimit: 0 };
        const st = stats;
        statsTimer = setInterval(() => {
          control!.stats().then(
            (s) => {
              st.peakSpoolBytes = Math.max(st.peakSpoolBytes, s.spoolBytes);
              st.spilledBytes = s.spilledBytes;
              st.pauses = s.pauses;
              st.peakMemoryBytes = s.peakMemoryBytes;
              st.memoryLimit = s.memoryLimit;
              st.spoolLimit = s.spoolLimit;
            },
            () => {},
          );
        }, o.statsEveryMs);
      }
    }
    const pubArgs = ['--mode', mode, '--url', server.url, '--size', String(o.size), '--batch', String(o.batch), '--duration-ms', String(o.durationMs), '--window-tuples', String(o.windowTuples)];
    if (mode === 'sluice') pubArgs.push('--token-file', server.token('publish'));
    const pub = startRole('publisher', pubArgs, { timeoutMs: timeoutMs + 10_000, ...(o.nodeArgs?.publisher ? { nodeArgs: o.nodeArgs.publisher } : {}) });
    roles.push(pub);
    const pubResult = await pub.result;
    const subResults = await Promise.all(subs.map((s) => s.result));
    if (statsTimer && control) {
      // One last look after the drain, then the peak RSS before the server stops.
      clearInterval(statsTimer);
      await sleep(Math.max(0, (o.statsEveryMs ?? 0) / 2));
    }
    const serverPeakRss = peakRss(server.role.pid);
    return {
      subRates: subResults.map((r) => Number(r['rate'])),
      subTuples: subResults.map((r) => Number(r['tuples'])),
      verified: subResults.map((r) => (r['verified'] === null || r['verified'] === undefined ? null : Boolean(r['verified']))),
      pubTuples: Number(pubResult['tuples']),
      pubRate: Number(pubResult['rate']),
      serverPeakRss,
      serverIdleRss,
      stats,
    };
  } finally {
    clearInterval(purgeTimer);
    clearInterval(statsTimer);
    await control?.close().catch(() => {});
    await Promise.all(roles.reverse().map((r) => r.stop()));
  }
}
