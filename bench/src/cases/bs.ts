import { cliBuilt } from '../lib/servers.js';
import { streamRun } from '../lib/stream-run.js';
import { sideBySide, type Case, type Ctx, type Figure } from '../lib/suite.js';

/** Buffer-server throughput cases (issue 7: bs/*). */

const publishMs = (ctx: Ctx): number => (ctx.quick ? 700 : 3000);
const RUNS = 3;

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

export const secureVsRaw: Case[] = SHAPES.map((shape) => ({
  name: `bs/secure-vs-raw/${shape.label}`,
  skip: cliBuilt,
  runs: () => RUNS,
  async run(ctx, i): Promise<Figure[]> {
    const common = { size: shape.size, batch: shape.batch, subscribers: 1, durationMs: publishMs(ctx), windowTuples: windowTuples(shape) };
    const [secure, raw] = await sideBySide(
      i,
      () => streamRun(ctx, { ...common, server: 'secure' }),
      () => streamRun(ctx, { ...common, server: 'raw' }),
    );
    return [
      {
        name: `bs/secure-vs-raw/${shape.label}`,
        unit: 'tuples/s',
        better: 'higher',
        value: secure.subRates[0]!,
        baseline: raw.subRates[0]!,
        baselineLabel: 'minimal unauthenticated ws relay',
        extra: { securePeakRssMiB: mib(secure.serverPeakRss), rawPeakRssMiB: mib(raw.serverPeakRss), securePubRate: secure.pubRate, rawPubRate: raw.pubRate },
      },
    ];
  },
}));

export const secureVsInsecure: Case = {
  name: 'bs/secure-vs-insecure/100B-x100',
  skip: cliBuilt,
  runs: () => RUNS,
  async run(ctx, i) {
    const common = { size: 100, batch: 100, subscribers: 1, durationMs: publishMs(ctx), windowTuples: 50_000 };
    const [secure, insecure] = await sideBySide(
      i,
      () => streamRun(ctx, { ...common, server: 'secure' }),
      () => streamRun(ctx, { ...common, server: 'insecure' }),
    );
    return [
      {
        name: 'bs/secure-vs-insecure/100B-x100',
        unit: 'tuples/s',
        better: 'higher',
        value: secure.subRates[0]!,
        baseline: insecure.subRates[0]!,
        baselineLabel: 'same server, well-known all-zero secret (no --insecure flag yet)',
      },
    ];
  },
};

export const fanout4: Case = {
  name: 'bs/fanout4/100B-x100',
  skip: cliBuilt,
  runs: () => RUNS,
  async run(ctx, i) {
    const common = { size: 100, batch: 100, durationMs: publishMs(ctx), windowTuples: 50_000, server: 'secure' as const };
    const [four, one] = await sideBySide(
      i,
      () => streamRun(ctx, { ...common, subscribers: 4 }),
      () => streamRun(ctx, { ...common, subscribers: 1 }),
    );
    const perSub = four.subRates.reduce((a, b) => a + b, 0) / four.subRates.length;
    return [
      {
        name: 'bs/fanout4/100B-x100',
        unit: 'tuples/s per subscriber',
        better: 'higher',
        value: perSub,
        baseline: one.subRates[0]!,
        baselineLabel: 'same secure server, one subscriber',
        extra: { slowestSub: Math.min(...four.subRates), fastestSub: Math.max(...four.subRates) },
      },
    ];
  },
};

/**
 * bs/memory-bounded: a publisher at full speed, one subscriber reading at a tenth of the
 * one-subscriber rate measured earlier in this run (bs/secure-vs-raw/100B-x100), for 30 s
 * (quick: 4 s); the subscriber checks every tuple's sequence number.
 */
export const memoryBounded: Case = {
  name: 'bs/memory-bounded',
  skip: cliBuilt,
  runs: () => RUNS,
  async run(ctx) {
    const limitMiB = ctx.quick ? 16 : 64;
    const measured = ctx.done.get('bs/secure-vs-raw/100B-x100')?.value;
    const readRate = (measured && Number.isFinite(measured) ? measured : 2_000_000) / 10;
    const r = await streamRun(ctx, {
      server: 'secure',
      size: 100,
      batch: 100,
      subscribers: 1,
      durationMs: ctx.quick ? 4000 : 30_000,
      windowTuples: 10_000,
      readRate,
      verify: true,
      serverOptions: { memoryLimit: `${limitMiB}MiB` },
      statsEveryMs: 250,
      timeoutMs: ctx.quick ? 60_000 : 240_000,
    });
    const st = r.stats!;
    const delivered = r.verified[0] === true ? r.subTuples[0]! : 0;
    return [
      {
        name: 'bs/memory-bounded/peak-rss',
        unit: 'MiB',
        better: 'lower',
        value: mib(r.serverPeakRss),
        baseline: limitMiB,
        baselineLabel: 'configured --memory-limit',
        extra: { idleRssMiB: mib(r.serverIdleRss), peakWindowMemoryMiB: mib(st.peakMemoryBytes), readRate: Math.round(readRate), publishedTuples: r.pubTuples },
      },
      {
        name: 'bs/memory-bounded/spool-peak',
        unit: 'MiB',
        better: 'lower',
        value: mib(st.peakSpoolBytes),
        baseline: mib(st.spoolLimit),
        baselineLabel: 'spool limit (default 4 x memory limit)',
        extra: { spilledMiB: mib(st.spilledBytes), publisherPauses: st.pauses },
      },
      {
        name: 'bs/memory-bounded/delivered',
        unit: 'tuples',
        better: 'higher',
        value: delivered,
        baseline: r.pubTuples,
        baselineLabel: 'tuples published (ratio 1 = every tuple received once, in order)',
        extra: { received: r.subTuples[0]!, verified: r.verified[0] ?? null },
      },
    ];
  },
};

const mib = (b: number): number => Math.round((b / 1024 / 1024) * 10) / 10;
