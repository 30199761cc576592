import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContainerView } from '@sluice/stram';
import { ROOT, SLUICE, pidAlive, runCli, startCli, tempDir, until, type CliProcess } from './helpers/runtime-cli.js';
import { sample } from './helpers/recovery-wordcount.js';
import { WINDOWS, expectedSums, writtenSums } from './helpers/summing-app.js';

/**
 * Failure policy end to end (docs/guide.md "Restart strategies"): an operator that throws reaches
 * STRAM with its stack; its container is restarted only after the delays the restart strategy
 * grants, and past its limit the app is FAILED — containers gone, directory kept, `sluice launch`
 * exiting non-zero with the reason. A failure that happens once is restarted and the app ends exact.
 */

const THROWS_ALWAYS = join(ROOT, 'test', 'dist', 'helpers', 'throws-always-app.js');
const THROWS_ONCE = join(ROOT, 'test', 'dist', 'helpers', 'throws-once-app.js');
const TIMING = ['--window', '100ms', '--checkpoint-windows', '10', '--heartbeat-interval', '250ms', '--heartbeat-timeout', '3s', '--log-level', 'warn'];

interface Status {
  app: { state: string; failure: { reason: string; at: string } | null };
  containers: ContainerView[];
}

/** A launched app's REST API, through its stram.json and web token. */
function restOf(appDir: string): (path: string) => Promise<string> {
  return async (path) => {
    const { rest } = JSON.parse(readFileSync(join(appDir, 'stram.json'), 'utf8')) as { rest: string };
    const token = readFileSync(join(appDir, 'web-token'), 'utf8').trim();
    return (await fetch(`${rest}${path}`, { headers: { authorization: `Bearer ${token}` } })).text();
  };
}

/** The lines of a process's stderr that are not JSON log lines: what a person reads. */
const said = (stderr: string): string[] => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));

describe('an operator that always throws', () => {
  const tmp = tempDir('sluice-fail-always-');
  const appDir = join(tmp.path, 'app');
  let cli: CliProcess | undefined;
  const pids = new Set<number>();

  afterAll(async () => {
    cli?.kill('SIGKILL');
    for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    tmp.remove();
  });

  it('is restarted after growing delays, shows its stack in REST, status and metrics, then FAILS the app', async () => {
    const strategy = 'exponential:initial=1s,max=4s,multiplier=2,reset=10m,attempts=3';
    cli = startCli(['launch', THROWS_ALWAYS, '--app-dir', appDir, ...TIMING, '--restart', strategy], tmp.path);
    await cli.waitFor(/launched \S+/);
    const rest = restOf(appDir);

    // While it runs: the first failure, with its stack, in the REST container view and in /metrics.
    let seen: ContainerView[] = [];
    let metrics = '';
    await until(async () => {
      try {
        seen = (JSON.parse(await rest('/ws/v1/containers')) as { containers: ContainerView[] }).containers;
        for (const c of seen) if (c.pid) pids.add(c.pid);
        metrics = await rest('/metrics');
        return seen.find((c) => c.id === 'c2')!.failures.length > 0 && sample(metrics, 'sluice_operator_failures_total{operator="summer#0"}') > 0;
      } catch {
        return false; // between a restart and the next look, or the app already FAILED: the checks below decide
      }
    });
    const first = seen.find((c) => c.id === 'c2')!;
    expect(first.failures[0]).toMatchObject({ cause: 'operator', operator: 'summer#0', message: 'TypeError: cannot add to the sum of window 3' });
    expect(first.failures[0]!.stack).toMatch(/^TypeError: cannot add to the sum of window 3\n\s+at .*throws-always-app\.js/);
    expect(first.errors).toContain('operator summer#0 failed: cannot add to the sum of window 3');

    // Past the third restart the app FAILS: `sluice launch` exits 1 with one line saying why.
    const done = await cli.exited;
    expect(done.code).toBe(1);
    const reason =
      `container c2 failed 4 times without 10m of calm; restart strategy ${strategy} allows 3 restarts; ` +
      'last failure: operator summer#0 threw TypeError: cannot add to the sum of window 3';
    expect(said(done.stderr)).toEqual([expect.stringMatching(/^sluice launch: app throws-always-\w+ FAILED: /)]);
    expect(said(done.stderr)[0]).toBe(`sluice launch: app ${/launched (\S+)/.exec(done.stdout)![1]} FAILED: ${reason}; see node ${SLUICE} status --app-dir ${appDir} [APP_FAILED]`);

    // Its containers are gone; the directory is kept, without credentials, lock or STRAM address.
    for (const pid of pids) expect(pidAlive(pid)).toBe(false);
    expect(readdirSync(join(appDir, 'checkpoints')).length).toBeGreaterThan(0);
    for (const id of ['c1', 'c2', 'c3']) {
      expect(existsSync(join(appDir, 'containers', id, 'container.log'))).toBe(true);
      expect(existsSync(join(appDir, 'containers', id, 'credentials'))).toBe(false);
    }
    for (const gone of ['stram.lock', 'stram.json', 'web-token']) expect(existsSync(join(appDir, gone))).toBe(false);

    // `sluice status --json` reads the FAILED report: the reason, each failure with its stack and
    // the delay granted; no restart came sooner than its delay (no busy loop).
    const status = await runCli(['status', '--app-dir', appDir, '--json'], tmp.path);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout) as Status;
    expect(s.app).toMatchObject({ state: 'failed', failure: { reason } });
    const c2 = s.containers.find((c) => c.id === 'c2')!;
    expect(c2.restarts).toBe(3);
    expect(c2.failures.map((f) => [f.cause, f.operator, f.restartAfterMs])).toEqual([
      ['operator', 'summer#0', 1_000],
      ['operator', 'summer#0', 2_000],
      ['operator', 'summer#0', 4_000],
      ['operator', 'summer#0', null],
    ]);
    for (const f of c2.failures) expect(f.stack).toMatch(/throws-always-app\.js/);
    for (let i = 1; i < c2.failures.length; i++) {
      expect(Date.parse(c2.failures[i]!.at) - Date.parse(c2.failures[i - 1]!.at)).toBeGreaterThanOrEqual(c2.failures[i - 1]!.restartAfterMs!);
    }
    for (const c of s.containers.filter((x) => x.id !== 'c2')) expect([c.id, c.restarts, c.failures]).toEqual([c.id, 0, []]);

    // The table: FAILED with the reason (wrapped to 100 columns, whole; on one line with --wide),
    // and one short line per failure.
    const table = await runCli(['status', '--app-dir', appDir], tmp.path);
    expect(Math.max(...table.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
    expect(table.stdout.replace(/\n {2}/g, ' ')).toContain(`FAILED at ${s.app.failure!.at}: ${reason}\n`);
    const wideTable = await runCli(['status', '--app-dir', appDir, '--wide'], tmp.path);
    expect(wideTable.stdout).toContain(`FAILED at ${s.app.failure!.at}: ${reason}\n`);
    expect(table.stdout.match(/^failure .* c2 summer#0: TypeError: cannot add to the sum of window 3/gm)).toHaveLength(4);

    // And it is not resumed.
    const recover = await runCli(['launch', '--recover', appDir], tmp.path);
    expect(recover.code).not.toBe(0);
    expect(said(recover.stderr).join('\n')).toMatch(/FAILED at .*a FAILED app is not resumed: launch it anew/);
  });
});

describe('an operator that throws once', () => {
  const tmp = tempDir('sluice-fail-once-');
  const appDir = join(tmp.path, 'app');
  let cli: CliProcess | undefined;

  afterAll(async () => {
    cli?.kill('SIGTERM');
    await cli?.exited;
    tmp.remove();
  });

  it('is restarted after the default strategy\'s first delay and the app ends exact', async () => {
    cli = startCli(['launch', THROWS_ONCE, '--app-dir', appDir, ...TIMING], tmp.path);
    await cli.waitFor(/launched \S+/);
    const expected = expectedSums();
    await until(() => Object.keys(writtenSums(appDir)).length === WINDOWS);
    expect(writtenSums(appDir)).toEqual(expected);
    const rest = restOf(appDir);
    const c2 = (JSON.parse(await rest('/ws/v1/containers')) as { containers: ContainerView[] }).containers.find((c) => c.id === 'c2')!;
    expect(c2).toMatchObject({ state: 'running', restarts: 1 });
    expect(c2.failures).toEqual([expect.objectContaining({ cause: 'operator', operator: 'summer#0', message: 'RangeError: transient failure in window 10', restartAfterMs: 1_000 })]);
    expect((JSON.parse(await rest('/ws/v1/app')) as { state: string; restartStrategy: string }).restartStrategy).toBe('exponential:initial=1s,max=1m,multiplier=2,reset=10m,attempts=10');
    expect(sample(await rest('/metrics'), 'sluice_operator_failures_total{operator="summer#0"}')).toBe(1);
    cli.kill('SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });
});
