import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { handshakes, tokenVerify } from './cases/auth.js';
import { fanoutPartitioned, fanouts, memoryBounded, secureVsInsecure, secureVsRaw } from './cases/bs.js';
import { demoE2e, demoPartitions } from './cases/demo.js';
import { gatewayCase } from './cases/gateway.js';
import { stramHeartbeats, stramUmbilicalOnly, stramUmbilicalOnlyCurve } from './cases/stram.js';
import { tlsEnrolment, tlsHandshakes, tlsVsSecure } from './cases/tls.js';
import { chart, table, type Skipped } from './lib/report.js';
import { summarize, type Case, type Ctx, type Figure, type Summary, type Target } from './lib/suite.js';

/**
 * `node bench/dist/run.js [--quick] [--only PATTERN]`. Progress on stderr, the table on
 * stdout, bench/results.json and bench/results.svg next to this package (--quick: results-quick.*,
 * --only: results-only.*,
 * so a smoke run never overwrites the committed full-run figures). Reports; never asserts.
 */

const benchDir = fileURLToPath(new URL('..', import.meta.url));
const root = join(benchDir, '..');

/** In the order they run: memory-bounded scales on secure-vs-raw/100B-x100, so it comes after. */
const [fanout4, ...fanoutCurve] = fanouts;
const [stram100, stram1000, ...stramCurve] = stramHeartbeats;
// The curves' larger points (fanout 16 / 64, STRAM at 10,000 containers) come last: full runs only.
const CASES: Case[] = [tokenVerify, ...secureVsRaw, secureVsInsecure, fanout4!, fanoutPartitioned, handshakes, stram100!, stram1000!, stramUmbilicalOnly, gatewayCase, ...tlsVsSecure, tlsHandshakes, tlsEnrolment, demoE2e, demoPartitions, memoryBounded, ...fanoutCurve, ...stramCurve, stramUmbilicalOnlyCurve];

const atLeast = (min: number): Target => ({ describe: `ratio >= ${min}`, met: (r) => r.ratio >= min });
const TARGETS: [RegExp, Target][] = [
  [/^bs\/secure-vs-raw\/[^/]+$/, atLeast(0.9)],
  [/^bs\/secure-vs-insecure\/[^/]+$/, atLeast(0.95)],
  [/^bs\/fanout4\/100B-x100$/, atLeast(0.9)],
  [/^auth\/handshakes\/(sequential|concurrent-50)$/, atLeast(0.8)],
  [/^stram\/heartbeats-1000\/cpu$/, { describe: '<= 1.5 x echo', met: (r) => r.ratio <= 1.5 }],
  [/^stram\/heartbeats-1000\/p99$/, { describe: '< 20 ms', met: (r) => r.value < 20 }],
  [/^stram\/heartbeats-10000\/cpu$/, { describe: '< 50 % of a core', met: (r) => r.value < 50 }],
  [/^stram\/heartbeats-10000\/p99$/, { describe: '< 50 ms', met: (r) => r.value < 50 }],
  [/^demo\/e2e$/, { describe: '>= 2M tuples/s', met: (r) => r.value >= 2e6 }],
  [/^bs\/memory-bounded\/delivered$/, { describe: 'ratio = 1', met: (r) => r.ratio === 1 }],
  [/^bs\/memory-bounded\/rss-over-idle$/, { describe: 'ratio <= 1', met: (r) => r.ratio <= 1 }],
  [/^tls\/secure-tls-vs-secure\/[^/]+$/, atLeast(0.8)],
  // Informational: what the gateway's proxying and a Kerberos login cost.
  [/^gateway\/status-calls$/, atLeast(0.5)],
  [/^gateway\/spnego-logins$/, atLeast(0.1)],
];
const targetFor = (name: string): Target | undefined => TARGETS.find(([re]) => re.test(name))?.[1];

function parseCli(argv: string[]): { quick: boolean; only: RegExp | null; profile: string | null } {
  let quick = false;
  let only: RegExp | null = null;
  let profile: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only') only = new RegExp(argv[++i] ?? '');
    else if (a.startsWith('--only=')) only = new RegExp(a.slice('--only='.length));
    else if (a === '--profile') profile = resolve(argv[++i] ?? 'bench/profiles');
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: pnpm bench [--quick] [--only PATTERN]\n  --quick   smoke run (under a minute), still 3 runs per figure\n  --only    run only cases whose name matches PATTERN (a regular expression)\n  --profile DIR  write a CPU profile of every process into DIR (read with node bench/dist/tools/prof-top.js FILE)\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}; try --help`);
  }
  return { quick, only, profile };
}

function versionOf(pkg: string, from: string): string | null {
  const req = createRequire(join(root, from, 'package.json'));
  let dir: string;
  try {
    // Some packages do not export their package.json: find it above the resolved entry.
    dir = dirname(req.resolve(pkg));
  } catch {
    return null;
  }
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (json.name === pkg) return json.version ?? null;
  }
  return null;
}

function machine(quick: boolean): Record<string, unknown> {
  const cpu = cpus();
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    commit = null;
  }
  return {
    cores: cpu.length,
    cpu: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${process.platform} ${release()}`,
    node: process.version,
    openssl: process.versions.openssl,
    versions: {
      ws: versionOf('ws', 'packages/buffer-server'),
      bufferutil: versionOf('bufferutil', 'packages/buffer-server'),
      msgpackr: versionOf('msgpackr', 'packages/common'),
      sluice: (JSON.parse(readFileSync(join(root, 'packages/common/package.json'), 'utf8')) as { version: string }).version,
    },
    commit,
    mode: quick ? 'quick' : 'full',
    date: new Date().toISOString(),
  };
}

async function main(): Promise<void> {
  const { quick, only, profile } = parseCli(process.argv.slice(2));
  if (profile) mkdirSync(profile, { recursive: true });
  const started = Date.now();
  const tmp = join(benchDir, 'tmp', `${started}`);
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
  const done = new Map<string, { value: number; baseline: number }>();
  const ctx: Ctx = { quick, tmp, root, log, done, profileDir: profile };
  const results: Summary[] = [];
  const skipped: Skipped[] = [];
  const selected = CASES.filter((c) => !only || only.test(c.name));
  log(`${quick ? 'quick' : 'full'} run of ${selected.length} case(s) on ${cpus().length} cores, Node ${process.version}`);
  for (const [n, c] of selected.entries()) {
    const reason = c.skip(ctx);
    if (reason) {
      log(`[${n + 1}/${selected.length}] ${c.name}: skipped (${reason})`);
      skipped.push({ name: c.name, reason });
      continue;
    }
    const runs = c.runs(ctx);
    const figures = new Map<string, Figure[]>();
    const t0 = Date.now();
    try {
      const session = await c.open(ctx);
      try {
        for (let i = 0; i < runs; i++) {
          const figs = await session.run(i);
          for (const f of figs) {
            if (!figures.has(f.name)) figures.set(f.name, []);
            figures.get(f.name)!.push(f);
          }
          log(`[${n + 1}/${selected.length}] ${c.name} run ${i + 1}/${runs}: ${figs.map((f) => `${f.name.startsWith(`${c.name}/`) ? f.name.slice(c.name.length + 1) : f.name} ${fmtShort(f.value)} vs ${fmtShort(f.baseline)}`).join('; ')}`);
        }
      } finally {
        await session.close();
      }
    } catch (err) {
      const why = `failed: ${(err as Error).message.split('\n')[0]!.slice(0, 300)}`;
      log(`[${n + 1}/${selected.length}] ${c.name}: ${why}`);
      skipped.push({ name: c.name, reason: why });
      continue;
    }
    for (const [name, figs] of figures) {
      const s = summarize(figs, targetFor(name));
      results.push(s);
      done.set(name, { value: s.value, baseline: s.baseline });
    }
    log(`[${n + 1}/${selected.length}] ${c.name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const elapsedS = Math.round((Date.now() - started) / 100) / 10;
  const out = { machine: machine(quick), elapsedS, results, skipped };
  // A smoke or partial run must not overwrite the committed full-run figures.
  const base = quick ? 'results-quick' : only ? 'results-only' : 'results';
  writeFileSync(join(benchDir, `${base}.json`), `${JSON.stringify(out, null, 2)}\n`);
  writeFileSync(join(benchDir, `${base}.svg`), chart(results, `Sluice bench (${quick ? 'quick' : 'full'}) — ${cpus().length} cores, Node ${process.version}`));
  process.stdout.write(`${table(results, skipped)}\n`);
  log(`done in ${elapsedS} s; wrote bench/${base}.json and bench/${base}.svg`);
  rmSync(tmp, { recursive: true, force: true });
}

const fmtShort = (n: number): string => (Math.abs(n) >= 1000 ? `${Math.round(n).toLocaleString('en-US')}` : n.toFixed(2));

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
