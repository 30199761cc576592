import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContainerView, OperatorView } from '@sluice/stram';
import { CliProcess, ROOT, pidAlive, tempDir, until, type CliResult } from './helpers/runtime-cli.js';

/**
 * The whole newcomer path of docs/guide.md ("Write an app", "Launch, watch, stop"), as one
 * test with exact results: `./sluice init` in a temporary directory outside the repository,
 * `npm run build`, `npm test`, `npm run launch` (in the background, with its own app directory,
 * short windows and checkpoints), `./sluice status --json`, `./sluice logs`, kill -9 of the
 * worker container that holds the checkpointed running total, its replacement, `./sluice
 * shutdown`; then every window's output file holds exactly that window's sum and running total,
 * with no window missing, and no process of the app is left.
 */

const SLUICE_SCRIPT = join(ROOT, 'sluice');

/** Runs a command as the guide shows it; npm stays offline (it only runs the folder's scripts). */
function start(command: string, args: string[], cwd: string): CliProcess {
  const env = { ...process.env, SLUICE_LOG_LEVEL: 'warn', npm_config_offline: 'true', npm_config_update_notifier: 'false' };
  return new CliProcess(spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] }));
}
const run = (command: string, args: string[], cwd: string): Promise<CliResult> => start(command, args, cwd).exited;
/** `./sluice ...`: the repository's script, by its full path (the guide's way from outside the clone). */
const sluice = (args: string[], cwd: string): Promise<CliResult> => run(SLUICE_SCRIPT, args, cwd);

interface StatusJson {
  app: { name: string; state: string };
  containers: ContainerView[];
  operators: OperatorView[];
}

const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

// Window w of the example holds w*100 .. w*100+9: sum 1000*w + 45; the running total sums windows 1..w.
const expected = (w: number) => ({ w, sum: 1000 * w + 45, total: 500 * w * (w + 1) + 45 * w });

describe('the newcomer path: init, build, test, launch, status, logs, kill -9 a worker, shutdown', () => {
  const tmp = tempDir('sluice-newcomer-');
  const folder = join(tmp.path, 'sums');
  const appDir = join(tmp.path, 'run');
  let launch: CliProcess | undefined;
  let stramPid: number | undefined;

  afterAll(async () => {
    // Only on failure is anything left: stop STRAM itself (npm may not pass the signal on).
    if (stramPid !== undefined && pidAlive(stramPid)) process.kill(stramPid, 'SIGTERM');
    launch?.kill();
    await launch?.exited;
    tmp.remove();
  });

  it('runs the example app, replaces a killed worker from its checkpoint, and writes every window exactly once', async () => {
    expect(tmp.path.startsWith(tmpdir())).toBe(true);
    expect(relative(ROOT, tmp.path).startsWith('..')).toBe(true);

    const init = await sluice(['init', folder], tmp.path);
    expect(init.code, init.stderr).toBe(0);
    const build = await run('npm', ['run', 'build'], folder);
    expect(build.code, build.stdout + build.stderr).toBe(0);
    const report = join(tmp.path, 'report.json');
    const test = await run('npm', ['test', '--', '--reporter=json', `--outputFile=${report}`], folder);
    expect(test.code, test.stdout + test.stderr).toBe(0);
    const tests = JSON.parse(readFileSync(report, 'utf8')) as { numTotalTests: number; numPassedTests: number };
    expect([tests.numTotalTests, tests.numPassedTests]).toEqual([2, 2]);

    launch = start('npm', ['run', 'launch', '--', '--app-dir', appDir, '--window', '100ms', '--checkpoint-windows', '5'], folder);
    await launch.waitFor(/launched \S+/);
    stramPid = (JSON.parse(readFileSync(join(appDir, 'stram.json'), 'utf8')) as { pid: number }).pid;
    const status = async (): Promise<StatusJson> => {
      const r = await sluice(['status', '--app-dir', appDir, '--json'], tmp.path);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as StatusJson;
    };
    const windows = (s: StatusJson): Map<string, number> => new Map(s.operators.map((o) => [o.id, o.window]));
    /** Waits until every operator's window has passed its window in `than` by `by`. */
    const advancedPast = async (than: Map<string, number>, by: number): Promise<StatusJson> => {
      let s = await status();
      await until(async () => {
        s = await status();
        return s.operators.every((o) => o.window >= (than.get(o.id) ?? 0) + by);
      });
      return s;
    };

    // status --json: the app runs and every operator advances.
    const first = await advancedPast(new Map(), 1);
    expect(first.app).toMatchObject({ name: 'sums', state: 'running' });
    expect(first.operators.map((o) => o.id).sort()).toEqual(['numbers#0', 'sum#0', 'writer#0']);
    const running = await advancedPast(windows(first), 12); // past two checkpoints (every 5 windows)
    expect(running.operators.every((o) => !o.stalled)).toBe(true);

    // logs: STRAM's log, and the worker's own.
    const worker = running.containers.find((c) => c.operators.includes('sum#0'))!;
    expect(worker).toMatchObject({ state: 'running', restarts: 0 });
    const stramLog = await sluice(['logs', '--app-dir', appDir], tmp.path);
    expect(stramLog.code, stramLog.stderr).toBe(0);
    const stramLines = jsonLines(stramLog.stdout);
    expect(stramLines.length).toBeGreaterThan(0);
    expect(stramLines.every((l) => l['name'] === 'stram' && typeof l['level'] === 'number')).toBe(true);
    const workerLog = await sluice(['logs', '--app-dir', appDir, '--container', worker.id], tmp.path);
    expect(workerLog.code, workerLog.stderr).toBe(0);
    const workerLines = jsonLines(workerLog.stdout);
    expect(workerLines.length).toBeGreaterThan(0);
    expect(workerLines.every((l) => l['name'] === 'container' && l['container'] === worker.id)).toBe(true);

    // kill -9 the worker: STRAM replaces it (restarts 1) and the app advances again.
    const pids = new Set<number>(running.containers.map((c) => c.pid!));
    const atKill = windows(await status());
    process.kill(worker.pid!, 'SIGKILL');
    await until(async () => {
      const s = await status();
      const c = s.containers.find((x) => x.id === worker.id)!;
      return c.restarts === 1 && c.pid !== worker.pid && s.containers.every((x) => x.state === 'running' && x.deployed);
    });
    const recovered = await advancedPast(atKill, 10);
    const replacement = recovered.containers.find((c) => c.id === worker.id)!;
    expect(replacement).toMatchObject({ state: 'running', restarts: 1 });
    expect(recovered.containers.filter((c) => c.id !== worker.id).map((c) => c.restarts)).toEqual([0, 0]);
    for (const c of recovered.containers) pids.add(c.pid!);
    expect(pids.size).toBe(4); // three containers, and the killed worker's old process
    // STRAM's log has the replacement: the worker, its first restart, from a checkpoint (every 5 windows).
    const after = jsonLines((await sluice(['logs', '--app-dir', appDir], tmp.path)).stdout);
    const replacing = after.filter((l) => l['container'] === worker.id && l['restarts'] === 1 && typeof l['restoreWindow'] === 'number');
    expect(replacing).toHaveLength(1);
    expect((replacing[0]!['restoreWindow'] as number) % 5).toBe(0);

    // shutdown: STRAM and every container stop; npm run launch ends with it.
    const down = await sluice(['shutdown', '--app-dir', appDir], tmp.path);
    expect(down.code, down.stderr).toBe(0);
    const done = await launch.exited;
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    pids.add(stramPid);
    // A killed process may linger a moment as a zombie until it is reaped: the test timeout bounds the wait.
    await until(() => [...pids].every((p) => !pidAlive(p)));
    expect([...pids].filter(pidAlive)).toEqual([]);
    for (const c of recovered.containers) expect(existsSync(join(appDir, 'containers', c.id, 'credentials'))).toBe(false);

    // Every window written holds exactly its sum and running total: none missing, none repeated.
    const files = readdirSync(join(appDir, 'output'));
    const written = files.map((f) => Number(/^sum-(\d+)\.json$/.exec(f)?.[1])).sort((a, b) => a - b);
    const last = written[written.length - 1]!;
    expect(last).toBeGreaterThanOrEqual(Math.max(...atKill.values()) + 10);
    expect(written).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    for (const w of written) {
      const lines = readFileSync(join(appDir, 'output', `sum-${w}.json`), 'utf8').split('\n').filter((l) => l.length > 0);
      expect(lines.map((l) => JSON.parse(l) as unknown), `window ${w}`).toEqual([expected(w)]);
    }
    console.log(`newcomer path: ${written.length} windows exact; ${worker.id} (sum#0) killed at window ${atKill.get('sum#0')}, replaced`);
  }, 240_000);
});
