import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** For the CLI's tests: the built `sluice`, run as a user would, one child process per command. */

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
export const BIN = join(ROOT, 'packages/cli/bin/sluice.js');
export const WORDCOUNT = join(ROOT, 'packages/cli/dist/demo/wordcount.js');

export interface SluiceRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function assertBuilt(): void {
  if (!existsSync(join(ROOT, 'packages/cli/dist/main.js'))) throw new Error('the CLI is not built; run `pnpm exec tsc -b` first');
}

export function runSluice(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SluiceRun {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000, cwd: options.cwd, env: { ...process.env, ...options.env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
