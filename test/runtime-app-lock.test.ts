import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContainerView } from '@sluice/stram';
import { WORDCOUNT, pidAlive, runCli, startCli, tempDir, until, type CliProcess } from './helpers/runtime-cli.js';

/**
 * One STRAM per app directory (docs/guide.md "One STRAM per app directory"): a second `launch` or
 * `--recover` into the directory of a live STRAM is refused with one line naming it, and touches
 * nothing there; the lock a STRAM killed with SIGKILL leaves behind — its pid gone, or reused by
 * another process — is taken over by `--recover`.
 */

const WINDOWS = 20;

interface Lock {
  pid: number;
  startTime: string | null;
  appId: string;
}

/** Every file under `root` (but container logs, which containers append to) with its size, mode, mtime and bytes. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name !== 'container.log') {
        const st = statSync(p);
        out[relative(root, p)] = `${st.size} ${(st.mode & 0o777).toString(8)} ${st.mtimeMs} ${readFileSync(p).toString('base64')}`;
      }
    }
  };
  walk(root);
  return out;
}

const said = (stderr: string): string[] => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));

describe('one STRAM per app directory', () => {
  const tmp = tempDir('sluice-lock-');
  const appDir = join(tmp.path, 'app');
  const strams: CliProcess[] = [];
  const pids = new Set<number>();
  let sleeper: ChildProcess | undefined;

  const lock = (): Lock => JSON.parse(readFileSync(join(appDir, 'stram.lock'), 'utf8')) as Lock;
  const info = () => JSON.parse(readFileSync(join(appDir, 'stram.json'), 'utf8')) as { rest: string; pid: number; appId: string };
  const containers = async (): Promise<ContainerView[]> => {
    const token = readFileSync(join(appDir, 'web-token'), 'utf8').trim();
    const res = await fetch(`${info().rest}/ws/v1/containers`, { headers: { authorization: `Bearer ${token}` } });
    const cs = ((await res.json()) as { containers: ContainerView[] }).containers;
    for (const c of cs) if (c.pid) pids.add(c.pid);
    return cs;
  };
  const allRunning = async () => {
    try {
      const cs = await containers();
      return cs.length === 4 && cs.every((c) => c.state === 'running' && c.deployed);
    } catch {
      return false;
    }
  };

  afterAll(async () => {
    for (const s of strams) s.kill('SIGTERM');
    await Promise.all(strams.map((s) => s.exited));
    for (const pid of pids) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    sleeper?.kill('SIGKILL');
    tmp.remove();
  });

  it('refuses a second launch and a --recover into a live STRAM\'s directory with one line naming it; nothing there is touched', async () => {
    // Words in windows 1..20 only and no checkpoints: once the output is complete, the app writes nothing more.
    const args = ['--config', `windows=${WINDOWS}`, '--config', 'tuplesPerWindow=20', '--window', '100ms', '--checkpoint-windows', '1000000', '--log-level', 'warn'];
    strams.push(startCli(['launch', WORDCOUNT, '--app-dir', appDir, ...args], tmp.path));
    await strams[0]!.waitFor(/launched \S+/);
    await until(allRunning);
    await until(() => readdirSync(join(appDir, 'output')).filter((f) => f.startsWith('window-')).length === WINDOWS);
    const first = info();
    expect(lock()).toMatchObject({ pid: first.pid, appId: first.appId, startTime: expect.stringMatching(/^\d+$/) });
    const before = snapshot(appDir);
    const pidsBefore = (await containers()).map((c) => c.pid);

    // The hint names the CLI as the person ran it (here as the repository's ./sluice wrapper would), so it runs as printed.
    const line = `app dir ${appDir} is in use by the running STRAM of ${first.appId} (pid ${first.pid}, REST ${first.rest}); stop it first (./sluice shutdown --app-dir ${appDir}) or use another directory [APP_DIR_IN_USE]`;
    for (const attempt of [['launch', WORDCOUNT, '--app-dir', appDir, ...args], ['launch', '--recover', appDir, '--log-level', 'warn']]) {
      const r = await runCli(attempt, tmp.path, { SLUICE_INVOKED_AS: './sluice' });
      expect(r.code).not.toBe(0);
      expect(said(r.stderr)).toEqual([expect.stringMatching(/^sluice( launch)?: /)]);
      expect(said(r.stderr)[0]!.replace(/^sluice( launch)?: /, '')).toBe(line);
      expect(r.stdout).toBe('');
    }
    expect(snapshot(appDir)).toEqual(before);
    // The first STRAM serves on, with the same containers.
    expect((await containers()).map((c) => c.pid)).toEqual(pidsBefore);
  });

  it('takes over the lock of a STRAM killed with SIGKILL (its pid gone), then one whose pid another process reuses', async () => {
    const killed = info().pid;
    process.kill(killed, 'SIGKILL');
    await until(() => !pidAlive(killed));
    expect(lock().pid).toBe(killed); // left behind
    strams.push(startCli(['launch', '--recover', appDir, '--log-level', 'warn'], tmp.path));
    await strams.at(-1)!.waitFor(/recovered \S+/);
    const second = strams.at(-1)!.child.pid!;
    expect(lock()).toMatchObject({ pid: second, appId: info().appId });
    await until(allRunning);

    // SIGKILL again, and the pid in the lock now belongs to another, live process (a reused pid).
    process.kill(second, 'SIGKILL');
    await until(() => !pidAlive(second));
    sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    writeFileSync(join(appDir, 'stram.lock'), `${JSON.stringify({ ...lock(), pid: sleeper.pid })}\n`);
    strams.push(startCli(['launch', '--recover', appDir, '--log-level', 'warn'], tmp.path));
    await strams.at(-1)!.waitFor(/recovered \S+/);
    expect(lock().pid).toBe(strams.at(-1)!.child.pid);
    await until(allRunning);

    // A clean shutdown removes the lock.
    const stop = await runCli(['shutdown', '--app-dir', appDir], tmp.path);
    expect(stop.code).toBe(0);
    await strams.at(-1)!.exited;
    expect(existsSync(join(appDir, 'stram.lock'))).toBe(false);
  });
});
