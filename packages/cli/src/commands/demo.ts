import { existsSync, readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Stram, type OperatorView } from '@sluice/stram';
import { DEMO_PARTITIONS, expectedCounts, readActualCounts } from '../demo/wordcount.js';
import { addLauncherOptions, launcherOptions, type LauncherFlags } from './launcher-options.js';
import { duration, flag, logFormatFlag, logLevelFlag, oneOf, wholeNumber } from '../flags.js';
import { stramLogging, type LogFormat } from '../log-output.js';
import { withExamples } from '../help.js';
import { compact, fitParts, terminalWidth } from '../terminal.js';
import { newAppDir, warnInsecure } from './runtime.js';
import { TOKEN_FLAGS, addCaFlags, addStramFlags, caFlagValues, stramFlagValues, tlsChoice, tlsFlag, withCa } from './stram-flags.js';

/**
 * `sluice demo`: the word count in real processes (docs/guide.md "Try the demo"). STRAM runs in this process; the
 * generator, the counter partitions (2, or --partitions 1|4) and the output run in a container each. At --duration or
 * Ctrl-C the demo notes the last window the generator finished, waits until the output holds
 * every window up to it, shuts the app down and compares the output with the generator's known
 * totals.
 */

interface DemoOptions extends LauncherFlags {
  duration: number;
  json?: boolean;
  insecure?: boolean;
  appDir?: string;
  seed: number;
  tuplesPerWindow: number;
  drainTimeout: number;
  partitions: string;
  logLevel: string;
  logFormat?: LogFormat;
}

export function registerDemoCommand(program: Command): void {
  const demo = program
    .command('demo')
    .description('run the word-count demo: seeded generator → counter partitions (2; --partitions) → idempotent output; checks exact counts')
    .addOption(flag('--duration <duration>', 'how long to generate; Ctrl-C stops earlier', { parse: duration, default: '30s' }))
    .addOption(flag('--json', 'end the summary with one JSON line'))
    .addOption(flag('--insecure', 'well-known all-zero keys (benchmarks only)'))
    .addOption(tlsFlag())
    .addOption(flag('--app-dir <dir>', 'app directory', { shownDefault: '.sluice/apps/<app id>' }))
    .addOption(flag('--seed <n>', 'generator seed', { parse: wholeNumber, default: '1' }))
    .addOption(flag('--tuples-per-window <n>', 'words the generator emits per window', { parse: wholeNumber, default: '1000' }))
    .addOption(flag('--partitions <n>', 'counter partitions, each in its own container', { parse: oneOf(DEMO_PARTITIONS.map(String)), default: '2' }))
    .addOption(flag('--drain-timeout <duration>', 'how long to wait for the output to catch up after stopping', { parse: duration, default: '60s' }))
    .addOption(logLevelFlag('STRAM and container log level (STRAM logs go to stderr and <app dir>/stram.log)', { default: 'error' }))
    .addOption(logFormatFlag("STRAM's log on stderr"));
  addStramFlags(demo, DEMO_FLAGS);
  addCaFlags(demo);
  addLauncherOptions(demo);
  demo.action((opts: DemoOptions & Record<string, unknown>) => runDemo(opts));
  withExamples(demo, ['demo', 'demo --duration 10s --json', 'demo --renew-interval 4s --max-lifetime 12s --duration 20s']);
}

const DEMO_FLAGS = ['windowMs', ...TOKEN_FLAGS, 'restPort', 'certLifetimeMs', 'caRotateMs'] as const;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function runDemo(opts: DemoOptions & Record<string, unknown>): Promise<void> {
  const durationMs = opts.duration;
  const drainMs = opts.drainTimeout;
  const config = { seed: opts.seed, tuplesPerWindow: opts.tuplesPerWindow, windows: 0 };
  if (opts.insecure) warnInsecure();
  const { logger, logFile } = stramLogging(opts.logLevel, opts.logFormat);
  const containerLogLevel = opts.logLevel === 'error' ? 'warn' : opts.logLevel;
  const stram = await Stram.launch({
    appModule: fileURLToPath(new URL(opts.partitions === '2' ? '../demo/wordcount.js' : `../demo/wordcount-${opts.partitions}p.js`, import.meta.url)),
    config,
    ...(await launcherOptions(opts, containerLogLevel, logger)),
    ...withCa(stramFlagValues(opts, DEMO_FLAGS), caFlagValues(opts)),
    insecure: opts.insecure ?? false,
    tls: tlsChoice(opts),
    logger,
    logFile,
    containerLogLevel,
    ...(opts.appDir ? { appDir: newAppDir(opts.appDir) } : {}),
  });
  const err = process.stderr;
  err.write(`word count ${stram.appId}: ${stram.plan.containers.length} containers, ${opts.insecure ? 'INSECURE' : 'secure'} mode, TLS ${tlsChoice(opts) ? 'on' : 'off'}, app dir ${stram.dir.root}\n`);
  const progress = new ProgressLine(err);
  const started = Date.now();

  // Phase 1: generate until --duration or Ctrl-C (a second Ctrl-C skips the drain).
  let interrupted = 0;
  let wake: () => void = () => undefined;
  const onSigint = (): void => {
    interrupted++;
    wake();
    if (interrupted > 1) void stram.shutdown('interrupted twice');
  };
  process.on('SIGINT', onSigint);
  const tick = async (until: () => boolean, maxMs: number): Promise<void> => {
    const end = Date.now() + maxMs;
    while (!until() && Date.now() < end && stram.appState === 'running') {
      progress.show(line(stram, started, progress.width));
      await Promise.race([sleep(Math.min(1_000, Math.max(0, end - Date.now()))), new Promise<void>((r) => (wake = r))]);
    }
  };
  await tick(() => interrupted > 0, durationMs);

  // Phase 2: the generator has finished window k; wait until the output holds 1..k.
  // At least one window, so a very short --duration on a slow machine still checks something.
  const finished = Math.max(1, generatorWindow(stram.operators()));
  progress.note(`stopping: waiting for the output to hold every window up to ${finished}`);
  const outputHas = () => {
    const { windows } = readActualCounts(stram.dir.root);
    return windows.filter((w) => w <= finished).length >= finished;
  };
  await tick(() => outputHas() || interrupted > 1, drainMs);
  const drained = outputHas();
  progress.show(line(stram, started, progress.width), true);
  progress.done();
  process.off('SIGINT', onSigint);
  const containers = stram.plan.containers.length;
  // Renewals, reissues, failures and key rolls over the run (before shutdown cancels the tokens).
  const tokens = stram.appView()['tokens'] as { renewals: number; reissues: number; failures: number; keyRolls: number };
  await stram.shutdown(drained ? 'demo finished' : 'demo stopped before the output caught up');

  // Phase 3: compare. Every window file is complete (atomic, written once all partitions ended it).
  const actual = readActualCounts(stram.dir.root);
  const windows = actual.windows.length;
  const contiguous = actual.windows.every((w, i) => w === i + 1);
  const expected = expectedCounts(config, actual.windows);
  const tuples = Object.values(actual.counts).reduce((a, b) => a + b, 0);
  const exact = drained && contiguous && windows >= finished && windows > 0 && isDeepStrictEqual(sortKeys(expected), sortKeys(actual.counts));
  const summary = {
    secure: !(opts.insecure ?? false),
    tls: tlsChoice(opts),
    app: stram.appId,
    containers,
    windows,
    tuples,
    generatorWindows: finished,
    expected: sortKeys(expected),
    actual: sortKeys(actual.counts),
    exact,
    tokens,
    durationMs: Date.now() - started,
    appDir: stram.dir.root,
  };
  const out = process.stdout;
  out.write(`windows: ${windows} (generator finished ${finished}), tuples: ${tuples}, containers: ${containers}\n`);
  out.write(`tokens: ${tokens.renewals} renewals, ${tokens.reissues} reissues, ${tokens.failures} failures, ${tokens.keyRolls} master key rolls\n`);
  out.write(`counts ${exact ? 'match the generator exactly' : 'DO NOT match the generator'}${drained ? '' : ' (the output did not catch up in time)'}\n`);
  if (!opts.json) {
    for (const [word, n] of Object.entries(summary.expected)) out.write(`  ${word.padEnd(12)} expected ${String(n).padStart(8)}  actual ${String(summary.actual[word] ?? 0).padStart(8)}\n`);
  } else {
    out.write(`${JSON.stringify(summary)}\n`);
  }
  if (!exact) process.exitCode = 1;
}

function sortKeys(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

function generatorWindow(ops: OperatorView[]): number {
  return ops.filter((o) => o.operator === 'generator').reduce((m, o) => Math.max(m, o.window), 0);
}

function line(stram: Stram, started: number, width: number): string {
  const ops = stram.operators();
  // Windows written by the output operator (its files; its heartbeat stats lag by up to a second).
  const out = existsSync(stram.dir.output) ? readdirSync(stram.dir.output).filter((f) => f.startsWith('window-')).length : 0;
  const cs = stram.containers();
  const up = cs.filter((c) => c.state === 'running').length;
  return fitParts([`[${Math.round((Date.now() - started) / 1000)}s]`, `windows ${out}`, `${up}/${cs.length} containers up`, ...byOperator(ops).map(rates)], width);
}

/** Each logical operator with its partitions' counts and rates summed: one part of the line each. */
function byOperator(ops: readonly OperatorView[]): OperatorView[] {
  const sums = new Map<string, OperatorView>();
  for (const o of ops) {
    const s = sums.get(o.operator);
    if (!s) sums.set(o.operator, { ...o, id: o.operator });
    else for (const k of ['tuplesIn', 'tuplesOut', 'tuplesInPerSecond', 'tuplesOutPerSecond'] as const) s[k] += o[k];
  }
  return [...sums.values()];
}

/** An operator's tuples/s: out for a source, in for a sink, in→out for one between. */
function rates(o: OperatorView): string {
  const [i, x] = [compact(o.tuplesInPerSecond), compact(o.tuplesOutPerSecond)];
  if (o.tuplesIn === 0) return `${o.id} ${x}/s out`;
  if (o.tuplesOut === 0) return `${o.id} ${i}/s in`;
  return `${o.id} ${i}→${x}/s`;
}

/** One line rewritten in place on a terminal; periodic plain lines otherwise (logs, CI). Both fit `width`. */
class ProgressLine {
  private last = 0;
  private shown = 0;
  constructor(private readonly stream: NodeJS.WriteStream) {}

  /** The terminal's columns (process.stdout's, the demo's own terminal), 80 when unknown. */
  get width(): number {
    return terminalWidth(process.stdout.isTTY ? process.stdout : this.stream);
  }

  show(text: string, force = false): void {
    const t = text.length > this.width - 1 ? text.slice(0, this.width - 1) : text;
    if (this.stream.isTTY) {
      this.stream.write(`\r${t}${' '.repeat(Math.max(0, this.shown - t.length))}`);
      this.shown = t.length;
    } else if (force || Date.now() - this.last >= 5_000) {
      this.stream.write(`${t}\n`);
      this.last = Date.now();
    }
  }

  note(text: string): void {
    this.done();
    this.stream.write(`${text}\n`);
  }

  done(): void {
    if (this.stream.isTTY && this.shown > 0) this.stream.write('\n');
    this.shown = 0;
  }
}
