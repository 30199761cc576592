import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, startCli, tempDir, until, type CliProcess, type CliResult } from './helpers/runtime-cli.js';

/**
 * An app written in its own folder, as a new user makes one (docs/guide.md "Write an app"):
 * `sluice init` in a directory outside the repository, `npm run build`, `npm test` (the local
 * harness), `sluice launch DIR` from another directory, `sluice status --json`, `sluice shutdown`.
 * npm only runs the folder's scripts: it is told to stay offline, and nothing is installed.
 */

function npm(args: string[], cwd: string): Promise<CliResult> {
  const child = spawn('npm', args, { cwd, env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  return new Promise((res) => child.once('close', (code, signal) => res({ code, signal, stdout, stderr })));
}

interface StatusJson {
  app: { name: string; state: string };
  operators: { id: string; window: number; stalled?: boolean }[];
}

// Window w of the example holds w*100 .. w*100+9: sum 1000*w + 45; the running total is the sum over 1..w.
const expected = (w: number) => ({ w, sum: 1000 * w + 45, total: 500 * w * (w + 1) + 45 * w });

describe('an app folder made by sluice init, outside the repository', () => {
  const tmp = tempDir('sluice-init-');
  const dir = join(tmp.path, 'sums');
  const appDir = join(tmp.path, 'run');
  let cli: CliProcess | undefined;

  beforeAll(() => {
    expect(relative(ROOT, tmp.path).startsWith('..')).toBe(true);
    expect(tmp.path.startsWith(tmpdir())).toBe(true);
  });
  afterAll(async () => {
    cli?.kill();
    await cli?.exited;
    tmp.remove();
  });

  it('scaffolds package.json, tsconfig.json, an example app and its test', async () => {
    const r = await runCli(['init', dir], tmp.path);
    expect(r.code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: 'sums', type: 'module', main: 'dist/app.js', scripts: { build: 'tsc -p .', test: 'vitest run --dir src' } });
    expect(pkg.dependencies['@sluice/app']).toBe(`file:${join(ROOT, 'packages', 'app')}`);
    expect(Object.keys(pkg.devDependencies).sort()).toEqual(['@sluice/cli', '@sluice/container', '@types/node', 'typescript', 'vitest']);
    expect(existsSync(join(dir, 'tsconfig.json'))).toBe(true);
    expect(readdirSync(join(dir, 'src')).sort()).toEqual(['app.test.ts', 'app.ts']);
    expect(readFileSync(join(dir, 'src', 'app.ts'), 'utf8')).toContain("from '@sluice/app'");
  });

  it('builds with npm run build', async () => {
    const r = await npm(['run', 'build'], dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(existsSync(join(dir, 'dist', 'app.js'))).toBe(true);
  });

  it("passes its scaffolded test (the local harness) with npm test", async () => {
    const report = join(tmp.path, 'report.json');
    const r = await npm(['test', '--', '--reporter=json', `--outputFile=${report}`], dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(report, 'utf8')) as { numTotalTests: number; numPassedTests: number };
    expect([json.numTotalTests, json.numPassedTests]).toEqual([2, 2]);
  });

  it("keeps its links through npm install of a dependency of its own, which it then imports", async () => {
    const dep = join(tmp.path, 'per-window');
    mkdirSync(dep);
    writeFileSync(join(dep, 'package.json'), JSON.stringify({ name: 'per-window', version: '1.0.0', type: 'module', exports: './index.js' }));
    writeFileSync(join(dep, 'index.js'), 'export const PER_WINDOW = 10;\n');
    const r = await npm(['install', '--no-audit', '--no-fund', '../per-window'], dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const linked of ['@sluice/app', '@sluice/container', 'typescript', 'vitest', '.bin/tsc', '.bin/sluice', 'per-window']) expect(existsSync(join(dir, 'node_modules', linked)), linked).toBe(true);
    // The example's numbers per window now come from the dependency (the same 10): launched
    // containers must resolve it from the app's folder for the sums below to appear at all.
    const source = join(dir, 'src', 'app.ts');
    const text = readFileSync(source, 'utf8');
    expect(text).toContain('i < 10;');
    writeFileSync(source, `import { PER_WINDOW } from 'per-window';\n${text.replace('i < 10;', 'i < PER_WINDOW;')}`);
    writeFileSync(join(dep, 'index.d.ts'), 'export declare const PER_WINDOW: number;\n');
    const build = await npm(['run', 'build'], dir);
    expect(build.code, build.stdout + build.stderr).toBe(0);
    expect(readFileSync(join(dir, 'dist', 'app.js'), 'utf8')).toContain("from 'per-window'");
  });

  it('launches from another directory, shows in sluice status --json, writes the exact sums, and shuts down', async () => {
    cli = startCli(['launch', dir, '--app-dir', appDir, '--window', '100ms'], tmpdir());
    await cli.waitFor(/launched \S+/);
    const status = async (): Promise<StatusJson> => {
      const r = await runCli(['status', '--app-dir', appDir, '--json'], tmp.path);
      return JSON.parse(r.stdout) as StatusJson;
    };
    await until(async () => (await status()).operators.every((o) => o.window >= 5));
    const s = await status();
    expect(s.app).toMatchObject({ name: 'sums', state: 'running' });
    expect(s.operators.map((o) => o.id).sort()).toEqual(['numbers#0', 'sum#0', 'writer#0']);
    const down = await runCli(['shutdown', '--app-dir', appDir], tmp.path);
    expect(down.code).toBe(0);
    const done = await cli.exited;
    expect(done.code).toBe(0);
    for (let w = 1; w <= 5; w++) expect(JSON.parse(readFileSync(join(appDir, 'output', `sum-${w}.json`), 'utf8'))).toEqual(expected(w));
  });

  it('refuses init into a non-empty directory, and a folder whose package.json is bad or names no entry, each with one line', async () => {
    const again = await runCli(['init', dir], tmp.path);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^sluice init: .*sums is not empty: sluice init makes an app in a new or empty directory \[FILE_EXISTS\]\n$/);
    const pkg = join(dir, 'package.json');
    writeFileSync(pkg, JSON.stringify({ name: 'sums', type: 'module' }));
    const noEntry = await runCli(['launch', dir, '--app-dir', join(tmp.path, 'never')], tmp.path);
    expect(noEntry.code).toBe(2);
    expect(noEntry.stderr).toMatch(/^sluice launch: .*package\.json names no entry: set "main" .*\[BAD_APP_PACKAGE\]\n$/);
    writeFileSync(pkg, '{ "main": "dist/app.js", ');
    const badJson = await runCli(['launch', dir, '--app-dir', join(tmp.path, 'never')], tmp.path);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/^sluice launch: .*package\.json is not valid JSON: .*\[BAD_APP_PACKAGE\]\n$/);
    expect(existsSync(join(tmp.path, 'never'))).toBe(false);
  });
});
