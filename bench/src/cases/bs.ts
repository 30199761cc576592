import { cliBuilt } from '../lib/servers.js';
import { startRigs, stopRigs, type RigOptions, type RunResult, type StreamRig } from '../lib/stream-run.js';
import { sideBySide, type Case, type Ctx, type Figure, type Session } from '../lib/suite.js';

/** Buffer-server throughput cases (bs/*). */

const publishMs = (ctx: Ctx): number => (ctx.quick ? 300 : 2000);
const steadyAfterMs = (ctx: Ctx): number => Math.min(500, publishMs(ctx) * 0.2);
/** Full: 5 shorter runs rather than 3 long ones: the median of 5 shrugs off a busy moment of the shared CPU. */
const runs = (ctx: Ctx): number => (ctx.quick ? 3 : 5);

interface Shape {
  label: string;
  size: number;
  batch: number;
}

const SHAPES: Shape[] = [
  { label: '100B-x100', size: 100, batch: 100 },
  { label: '1KiB-x100', size: 1024, batch: 100 },
  { label: '100B-x1', size: 100, batch: 1 },
];

const windowTuples = (s: Shape): number => (s.batch === 1 ? 10_000 : 50_000);
const runTimeoutMs = (ctx: Ctx): number => publishMs(ctx) * 10 + 30_000;
const warmupMs = (ctx: Ctx): number => (ctx.quick ? 100 : 500);

/** A case's rigs stay up from open() to the session's close(): the runs only send commands. */
async function rigSession(ctx: Ctx, options: RigOptions[], figures: (i: number, rigs: StreamRig[]) => Promise<Figure[]>): Promise<Session> {
  const rigs = await startRigs(ctx, options);
  return { run: (i) => figures(i, rigs), close: () => stopRigs(rigs) };
}

const twoRigs = (ctx: Ctx, a: RigOptions, b: RigOptions, figures: (i: number, a: StreamRig, b: StreamRig) => Promise<Figure[]>): Promise<Session> =>
  rigSession(ctx, [a, b], (i, [ra, rb]) => figures(i, ra!, rb!));

function pair(i: number, a: StreamRig, b: StreamRig, ms: number): Promise<[RunResult, RunResult]> {
  return sideBySide(
    i,
    () => a.run(ms),
    () => b.run(ms),
  );
}

export const secureVsRaw: Case[] = SHAPES.map((shape) => ({
  name: `bs/secure-vs-raw/${shape.label}`,
  skip: cliBuilt,
  runs,
  open(ctx) {
    const common = { size: shape.size, batch: shape.batch, subscribers: 1, windowTuples: windowTuples(shape), runTimeoutMs: runTimeoutMs(ctx), steadyAfterMs: steadyAfterMs(ctx), warmupMs: warmupMs(ctx) };
    return twoRigs(ctx, { ...common, server: 'secure' }, { ...common, server: 'raw' }, async (i, s, r) => {
      const [secure, raw] = await pair(i, s, r, publishMs(ctx));
      return [
        {
          name: `bs/secure-vs-raw/${shape.label}`,
          unit: 'tuples/s',
          better: 'higher',
          value: secure.subRates[0]!,
          baseline: raw.subRates[0]!,
          baselineLabel: 'minimal unauthenticated ws relay',
          extra: {
            securePubRate: Math.round(secure.pubRate),
            rawPubRate: Math.round(raw.pubRate),
            securePeakRssMiB: mib(secure.serverPeakRss),
            rawPeakRssMiB: mib(raw.serverPeakRss),
          },
        },
        {
          // What the server spends per tuple it relays (user + system CPU from /proc): far less
          // sensitive to the shared CPU's load than a rate, and the figure a server owner can act on.
          name: `bs/secure-vs-raw/${shape.label}/server-cpu`,
          unit: 'µs CPU per tuple',
          better: 'lower',
          value: usPerTuple(secure.serverCpuS, secure.subTuples[0]!),
          baseline: usPerTuple(raw.serverCpuS, raw.subTuples[0]!),
          baselineLabel: 'minimal unauthenticated ws relay',
        },
      ];
    });
  },
}));

export const secureVsInsecure: Case = {
  name: 'bs/secure-vs-insecure/100B-x100',
  skip: cliBuilt,
  runs,
  open(ctx) {
    const common = { size: 100, batch: 100, subscribers: 1, windowTuples: 50_000, runTimeoutMs: runTimeoutMs(ctx), steadyAfterMs: steadyAfterMs(ctx), warmupMs: warmupMs(ctx) };
    return twoRigs(ctx, { ...common, server: 'secure' }, { ...common, server: 'insecure' }, async (i, s, n) => {
      const [secure, insecure] = await pair(i, s, n, publishMs(ctx));
      return [
        {
          name: 'bs/secure-vs-insecure/100B-x100',
          unit: 'tuples/s',
          better: 'higher',
          value: secure.subRates[0]!,
          baseline: insecure.subRates[0]!,
          baselineLabel: 'same server, well-known all-zero secret (no --insecure flag yet)',
          extra: { secureServerCpuUsPerTuple: usPerTuple(secure.serverCpuS, secure.subTuples[0]!), insecureServerCpuUsPerTuple: usPerTuple(insecure.serverCpuS, insecure.subTuples[0]!) },
        },
      ];
    });
  },
};

/** Runs every rig once, in an order rotated by `i`, so drift of the shared CPU hits all of them. */
async function inTurn(i: number, rigs: StreamRig[], ms: number): Promise<RunResult[]> {
  const out: RunResult[] = new Array<RunResult>(rigs.length);
  for (let k = 0; k < rigs.length; k++) {
    const j = (k + i) % rigs.length;
    out[j] = await rigs[j]!.run(ms);
  }
  return out;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * bs/fanout<N>/100B-x100: N subscribers of one stream, per-subscriber tuples/s against the same
 * secure server with one; `/relay` is the same ratio for the raw relay in the same run — what
 * fanning out costs on this machine whatever the server does (every subscriber is a process
 * decoding every tuple on the same 2 cores). N = 4 in both modes; 16 and 64 are the curve, full
 * runs only.
 */
function fanout(n: number): Case {
  return {
    name: `bs/fanout${n}/100B-x100`,
    skip: (ctx) => cliBuilt(ctx) ?? (ctx.quick && n > 4 ? `not in --quick: ${2 * n + 6} processes start per run of the curve` : null),
    runs: (ctx) => (ctx.quick || n > 4 ? 3 : 5),
    open(ctx) {
      const common = { size: 100, batch: 100, windowTuples: 50_000, runTimeoutMs: runTimeoutMs(ctx), steadyAfterMs: steadyAfterMs(ctx), warmupMs: warmupMs(ctx) };
      const options: RigOptions[] = [
        { ...common, server: 'secure', subscribers: n },
        { ...common, server: 'secure', subscribers: 1 },
        { ...common, server: 'raw', subscribers: n },
        { ...common, server: 'raw', subscribers: 1 },
      ];
      return rigSession(ctx, options, async (i, rigs) => {
        const [f, o, rf, ro] = await inTurn(i, rigs, publishMs(ctx));
        const perSub = mean(f!.subRates);
        const relayPerSub = mean(rf!.subRates);
        return [
          {
            name: `bs/fanout${n}/100B-x100`,
            unit: 'tuples/s per subscriber',
            better: 'higher',
            value: perSub,
            baseline: o!.subRates[0]!,
            baselineLabel: 'same secure server, one subscriber',
            extra: { slowestSub: Math.round(Math.min(...f!.subRates)), fastestSub: Math.round(Math.max(...f!.subRates)), aggregate: Math.round(perSub * n), relayPerSub: Math.round(relayPerSub) },
          },
          {
            name: `bs/fanout${n}/100B-x100/relay`,
            unit: 'tuples/s per subscriber',
            better: 'higher',
            value: relayPerSub,
            baseline: ro!.subRates[0]!,
            baselineLabel: `raw relay with ${n} subscribers against the raw relay with one (the machine's bound)`,
            extra: { aggregate: Math.round(relayPerSub * n) },
          },
          {
            name: `bs/fanout${n}/100B-x100/server-cpu`,
            unit: 'µs CPU per tuple delivered',
            better: 'lower',
            value: usPerTuple(f!.serverCpuS, sum(f!.subTuples)),
            baseline: usPerTuple(o!.serverCpuS, o!.subTuples[0]!),
            baselineLabel: 'same secure server, one subscriber',
          },
        ];
      });
    },
  };
}

export const fanouts: Case[] = [4, 16, 64].map(fanout);

/**
 * bs/fanout4-partitioned/100B-x100: four subscribers each reading one of four partitions (mask 3)
 * of a stream whose frames carry p; tuples/s delivered in total against one unpartitioned
 * subscriber of the same server (ratio 1: splitting a stream four ways costs nothing).
 */
export const fanoutPartitioned: Case = {
  name: 'bs/fanout4-partitioned/100B-x100',
  skip: cliBuilt,
  runs,
  open(ctx) {
    const common = { size: 100, batch: 100, windowTuples: 50_000, server: 'secure' as const, runTimeoutMs: runTimeoutMs(ctx), steadyAfterMs: steadyAfterMs(ctx), warmupMs: warmupMs(ctx) };
    return twoRigs(ctx, { ...common, subscribers: 4, partitions: 4 }, { ...common, subscribers: 1 }, async (i, four, one) => {
      const [f, o] = await pair(i, four, one, publishMs(ctx));
      return [
        {
          name: 'bs/fanout4-partitioned/100B-x100',
          unit: 'tuples/s delivered in total',
          better: 'higher',
          value: sum(f.subRates),
          baseline: o.subRates[0]!,
          baselineLabel: 'same secure server, one unpartitioned subscriber',
          extra: { slowestSub: Math.round(Math.min(...f.subRates)), fastestSub: Math.round(Math.max(...f.subRates)), serverCpuUsPerTuple: usPerTuple(f.serverCpuS, sum(f.subTuples)) },
        },
      ];
    });
  },
};

/**
 * bs/memory-bounded: a publisher at full speed, one subscriber reading at a tenth of the
 * one-subscriber rate measured earlier in this suite run (bs/secure-vs-raw/100B-x100), for 30 s
 * (quick: 0.3 s) per run; the subscriber checks every tuple's sequence number.
 */
export const memoryBounded: Case = {
  name: 'bs/memory-bounded',
  skip: cliBuilt,
  runs: () => 3,
  open(ctx) {
    const limitMiB = ctx.quick ? 1 : 64;
    const measured = ctx.done.get('bs/secure-vs-raw/100B-x100')?.value;
    const readRate = (measured && Number.isFinite(measured) ? measured : 1_000_000) / 10;
    const publishFor = ctx.quick ? 300 : 30_000;
    const options: RigOptions = {
      server: 'secure',
      size: 100,
      batch: 100,
      subscribers: 1,
      windowTuples: 10_000,
      readRate,
      verify: true,
      // Spool bound = memory limit (default 4 x) keeps each run's drain at a tenth speed near 15 s.
      serverOptions: { memoryLimit: `${limitMiB}MiB`, ...(ctx.quick ? {} : { spoolLimit: `${limitMiB}MiB` }) },
      statsEveryMs: 200,
      steadyAfterMs: 1000,
      warmupMs: 100,
      runTimeoutMs: ctx.quick ? 60_000 : 180_000,
    };
    return rigSession(ctx, [options], async (_i, [rig]) => {
      const res = await rig!.run(publishFor);
      const st = res.stats!;
      // Every tuple published so far arrived, once and in order (sequence numbers checked one by one).
      const inOrder = res.verified[0] === true && res.received[0] === res.pubTotal;
      return [
        {
          name: 'bs/memory-bounded/peak-rss',
          unit: 'MiB',
          better: 'lower',
          value: mib(res.serverPeakRss),
          baseline: limitMiB,
          baselineLabel: 'configured --memory-limit',
          extra: { idleRssMiB: mib(rig!.idleRss), peakWindowMemoryMiB: mib(st.peakMemoryBytes), readRate: Math.round(readRate), publishedTuples: res.pubTuples, publisherRate: Math.round(res.pubRate) },
        },
        {
          // What the process grew by under load: peak RSS minus this server's own RSS before it
          // held any data (Node, the loaded modules, an empty store), measured in this run.
          name: 'bs/memory-bounded/rss-over-idle',
          unit: 'MiB',
          better: 'lower',
          value: mib(res.serverPeakRss - rig!.idleRss),
          baseline: limitMiB,
          baselineLabel: 'configured --memory-limit (ratio <= 1: the process grew by no more than the limit)',
          extra: { idleRssMiB: mib(rig!.idleRss), peakRssMiB: mib(res.serverPeakRss) },
        },
        {
          name: 'bs/memory-bounded/spool-peak',
          unit: 'MiB',
          better: 'lower',
          value: mib(st.peakSpoolBytes),
          baseline: mib(st.spoolLimit),
          baselineLabel: 'configured --spool-limit',
          extra: { spilledMiB: mib(st.spilledBytes), publisherPauses: st.pauses, collections: st.collections, peakFootprintMiB: mib(st.peakFootprintBytes) },
        },
        {
          name: 'bs/memory-bounded/delivered',
          unit: 'tuples in order',
          better: 'higher',
          // Counted only when the sequence check passed: a gap or a duplicate makes this run 0.
          value: inOrder ? res.subTuples[0]! : 0,
          baseline: res.pubTuples,
          baselineLabel: 'tuples published (ratio 1 = every tuple received once, in order)',
          extra: { receivedThisRun: res.subTuples[0]!, receivedTotal: res.received[0]!, publishedTotal: res.pubTotal, verifiedInOrder: inOrder, serverCpuUsPerTuple: usPerTuple(res.serverCpuS, res.subTuples[0]!) },
        },
      ];
    });
  },
};

const usPerTuple = (cpuS: number, tuples: number): number => Math.round((cpuS / tuples) * 1e6 * 1000) / 1000;
const mib = (b: number): number => Math.round((b / 1024 / 1024) * 10) / 10;
