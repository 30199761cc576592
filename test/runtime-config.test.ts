import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, startCli, tempDir, until, type CliProcess } from './helpers/runtime-cli.js';

const CONFIG_APP = join(ROOT, 'test', 'dist', 'helpers', 'config-app.js');

/** A printed command line, pasted into a shell (asynchronously: STRAM is our child, and we must reap it). */
async function shell(line: string, cwd: string): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)('sh', ['-c', line], { cwd, encoding: 'utf8' });
    return { code: 0, stdout };
  } catch (err) {
    return { code: (err as { code?: number }).code ?? -1, stdout: (err as { stdout?: string }).stdout ?? '' };
  }
}

/**
 * `sluice launch --config` end to end (docs/guide.md "Config"): entries reach the operators that
 * declare them, per operator when prefixed, parsed by each operator's schema in its own container;
 * and the banner's hints run as printed.
 */
describe('sluice launch --config: declared config in real containers', () => {
  const tmp = tempDir('sluice-config-');
  const appDir = join(tmp.path, 'app');
  let cli: CliProcess | undefined;

  afterAll(async () => {
    cli?.kill('SIGTERM');
    await cli?.exited;
    tmp.remove();
  });

  const reported = (op: string): { config: Record<string, unknown>; types: Record<string, string> } =>
    JSON.parse(readFileSync(join(appDir, 'output', `${op}.json`), 'utf8')) as { config: Record<string, unknown>; types: Record<string, string> };

  it('gives app-wide keys to every operator and operator.key ones to that operator, typed; the banner hints run as printed', async () => {
    // The app path comes after repeated --config flags: none of them swallows it.
    const args = ['launch', '--config', 'label=shared', '--config', 'source.n=1', '--config', 'sink.n=2', '--config', 'sink.label="own"', CONFIG_APP, '--app-dir', appDir];
    cli = startCli([...args, '--log-level', 'warn'], tmp.path);
    await cli.waitFor(/stop: .*\n/);
    await until(() => existsSync(join(appDir, 'output', 'source.json')) && existsSync(join(appDir, 'output', 'sink.json')));
    expect(reported('source')).toEqual({ config: { n: 1, label: 'shared' }, types: { n: 'number', label: 'string' } });
    expect(reported('sink')).toEqual({ config: { n: 2, label: 'own' }, types: { n: 'number', label: 'string' } });

    // The banner's commands, pasted into a shell.
    const status = await shell(`${/status: +(.+)\n/.exec(cli.stdout)![1]!} --json`, tmp.path);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as { operators: { id: string }[] }).operators.map((o) => o.id).sort()).toEqual(['sink#0', 'source#0']);
    const stop = await shell(/stop: +Ctrl-C here, or (.+)\n/.exec(cli.stdout)![1]!, tmp.path);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/stopped\n$/);
    expect((await cli.exited).code).toBe(0);
  });
});
