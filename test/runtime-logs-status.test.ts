import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCredentials } from '@sluice/common';
import type { OperatorView } from '@sluice/stram';
import { WORDCOUNT, runCli, startCli, tempDir, until, type CliProcess } from './helpers/runtime-cli.js';

/**
 * `sluice demo` watched from outside with the real CLI: STRAM's log file and `sluice logs`,
 * `sluice status` (its width, --wide, in and out rates) and a REST port fixed with --rest-port.
 */

/** A port nothing listens on right now (the OS's pick, released again). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('sluice demo: logs, status and a fixed REST port', () => {
  const tmp = tempDir('sluice-logs-');
  const appDir = join(tmp.path, 'app');
  let demo: CliProcess;
  let restPort: number;

  const webToken = () => readFileSync(join(appDir, 'web-token'), 'utf8').trim();
  const rest = () => (JSON.parse(readFileSync(join(appDir, 'stram.json'), 'utf8')) as { rest: string }).rest;
  const cli = (args: string[]) => runCli([...args, '--app-dir', appDir], tmp.path);
  const operators = async () => (JSON.parse((await cli(['status', '--json'])).stdout) as { operators: OperatorView[] }).operators;

  beforeAll(async () => {
    restPort = await freePort();
    // Debug level: the most STRAM and the containers ever log, so the most chances to leak a secret.
    demo = startCli(['demo', '--duration', '10m', '--app-dir', appDir, '--log-level', 'debug', '--rest-port', String(restPort)], tmp.path);
    await until(() => existsSync(join(appDir, 'web-token')));
    // Every operator has reported rates from two heartbeats (the test timeout bounds the wait).
    await until(async () => (await operators()).every((o) => o.tuplesInPerSecond + o.tuplesOutPerSecond > 0), 250);
  });

  afterAll(async () => {
    demo?.kill('SIGINT');
    demo?.kill('SIGINT');
    await demo?.exited;
    tmp.remove();
  });

  it('writes <app dir>/stram.log 0600 as JSON lines holding none of the app secrets', () => {
    const log = join(appDir, 'stram.log');
    expect(statSync(log).mode & 0o777).toBe(0o600);
    const lines = jsonLines(readFileSync(log, 'utf8'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l['name'] === 'stram' && typeof l['level'] === 'number')).toBe(true);
    const text = readFileSync(log, 'utf8');
    const secrets = [webToken(), readFileSync(join(appDir, 'stram', 'web-key'), 'utf8').trim()];
    for (const id of ['c1', 'c2', 'c3', 'c4']) {
      const c = readCredentials(join(appDir, 'containers', id, 'credentials'));
      secrets.push(c.stramToken, c.bufferServer.secret, Buffer.from(c.bufferServer.secret, 'hex').toString('base64'), ...Object.values(c.subscribe));
    }
    expect(secrets.length).toBeGreaterThan(10);
    for (const s of secrets) expect(text).not.toContain(s);
  });

  it("sluice logs prints STRAM's log, and --container c2 that container's", async () => {
    const stram = await cli(['logs']);
    expect(stram.code).toBe(0);
    expect(jsonLines(stram.stdout).every((l) => l['name'] === 'stram')).toBe(true);
    const c2 = await cli(['logs', '--container', 'c2']);
    expect(c2.code).toBe(0);
    const lines = jsonLines(c2.stdout);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l['name'] === 'container' && l['container'] === 'c2')).toBe(true);
  });

  it('sluice logs --follow prints a line STRAM writes after it started', async () => {
    const follow = startCli(['logs', '--follow', '--app-dir', appDir], tmp.path);
    await until(() => follow.stdout.includes('\n'));
    // A refused REST request is logged (at warn) with its path: a line only this test causes.
    const probe = `/ws/v1/app?probe=${randomBytes(8).toString('hex')}`;
    const res = await fetch(`${rest()}${probe}`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(res.status).toBe(401);
    await until(() => jsonLines(follow.stdout).some((l) => l['path'] === probe));
    expect(jsonLines(follow.stdout).find((l) => l['path'] === probe)).toMatchObject({ name: 'stram', reason: 'malformed' });
    follow.kill('SIGINT');
    expect((await follow.exited).code).toBe(0);
  });

  it('sluice status fits 100 columns; --wide adds the token columns', async () => {
    const narrow = await cli(['status']);
    expect(narrow.code).toBe(0);
    const widths = narrow.stdout.split('\n').map((l) => l.length);
    expect(Math.max(...widths)).toBeLessThanOrEqual(100);
    expect(narrow.stdout).toContain('in/s');
    expect(narrow.stdout).not.toContain('token expiry');
    const wide = await cli(['status', '--wide']);
    expect(wide.code).toBe(0);
    for (const column of ['token expiry', 'last renewal', 'renewal failures']) expect(wide.stdout).toContain(column);
  });

  it('sluice status --watch redraws until Ctrl-C, then exits 0', async () => {
    const watch = startCli(['status', '--watch', '300ms', '--app-dir', appDir], tmp.path);
    const snapshots = () => watch.stdout.split('\n').filter((l) => l.startsWith('app ')).length;
    await until(() => snapshots() >= 2);
    watch.kill('SIGINT');
    const r = await watch.exited;
    expect(r.code).toBe(0);
    expect(Math.max(...r.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
  });

  it('reports tuples in/s and out/s separately: a counter takes in far more words than counts it emits', async () => {
    const ops = await operators();
    const counters = ops.filter((o) => o.operator === 'counter');
    expect(counters).toHaveLength(2);
    // Each counter partition receives about half of 1,000 words a window and emits one count per distinct word.
    for (const c of counters) expect(c.tuplesInPerSecond).toBeGreaterThan(5 * c.tuplesOutPerSecond);
    const generator = ops.find((o) => o.operator === 'generator')!;
    expect(generator.tuplesInPerSecond).toBe(0);
    expect(generator.tuplesOutPerSecond).toBeGreaterThan(0);
  });

  it("prints the demo's progress lines within 80 columns when piped (no terminal width to go by)", async () => {
    const progress = () => demo.stderr.split('\n').filter((l) => /^\[\d+s\]/.test(l));
    // A line from once the counters run (every 5 s when piped) shows their words in and counts out.
    await until(() => progress().some((l) => /counter \S+→\S+\/s/.test(l)));
    for (const l of progress()) expect(l.length).toBeLessThan(80);
  });

  it('--rest-port fixes the REST port, and /metrics answers there to the web token', async () => {
    expect(rest()).toBe(`http://127.0.0.1:${restPort}`);
    const res = await fetch(`http://127.0.0.1:${restPort}/metrics`, { headers: { authorization: `Bearer ${webToken()}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^sluice_heartbeats_total\{/m);
    const refused = await fetch(`http://127.0.0.1:${restPort}/metrics`);
    expect(refused.status).toBe(401);
  });

  it('refuses a --rest-port in use in one line, exit 2, with no app directory left behind', async () => {
    const cwd = tempDir('sluice-port-in-use-');
    try {
      const r = await runCli(['launch', WORDCOUNT, '--config', 'seed=1', '--config', 'tuplesPerWindow=10', '--config', 'windows=0', '--rest-port', String(restPort)], cwd.path);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('--rest-port');
      expect(lines[0]).toMatch(/\[LISTEN_FAILED\]$/);
      expect(existsSync(join(cwd.path, '.sluice'))).toBe(false);
    } finally {
      cwd.remove();
    }
  });
});
