import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { watchChild } from './child-output.js';

/**
 * A real STRAM in a process of its own, for an app whose containers are never started (the
 * NoopLauncher): the umbilical and REST are STRAM's own, and a test connects fake containers with
 * the credentials STRAM wrote. For probing STRAM from outside and reading its RSS from /proc.
 */
export interface StramProcess {
  readonly pid: number;
  readonly umbilical: string;
  readonly rest: string;
  readonly proc: ChildProcess;
  /** Path of a container's credentials file (c1..c4 of the `pipeline` test app). */
  credentials(container: string): string;
  /** The value of one Prometheus line of REST /metrics, e.g. `sluice_auth_failures_total{endpoint="umbilical",reason="BAD_PROOF"}` (0 if absent). */
  metric(line: string): Promise<number>;
  stderr(): string;
  /** SIGTERM, then waits for exit; returns the exit code. Removes the temp dir. */
  stop(): Promise<number | null>;
}

const TEST_DIR = resolve(import.meta.dirname, '..');

// Runs with test/ as its working directory, so the workspace packages resolve as they do for the tests.
const SCRIPT = `
import { join } from 'node:path';
import { createLogger } from '@sluice/common';
import { Stram } from '@sluice/stram';
import { NoopLauncher, writeTestApp } from '@sluice/stram/testing';
const dir = process.argv[1];
const stram = await Stram.launch({
  appModule: writeTestApp(dir, 'pipeline'),
  appDir: join(dir, 'app'),
  launcher: new NoopLauncher(),
  logger: createLogger({ name: 'stram', level: 'warn' }),
  heartbeatTimeoutMs: 600000,
  launchTimeoutMs: 600000,
  shutdownGraceMs: 100,
});
const credentials = Object.fromEntries(stram.plan.containers.map((c) => [c.id, stram.dir.credentials(c.id)]));
process.stdout.write(JSON.stringify({ umbilical: stram.umbilicalUrl, rest: stram.restUrl, webToken: stram.dir.webToken, credentials }) + '\\n');
process.once('SIGTERM', () => stram.shutdown('test over').then(() => process.exit(0), () => process.exit(1)));
`;

interface Ready {
  umbilical: string;
  rest: string;
  webToken: string;
  credentials: Record<string, string>;
}

export async function startStramProcess(): Promise<StramProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-stram-proc-'));
  const proc = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT, dir], { cwd: TEST_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  const child = watchChild(proc, dir);
  const ready = await new Promise<Ready>((res, rej) => {
    createInterface({ input: proc.stdout! }).once('line', (line) => res(JSON.parse(line) as Ready));
    void child.exited.then((code) => rej(new Error(`STRAM exited with ${code} before it was ready:\n${child.stderr()}`)));
  });
  const webToken = readFileSync(ready.webToken, 'utf8').trim();
  return {
    pid: proc.pid!,
    umbilical: ready.umbilical,
    rest: ready.rest,
    proc,
    credentials: (container) => {
      const path = ready.credentials[container];
      if (!path) throw new Error(`the test app has no container ${container}`);
      return path;
    },
    metric: async (line) => {
      const text = await (await fetch(`${ready.rest}/metrics`, { headers: { authorization: `Bearer ${webToken}` } })).text();
      const found = text.split('\n').find((l) => l.startsWith(`${line} `));
      return found ? Number(found.slice(line.length + 1)) : 0;
    },
    stderr: child.stderr,
    stop: child.stop,
  };
}
