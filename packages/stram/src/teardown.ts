import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { SluiceError, type Logger } from '@sluice/common';
import type { AppDir } from './app-dir.js';
import type { ContainerRecord } from './container-table.js';
import type { Launcher } from './launcher.js';
import { statePath, type SavedState } from './recovery.js';

/**
 * The end of an app, shut down or FAILED alike (docs/architecture.md "State on disk"): its
 * processes stopped, then everything that grants access or lets it be resumed removed. Checkpoints,
 * output and container logs stay. state.json says the end has begun before any process is stopped
 * (recovery.ts `markEnding`), so an end cut short is finished by `--recover`, never undone.
 */

const KILL_AFTER_TERM_MS = 2_000;

/** What stopping a container needs of its record. */
type Stoppable = Pick<ContainerRecord, 'id' | 'process' | 'exit'>;

/**
 * Waits for every container process to exit (each was told to shut down with its next
 * heartbeat-ack); after the grace period SIGTERM (a container stops cleanly on it), then SIGKILL
 * for whatever is still there.
 */
export async function stopProcesses(records: readonly Stoppable[], graceMs: number, log: Logger): Promise<void> {
  const all = Promise.all(records.map((r) => r.process?.exited ?? Promise.resolve({ code: null, signal: null })));
  if (!(await Promise.race([all.then(() => false), delay(graceMs).then(() => true)]))) return;
  for (const r of records) {
    if (!r.exit) {
      if (graceMs > 0) log.warn({ container: r.id }, 'container did not exit within the grace period; terminating it');
      r.process?.kill('SIGTERM');
    }
  }
  if (await Promise.race([all.then(() => false), delay(KILL_AFTER_TERM_MS).then(() => true)])) {
    for (const r of records) if (!r.exit) r.process?.kill('SIGKILL');
  }
  await all;
}

/** Credentials (their tokens are cancelled by now), spool files, stram.json, the web token and state.json: a stopped app is not recovered. */
export function removeRuntimeFiles(dir: AppDir, containers: Iterable<string>): void {
  for (const id of containers) {
    rmSync(dir.credentials(id), { force: true });
    rmSync(dir.spool(id), { recursive: true, force: true });
  }
  rmSync(dir.spoolRoot, { recursive: true, force: true });
  rmSync(dir.info, { force: true });
  rmSync(statePath(dir), { force: true });
  rmSync(dir.webToken, { force: true });
}

/**
 * `--recover` of an app whose STRAM died while the app was ending: the end is finished — the
 * containers the state names that still run are stopped (nobody will tell them to: SIGTERM, then
 * SIGKILL), the launcher's leftovers and the runtime files removed — and the recovery refused in
 * one line (APP_ENDED). Its store logins are renewed by nobody and expire; the app's next end drops them.
 */
export async function finishEnding(dir: AppDir, saved: SavedState & { ending: NonNullable<SavedState['ending']> }, launcher: Launcher, log: Logger): Promise<never> {
  const ending = saved.ending;
  const records: Stoppable[] = Object.entries(saved.containers).map(([id, c]) => ({
    id,
    exit: undefined,
    process: launcher.adopt?.({ container: id, credentialsPath: dir.credentials(id), logPath: dir.containerLog(id), app: saved.appId, appDir: dir.root, appModule: resolve(saved.appModule) }, c.pid),
  }));
  // Nothing else keeps this process alive meanwhile: the launcher polls adopted pids on unref'd timers.
  const hold = setInterval(() => undefined, 1_000);
  try {
    await stopProcesses(records, 0, log);
    await launcher.close?.(saved.appId).catch((err: Error) => log.warn({ err: err.message }, 'launcher cleanup failed'));
  } finally {
    clearInterval(hold);
  }
  removeRuntimeFiles(dir, Object.keys(saved.containers));
  log.warn({ app: saved.appId, ending: ending.state, reason: ending.reason, at: ending.at }, 'the app was ending when its STRAM stopped; its end is finished, it is not resumed');
  const was = ending.state === 'failed' ? `FAILED at ${ending.at} (${ending.reason})` : `being shut down at ${ending.at} (${ending.reason})`;
  throw new SluiceError('APP_ENDED', `app ${saved.appId} in ${dir.root} was ${was} when its STRAM stopped; its end is now finished and it is not resumed: launch it anew`);
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
