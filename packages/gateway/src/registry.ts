import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { SluiceError, readPrivateFile, writeFileAtomic } from '@sluice/common';
import { AppDir, AppLock } from '@sluice/stram';
import { AppPermissions, AppState, type AppSummary } from './api.js';

/**
 * The apps this gateway launched (docs/security.md "The gateway's state"): who owns each, who
 * acts for them, where its app directory is, and whom the owner shared it with. The registry is
 * the one owner of that list; `<state-dir>/apps.json` (0600, atomic writes) is its write-through
 * copy, read once at start, so a restarted gateway knows its apps again. An app's state is never
 * stored: it is read from the app directory each time (the lock, stram.json, failed.json).
 */

export const REGISTRY_FILE = 'apps.json';

const entrySchema = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  realUser: z.string(),
  appDir: z.string(),
  startedAt: z.number(),
  grants: AppPermissions,
});
export type AppEntry = z.infer<typeof entrySchema>;

const fileSchema = z.object({ apps: z.array(entrySchema) });

export class Registry {
  private constructor(
    private readonly path: string,
    private readonly apps: Map<string, AppEntry>,
  ) {}

  static open(stateDir: string): Registry {
    const path = join(stateDir, REGISTRY_FILE);
    const bytes = readPrivateFile(path, { what: 'app registry', code: 'STATE_CORRUPT', missingOk: true });
    if (!bytes) return new Registry(path, new Map());
    let parsed: z.infer<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(bytes.toString('utf8')));
    } catch (err) {
      throw new SluiceError('STATE_CORRUPT', `${path} is not the gateway's app registry (${(err as Error).message.split('\n')[0]}); restore it or move it aside`, { cause: err });
    }
    return new Registry(path, new Map(parsed.apps.map((a) => [a.id, a])));
  }

  list(): AppEntry[] {
    return [...this.apps.values()];
  }

  get(id: string): AppEntry | undefined {
    return this.apps.get(id);
  }

  /** Adds the app, or replaces its entry (a launch names it once its STRAM serves). */
  add(entry: AppEntry): void {
    this.apps.set(entry.id, entry);
    this.save();
  }

  /** Forgets an app whose launch failed. */
  remove(id: string): void {
    if (this.apps.delete(id)) this.save();
  }

  setGrants(id: string, grants: AppPermissions): AppEntry {
    const entry = this.apps.get(id);
    if (!entry) throw new SluiceError('BAD_CONFIG', `no app ${id}`);
    const updated = { ...entry, grants };
    this.apps.set(id, updated);
    this.save();
    return updated;
  }

  private save(): void {
    writeFileAtomic(this.path, `${JSON.stringify({ apps: this.list() }, null, 2)}\n`, 0o600);
  }
}

/**
 * An app's state from its app directory: a live STRAM that has written stram.json is RUNNING;
 * one not started yet (no directory), a live one that has not written it yet, or a dead one that
 * left it behind (killed: its containers may still stream, `sluice launch --recover` resumes it)
 * is UNREACHABLE; otherwise it ended, FAILED when it left failed.json.
 */
export function appState(entry: AppEntry): AppState {
  if (!existsSync(entry.appDir)) return AppState.unreachable;
  const dir = new AppDir(entry.appDir);
  const live = AppLock.liveHolder(dir);
  if (live) return live.rest ? AppState.running : AppState.unreachable;
  if (existsSync(dir.failed)) return AppState.failed;
  if (existsSync(dir.info)) return AppState.unreachable;
  return AppState.finished;
}

export function summaryOf(entry: AppEntry, state: AppState = appState(entry)): AppSummary {
  return { id: entry.id, name: entry.name, owner: entry.owner, realUser: entry.realUser, state, startedAt: entry.startedAt };
}
