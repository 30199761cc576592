import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/runtime-cli.js';

/** `sluice demo` end to end — real STRAM, four container processes, exact word counts. */
describe('sluice demo', () => {
  const tmp = tempDir('sluice-demo-');
  afterAll(() => tmp.remove());

  it("counts exactly the generator's words, across two counter partitions in separate containers", async () => {
    const appDir = join(tmp.path, 'app');
    const r = await runCli(['demo', '--duration', '6s', '--json', '--app-dir', appDir], tmp.path);
    const last = r.stdout.trim().split('\n').at(-1)!;
    const summary = JSON.parse(last);
    expect(summary, r.stderr.slice(-2000)).toMatchObject({ secure: true, containers: 4, exact: true });
    expect(summary.windows).toBeGreaterThan(0);
    expect(summary.windows).toBeGreaterThanOrEqual(summary.generatorWindows);
    expect(summary.tuples).toBe(summary.windows * 1000);
    expect(summary.actual).toEqual(summary.expected);
    expect(r.code).toBe(0);
    // Clean shutdown: no spool, no credentials left; the output stays.
    expect(existsSync(join(appDir, 'spool'))).toBe(false);
    for (const id of readdirSync(join(appDir, 'containers'))) expect(existsSync(join(appDir, 'containers', id, 'credentials'))).toBe(false);
    expect(readdirSync(join(appDir, 'output')).length).toBe(summary.windows);
    // The output is the launching user's alone, like the rest of the app directory.
    expect(statSync(join(appDir, 'output')).mode & 0o777).toBe(0o700);
    expect(statSync(join(appDir, 'checkpoints')).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(join(appDir, 'output'))) expect([f, statSync(join(appDir, 'output', f)).mode & 0o777]).toEqual([f, 0o600]);
  });
});

describe('sluice demo --insecure', () => {
  const tmp = tempDir('sluice-demo-insecure-');
  afterAll(() => tmp.remove());

  it('runs the same protocol with well-known keys, says so loudly, and still counts exactly', async () => {
    const r = await runCli(['demo', '--duration', '3s', '--json', '--insecure', '--app-dir', join(tmp.path, 'app')], tmp.path);
    expect(r.stderr).toContain('INSECURE MODE: any process on this machine can join this app');
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary).toMatchObject({ secure: false, exact: true });
  });
});

describe('sluice demo --partitions', () => {
  const tmp = tempDir('sluice-demo-partitions-');
  afterAll(() => tmp.remove());

  it.each([
    ['1', 3],
    ['4', 6],
  ])('--partitions %s runs that many counter containers and still counts exactly', async (partitions, containers) => {
    const r = await runCli(['demo', '--duration', '3s', '--json', '--partitions', partitions, '--app-dir', join(tmp.path, `app-${partitions}`)], tmp.path);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary, r.stderr.slice(-2000)).toMatchObject({ secure: true, containers, exact: true });
    expect(summary.actual).toEqual(summary.expected);
    expect(r.code).toBe(0);
  });

  it('--partitions 3 is refused in one line, naming the choices', async () => {
    const r = await runCli(['demo', '--partitions', '3'], tmp.path);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sluice demo: --partitions must be one of 1, 2, 4, not "3" [BAD_CONFIG]\n');
  });
});
