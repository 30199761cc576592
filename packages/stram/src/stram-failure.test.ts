import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, createLogger, readCredentials, tokenFromText, type FailureReport } from '@sluice/common';
import { lockPath } from './app-lock.js';
import { Stram, type StramOptions } from './stram.js';
import { FakeContainer, NoopLauncher, writeTestApp } from './testing/index.js';

/** Restart strategies, FAILED and the app directory lock, in one process with scripted containers (docs/guide.md "Restart strategies"). */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-stram-failure-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const silent = createLogger({ name: 'stram-test', level: 'silent' });

async function launch(extra: Partial<StramOptions> = {}): Promise<{ stram: Stram; launcher: NoopLauncher; dir: string }> {
  const dir = tempDir();
  const launcher = new NoopLauncher();
  const stram = await Stram.launch({ appModule: writeTestApp(dir, 'pipeline'), appDir: join(dir, 'app'), launcher, logger: silent, shutdownGraceMs: 100, ...extra });
  cleanups.push(() => stram.shutdown('test over'));
  return { stram, launcher, dir };
}

async function connect(path: string): Promise<FakeContainer> {
  const fake = await FakeContainer.fromCredentials(path);
  cleanups.push(() => fake.close());
  return fake;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await sleep(10);
}

async function metric(stram: Stram, line: string): Promise<number | undefined> {
  const found = (await stram.metrics.text()).split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

const c2 = (stram: Stram) => stram.containers().find((c) => c.id === 'c2')!;

/** Every file under `root` with its size, mode and mtime: what "untouched" means. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        out[relative(root, p)] = `${st.size} ${st.mode.toString(8)} ${st.mtimeMs} ${readFileSync(p).toString('base64')}`;
      }
    }
  };
  walk(root);
  return out;
}

describe('restart strategy', () => {
  it('replaces a container that exited only after the delay the strategy grants, and records the failure', async () => {
    const { stram, launcher } = await launch({ restart: 'fixed:attempts=2,delay=400ms' });
    expect(launcher.launches('c2')).toBe(1);
    launcher.exit('c2', 1);
    await until(() => c2(stram).restartAt !== null);
    const waiting = c2(stram);
    expect(waiting).toMatchObject({ state: 'exited', restarts: 0, failures: [{ cause: 'exited', operator: null, message: 'process exited (code 1)', stack: null, restartAfterMs: 400 }] });
    expect(Date.parse(waiting.restartAt!) - Date.parse(waiting.failures[0]!.at)).toBe(400);
    await sleep(100);
    expect(launcher.launches('c2')).toBe(1); // not at once
    await until(() => launcher.launches('c2') === 2);
    expect(c2(stram)).toMatchObject({ state: 'launching', restarts: 1, restartAt: null });
    expect(await metric(stram, 'sluice_container_restart_delay_seconds{container="c2"}')).toBe(0.4);
    expect(stram.appView()).toMatchObject({ state: 'running', restartStrategy: 'fixed:attempts=2,delay=400ms', failure: null });
  });

  it('keeps an operator failure with its stack once, however often the container repeats it, and counts it', async () => {
    const { stram, launcher } = await launch({ restart: 'fixed:attempts=3,delay=200ms' });
    const fake = await connect(stram.dir.credentials('c2'));
    const failure: FailureReport = { operator: 'count#0', message: 'Error: boom', stack: 'Error: boom\n    at process (app.js:3:9)', at: Date.now() };
    expect(await metric(stram, 'sluice_operator_failures_total{operator="count#0"}')).toBe(0);
    await fake.heartbeat({ failures: [failure], errors: ['operator count#0 failed: boom'] });
    await fake.heartbeat({ state: 'stopping', failures: [failure], errors: ['operator count#0 failed: boom'] });
    expect(await metric(stram, 'sluice_operator_failures_total{operator="count#0"}')).toBe(1);
    expect(c2(stram).failures).toEqual([{ at: new Date(failure.at).toISOString(), cause: 'operator', operator: 'count#0', message: 'Error: boom', stack: failure.stack, restartAfterMs: null }]);
    launcher.exit('c2', 4);
    // The loss is the operator's failure (not a second one); the decision goes on it.
    await until(() => c2(stram).failures[0]!.restartAfterMs !== null);
    expect(c2(stram).failures).toHaveLength(1);
    expect(c2(stram).failures[0]!.restartAfterMs).toBe(200);
    await until(() => c2(stram).restarts === 1);
    // The errors the process reported stay in view after its replacement.
    expect(c2(stram).errors).toEqual(['operator count#0 failed: boom']);
  });

  it('answers a lost process that speaks again with shutdown, and refuses its old token once replaced', async () => {
    const { stram, launcher } = await launch({ restart: 'fixed:attempts=1,delay=5s' });
    const old = readCredentials(stram.dir.credentials('c2')).stramToken;
    const fake = await connect(stram.dir.credentials('c2'));
    launcher.exit('c2', 1);
    await until(() => c2(stram).restartAt !== null);
    const ack = await fake.heartbeat({ bufferServer: 'ws://127.0.0.1:1/c2' });
    expect(ack.commands).toEqual([{ c: 'shutdown', reason: 'this container was found lost and is being replaced' }]);
    expect(c2(stram)).toMatchObject({ state: 'exited', bufferServerUrl: null });
    // The replacement's credentials are made at the loss, not after the delay: the old token is cancelled already.
    await until(() => readCredentials(stram.dir.credentials('c2')).stramToken !== old);
    const refused = await FakeContainer.refusal({ url: stram.umbilicalUrl, token: tokenFromText(old), container: 'c2' });
    expect(refused).toMatchObject({ code: CloseCode.unauthenticated, reason: expect.stringMatching(/^TOKEN_CANCELLED/) });
    expect(launcher.launches('c2')).toBe(1);
  });
});

describe('FAILED', () => {
  it('past the strategy\'s limit: containers told to stop, tokens cancelled, credentials gone, the directory kept with failed.json', async () => {
    // A grace period longer than the test: the teardown waits for the pretend processes the test ends.
    const { stram, launcher } = await launch({ restart: 'fixed:attempts=1,delay=100ms', shutdownGraceMs: 60_000 });
    const creds = stram.dir.credentials('c2');
    launcher.exit('c2', 1);
    await until(() => launcher.launches('c2') === 2);
    const fake = await connect(creds);
    await fake.heartbeat({ failures: [{ operator: 'count#0', message: 'Error: again', stack: 'Error: again\n    at x', at: Date.now() }] });
    const c1 = await connect(stram.dir.credentials('c1'));
    launcher.exit('c2', 4);
    await until(() => stram.appState === 'failed');
    const reason = 'container c2 failed 2 times; restart strategy fixed:attempts=1,delay=100ms allows 1 restart; last failure: operator count#0 threw Error: again';
    expect(stram.failure).toEqual({ reason, at: expect.any(String) });
    expect(stram.appView()).toMatchObject({ state: 'failed', failure: { reason } });
    // The end is on disk before any process has stopped: a STRAM killed now leaves an app that --recover finishes ending, not resumes.
    expect(JSON.parse(readFileSync(join(stram.dir.stramDir, 'state.json'), 'utf8'))).toMatchObject({ ending: { state: 'failed', reason } });
    expect(stram.dir.readFailed()?.app.failure).toEqual(stram.failure);
    // Heartbeats are answered shutdown; the other containers' processes end.
    expect((await c1.heartbeat()).commands).toEqual([{ c: 'shutdown', reason }]);
    for (const id of ['c1', 'c3', 'c4']) launcher.exit(id);
    await stram.stopped;
    expect(stram.appState).toBe('failed');
    expect(launcher.launches('c2')).toBe(2);
    const dir = stram.dir;
    for (const id of ['c1', 'c2', 'c3', 'c4']) expect(existsSync(dir.credentials(id))).toBe(false);
    for (const gone of [dir.info, dir.webToken, join(dir.stramDir, 'state.json'), lockPath(dir)]) expect(existsSync(gone)).toBe(false);
    expect(existsSync(dir.checkpoints)).toBe(true);
    const report = dir.readFailed()!;
    expect(report.app).toMatchObject({ id: stram.appId, state: 'failed', failure: { reason } });
    expect(report.containers.find((c) => c.id === 'c2')!.failures.map((f) => [f.cause, f.message, f.restartAfterMs])).toEqual([
      ['exited', 'process exited (code 1)', 100],
      ['operator', 'Error: again', null],
    ]);
    expect(statSync(dir.failed).mode & 0o777).toBe(0o600);
    // A FAILED app is not resumed: --recover says why.
    await expect(Stram.recover({ appDir: dir.root, launcher: new NoopLauncher(), logger: silent })).rejects.toMatchObject({ code: 'APP_ENDED', message: expect.stringContaining(`FAILED at ${stram.failure!.at} (${reason})`) });
  });

  it('the strategy none fails the app at the first loss', async () => {
    const { stram, launcher } = await launch({ restart: 'none' });
    launcher.exit('c3', 137);
    await until(() => stram.appState === 'failed');
    expect(stram.failure!.reason).toBe('container c3 failed and the restart strategy is none; last failure: process exited (code 137)');
    expect(launcher.launches('c3')).toBe(1);
  });
});

describe('one STRAM per app directory', () => {
  it('refuses a second launch and a recover into a live STRAM\'s directory, naming it, and touches nothing there', async () => {
    const { stram, dir } = await launch();
    const before = snapshot(stram.dir.root);
    const expected = { code: 'APP_DIR_IN_USE', message: `app dir ${stram.dir.root} is in use by the running STRAM of ${stram.appId} (pid ${process.pid}, REST ${stram.restUrl}); stop it first (sluice shutdown --app-dir ${stram.dir.root}) or use another directory` };
    await expect(Stram.launch({ appModule: writeTestApp(dir, 'pipeline'), appDir: stram.dir.root, launcher: new NoopLauncher(), logger: silent })).rejects.toMatchObject(expected);
    await expect(Stram.recover({ appDir: stram.dir.root, launcher: new NoopLauncher(), logger: silent })).rejects.toMatchObject(expected);
    expect(snapshot(stram.dir.root)).toEqual(before);
  });

  it('holds the lock while it runs and removes it at shutdown', async () => {
    const { stram, launcher } = await launch();
    expect(JSON.parse(readFileSync(lockPath(stram.dir), 'utf8'))).toMatchObject({ pid: process.pid, appId: stram.appId });
    const done = stram.shutdown('test');
    for (const id of ['c1', 'c2', 'c3', 'c4']) launcher.exit(id);
    await done;
    expect(existsSync(lockPath(stram.dir))).toBe(false);
  });

  it('a launcher that cannot start containers fails the launch before anything is written', async () => {
    const dir = tempDir();
    const launcher = new NoopLauncher();
    launcher.check = () => Promise.reject(new Error('no engine'));
    await expect(Stram.launch({ appModule: writeTestApp(dir, 'pipeline'), appDir: join(dir, 'app'), launcher, logger: silent })).rejects.toThrow('no engine');
    expect(existsSync(join(dir, 'app'))).toBe(false);
    expect(launcher.launched).toEqual([]);
  });
});
