import { rmSync } from 'node:fs';
import type { Logger } from '@sluice/common';
import type { AgentTable } from './agent-table.js';
import type { AppDir } from './app-dir.js';
import type { ContainerRecord } from './container-table.js';
import { statePath } from './recovery.js';

/**
 * The end of an app, shut down or FAILED alike (docs/architecture.md "State on disk"): its
 * processes stopped, then everything that grants access or lets it be resumed removed. Checkpoints,
 * output and container logs stay.
 */

const KILL_AFTER_TERM_MS = 2_000;

/**
 * Waits for every container process to exit (each was told to shut down with its next
 * heartbeat-ack); after the grace period SIGTERM (a container stops cleanly on it), then SIGKILL
 * for whatever is still there.
 */
export async function stopProcesses(records: readonly ContainerRecord[], graceMs: number, log: Logger): Promise<void> {
  const all = Promise.all(records.map((r) => r.process?.exited ?? Promise.resolve({ code: null, signal: null })));
  if (!(await Promise.race([all.then(() => false), delay(graceMs).then(() => true)]))) return;
  for (const r of records) {
    if (!r.exit) {
      log.warn({ container: r.id }, 'container did not exit within the grace period; terminating it');
      r.process?.kill('SIGTERM');
    }
  }
  if (await Promise.race([all.then(() => false), delay(KILL_AFTER_TERM_MS).then(() => true)])) {
    for (const r of records) if (!r.exit) r.process?.kill('SIGKILL');
  }
  await all;
}

/** Credentials (their tokens are cancelled by now), spool files, stram.json, the web token and state.json: a stopped app is not recovered. */
export function removeRuntimeFiles(dir: AppDir, agents: AgentTable): void {
  for (const a of agents) {
    a.removeFile();
    rmSync(dir.spool(a.id), { recursive: true, force: true });
  }
  rmSync(dir.spoolRoot, { recursive: true, force: true });
  rmSync(dir.info, { force: true });
  rmSync(statePath(dir), { force: true });
  rmSync(dir.webToken, { force: true });
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
