import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode, createLogger, decodeIdentifier, encodeIdentifier, readCredentials, tokenFromText, type Token } from '@sluice/common';
import { Stram, signWebToken, type ContainerView } from '@sluice/stram';
import { FakeContainer, NoopLauncher, writeTestApp } from '@sluice/stram/testing';
import { pidAlive, procFile, runCli, startCli, tempDir, until, type CliProcess } from './helpers/runtime-cli.js';

/**
 * End to end: `sluice launch` runs STRAM and real container processes; the tests probe
 * them from outside like an attacker on the same machine would.
 */
describe('sluice launch: a secure app in real processes', () => {
  const tmp = tempDir('sluice-launch-');
  const appDir = join(tmp.path, 'app');
  let cli: CliProcess;
  let other: Stram | undefined;
  let pids: number[] = [];
  const CANARY = 'canary-value-that-must-not-reach-containers';

  const webToken = () => readFileSync(join(appDir, 'web-token'), 'utf8').trim();
  const info = () => JSON.parse(readFileSync(join(appDir, 'stram.json'), 'utf8')) as { umbilical: string; rest: string; appId: string; pid: number };
  const rest = async (path: string, token?: string) => {
    const res = await fetch(`${info().rest}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return { status: res.status, text, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
  };
  const containers = async () => (await rest('/ws/v1/containers', webToken())).body.containers as ContainerView[];
  const token = (id: string): Token => tokenFromText(readCredentials(join(appDir, 'containers', id, 'credentials')).stramToken);

  beforeAll(async () => {
    const app = writeTestApp(tmp.path, 'pipeline');
    // Checkpoints every 2 windows, so the app directory's modes can be checked on real checkpoint files.
    cli = startCli(['launch', app, '--app-dir', appDir, '--log-level', 'debug', '--checkpoint-windows', '2'], tmp.path, { SLUICE_E2E_CANARY: CANARY });
    await cli.waitFor(/launched \S+/);
    // Every container heartbeating and deployed (the test timeout bounds the wait).
    await until(async () => (await containers()).every((c) => c.state === 'running' && c.deployed));
    pids = (await containers()).map((c) => c.pid!);
  });

  afterAll(async () => {
    cli?.kill('SIGTERM');
    await cli?.exited;
    for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    await other?.shutdown('test over');
    tmp.remove();
  });

  it('starts containers with nothing secret in /proc/<pid>/cmdline or environ, and 0600 credentials files', async () => {
    expect(pids).toHaveLength(4);
    const secrets: string[] = [webToken(), readFileSync(join(appDir, 'stram', 'web-key'), 'utf8').trim()];
    for (const id of ['c1', 'c2', 'c3', 'c4']) {
      const path = join(appDir, 'containers', id, 'credentials');
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const c = readCredentials(path);
      secrets.push(c.stramToken, c.bufferServer.secret, Buffer.from(c.bufferServer.secret, 'hex').toString('base64'), ...Object.values(c.subscribe));
    }
    for (const pid of pids) {
      const cmdline = procFile(pid, 'cmdline')!;
      const environ = procFile(pid, 'environ')!;
      expect(cmdline).not.toBeNull();
      for (const s of secrets) {
        expect(cmdline).not.toContain(s);
        expect(environ).not.toContain(s);
      }
      const vars = environ.split('\0').filter(Boolean).map((kv) => kv.slice(0, kv.indexOf('=')));
      expect(vars.sort()).toEqual(expect.arrayContaining(['SLUICE_CREDENTIALS']));
      // The parent's environment is not passed on wholesale.
      expect(environ).not.toContain(CANARY);
      expect(vars.every((v) => ['PATH', 'HOME', 'SLUICE_CREDENTIALS', 'SLUICE_LOG_LEVEL'].includes(v))).toBe(true);
    }
  });

  it('keeps checkpoints and output owner-only like the credentials: directories 0700, checkpoint files 0600', async () => {
    const checkpoints = join(appDir, 'checkpoints');
    // Every operator checkpoints every 2 windows (500 ms each); wait for the first of each.
    const operators = ['gen#0', 'count#0', 'count#1', 'sink#0'];
    await until(() => operators.every((op) => existsSync(join(checkpoints, op)) && readdirSync(join(checkpoints, op)).some((f) => /^\d+$/.test(f))));
    expect(statSync(checkpoints).mode & 0o777).toBe(0o700);
    expect(statSync(join(appDir, 'output')).mode & 0o777).toBe(0o700);
    for (const op of operators) {
      const dir = join(checkpoints, op);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      // Checkpoint files are named by window; one may be pruned between the listing and its stat.
      const modes = readdirSync(dir)
        .filter((f) => /^\d+$/.test(f))
        .flatMap((f) => (existsSync(join(dir, f)) ? [statSync(join(dir, f)).mode & 0o777] : []));
      expect(modes.length, op).toBeGreaterThan(0);
      expect(new Set(modes), op).toEqual(new Set([0o600]));
    }
  });

  it('writes no secret to STRAM output, container logs or REST responses', async () => {
    const secrets: string[] = [webToken()];
    for (const id of ['c1', 'c2', 'c3', 'c4']) {
      const c = readCredentials(join(appDir, 'containers', id, 'credentials'));
      secrets.push(c.stramToken, c.bufferServer.secret, ...Object.values(c.subscribe));
    }
    const responses = await Promise.all(['/ws/v1/app', '/ws/v1/containers', '/ws/v1/operators', '/metrics'].map(async (p) => (await rest(p, webToken())).text));
    const logs = ['c1', 'c2', 'c3', 'c4'].map((id) => readFileSync(join(appDir, 'containers', id, 'container.log'), 'utf8'));
    expect(cli.stderr.length).toBeGreaterThan(0); // debug logging is on: there is something to check
    for (const text of [cli.stdout, cli.stderr, ...logs, ...responses]) for (const s of secrets) expect(text).not.toContain(s);
  });

  it('refuses forged, tampered, other-app and other-container tokens with the right code and reason, and counts them', async () => {
    const url = info().umbilical;
    const real = token('c1');
    const forged = await FakeContainer.refusal({ url, token: { ...real, password: Buffer.alloc(32, 9) }, container: 'c1' });
    expect(forged).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^BAD_PROOF/) });

    const id = decodeIdentifier(real.identifier);
    const tampered = { ...real, identifier: encodeIdentifier({ ...id, maxDate: id.maxDate + 86_400_000 }) };
    expect(await FakeContainer.refusal({ url, token: tampered, container: 'c1' })).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^BAD_PROOF/) });

    // Another app's genuine token, presented to this app.
    const otherDir = join(tmp.path, 'other');
    other = await Stram.launch({ appModule: writeTestApp(tmp.path, 'pipeline'), appDir: otherDir, launcher: new NoopLauncher(), logger: createLogger({ name: 'other', level: 'silent' }), shutdownGraceMs: 100 });
    const foreign = tokenFromText(readCredentials(other.dir.credentials('c1')).stramToken);
    const otherApp = await FakeContainer.refusal({ url, token: { ...foreign, service: real.service }, container: 'c1' });
    expect(otherApp).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^BAD_PROOF/) });

    const otherContainer = await FakeContainer.refusal({ url, token: token('c1'), container: 'c2' });
    expect(otherContainer).toMatchObject({ code: CloseCode.forbidden, reason: expect.stringMatching(/^OUT_OF_SCOPE: token is for container c1/) });

    const metrics = (await rest('/metrics', webToken())).text;
    expect(metrics).toContain('sluice_auth_failures_total{endpoint="umbilical",reason="BAD_PROOF"} 3');
    expect(metrics).toContain('sluice_auth_failures_total{endpoint="umbilical",reason="OUT_OF_SCOPE"} 1');
    expect(metrics).toMatch(/sluice_heartbeats_total\{container="c1"\} \d+/);
    // The real containers were not disturbed.
    expect((await containers()).every((c) => c.state === 'running')).toBe(true);
  });

  it("refuses REST requests without a token, with an expired one and with another app's, with 401 and a reason", async () => {
    const missing = await rest('/ws/v1/app');
    expect(missing).toMatchObject({ status: 401, body: { reason: 'missing' } });
    const key = Buffer.from(readFileSync(join(appDir, 'stram', 'web-key'), 'utf8').trim(), 'hex');
    const expired = await signWebToken(key, { app: info().appId, user: 'me', now: Date.now() - 7_200_000, ttlMs: 3_600_000 });
    expect(await rest('/ws/v1/containers', expired)).toMatchObject({ status: 401, body: { reason: 'expired' } });
    const foreign = readFileSync(other!.dir.webToken, 'utf8').trim();
    expect(await rest('/ws/v1/operators', foreign)).toMatchObject({ status: 401, body: { reason: 'wrong-app' } });
    const metrics = (await rest('/metrics', webToken())).text;
    for (const reason of ['missing', 'expired', 'wrong-app']) expect(metrics).toContain(`sluice_auth_failures_total{endpoint="rest",reason="${reason}"} 1`);
  });

  it('sluice status prints a table, and one JSON object with --json', async () => {
    const table = await runCli(['status', '--app-dir', appDir], tmp.path);
    expect(table.code).toBe(0);
    for (const s of ['c1', 'c4', 'count#1', 'running']) expect(table.stdout).toContain(s);
    const json = await runCli(['status', '--app-dir', appDir, '--json'], tmp.path);
    const status = JSON.parse(json.stdout.trim().split('\n').at(-1)!);
    expect(status.containers).toHaveLength(4);
    expect(status.operators.map((o: { id: string }) => o.id)).toEqual(['gen#0', 'count#0', 'count#1', 'sink#0']);
    expect(json.stdout).not.toContain(webToken());
  });

  it('replaces a container whose process died, and shows its restarts in status', async () => {
    const c4 = (await containers()).find((c) => c.id === 'c4')!;
    process.kill(c4.pid!, 'SIGKILL');
    await until(async () => {
      const now = (await containers()).find((c) => c.id === 'c4')!;
      return now.restarts === c4.restarts + 1 && now.state === 'running' && now.pid !== c4.pid;
    });
    pids.push((await containers()).find((c) => c.id === 'c4')!.pid!);
    const table = await runCli(['status', '--app-dir', appDir], tmp.path);
    expect(table.stdout).toMatch(new RegExp(`c4 +│ running +│ \\d+ +│ ${c4.restarts + 1} +│`));
    expect((await rest('/metrics', webToken())).text).toContain(`sluice_container_restarts_total{container="c4"} ${c4.restarts + 1}`);
  });

  it('sluice shutdown leaves no process, no spool file and no credentials behind', async () => {
    const stramPid = info().pid;
    const r = await runCli(['shutdown', '--app-dir', appDir], tmp.path);
    expect(r.code).toBe(0);
    const launched = await cli.exited;
    expect(launched.code).toBe(0);
    expect(pidAlive(stramPid)).toBe(false);
    for (const pid of pids) expect(pidAlive(pid)).toBe(false);
    expect(existsSync(join(appDir, 'spool'))).toBe(false);
    for (const id of readdirSync(join(appDir, 'containers'))) expect(existsSync(join(appDir, 'containers', id, 'credentials'))).toBe(false);
    expect(existsSync(join(appDir, 'stram.json'))).toBe(false);
  });
});

describe('sluice launch: invalid apps', () => {
  it('refuses a DAG with a cycle with a clear message and launches nothing', async () => {
    const tmp = tempDir('sluice-cycle-');
    try {
      const r = await runCli(['launch', writeTestApp(tmp.path, 'cycle'), '--app-dir', join(tmp.path, 'app')], tmp.path);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/cycle/i);
      expect(r.stderr).toMatch(/INVALID_DAG/);
      expect(existsSync(join(tmp.path, 'app', 'containers'))).toBe(false);
    } finally {
      tmp.remove();
    }
  });
});
