import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  SluiceError,
  decodeIdentifier,
  deployFor,
  tokenFromText,
  writeFileAtomic,
  type Command,
  type Credentials,
  type PhysicalContainer,
  type PhysicalPlan,
} from '@sluice/common';
import type { AppDir } from './app-dir.js';
import type { ContainerAgent } from './container-agent.js';

/**
 * Recovery (docs/architecture.md "Recovery", "State on disk"), the parts that are pure
 * bookkeeping: what STRAM persists to resume after it is killed, and which commands a replaced
 * container's neighbours need. Apex's StreamingContainerManager is the model: a replacement
 * restores from the committed window, so every downstream operator (which has checkpointed at
 * least that far) can replay from it, and upstream buffer servers still hold every window after it.
 */

/** What STRAM knows of one container, enough to find it again after a STRAM restart. */
export interface SavedContainer {
  pid: number | null;
  bufferServerUrl: string | null;
  deployed: boolean;
  restarts: number;
  /** Of those, the restarts asked for over REST, and the latest replacement (absent in a state.json from before they were kept). */
  requestedRestarts?: number;
  lastRestart?: { cause: string; at: number };
  /** Replaced, and its downstream containers not yet told where its buffer server now is. */
  announce: boolean;
  /** The window its operators restore from (0 = fresh start). */
  restore: number;
  /** Sequence numbers of its STRAM token and subscribe tokens (information; the tokens are in its credentials file). */
  stramSeq: number | null;
  subscribeSeqs: Record<string, number>;
}

/** `<appDir>/stram/state.json` (0600, no secrets): rewritten atomically on every change that matters. */
export interface SavedState {
  version: 1;
  appId: string;
  appModule: string;
  user: string;
  /** Who launched the app for `user` (a gateway), or empty; older state files have none. */
  realUser?: string;
  insecure: boolean;
  config: Record<string, unknown>;
  /** The primitive STRAM options it was launched with (timeouts, window, host…; checkpointStore and the store lifetimes among them). */
  options: Record<string, string | number | boolean>;
  /** Its PostgreSQL server and privileged role (docs/stores.md): the URL (no password) and the password file's absolute path, never the password. */
  postgres?: { url: string; passwordFile: string };
  /** The umbilical's port: a recovered STRAM listens there again so containers find it at the URL they hold. */
  umbilicalPort: number;
  /** Set when the app began to end (shutdown or FAILED): an app that was ending is never resumed (teardown.ts). */
  ending?: Ending;
  committed: number;
  containers: Record<string, SavedContainer>;
}

/** The state of an app and its containers as `state.json` holds it; token sequence numbers from what each agent holds. */
export function savedState(
  app: Pick<SavedState, 'appId' | 'appModule' | 'user' | 'realUser' | 'insecure' | 'config' | 'options' | 'postgres'>,
  umbilicalPort: number,
  committed: number,
  agents: Iterable<ContainerAgent>,
): SavedState {
  const containers: SavedState['containers'] = {};
  for (const a of agents) {
    const r = a.record;
    const seqs = tokenSeqs(a.credentials);
    containers[r.id] = { pid: r.process?.pid ?? null, bufferServerUrl: r.bufferServerUrl, deployed: r.deployed, restarts: r.restarts, requestedRestarts: r.requestedRestarts, ...(r.lastRestart ? { lastRestart: r.lastRestart } : {}), announce: r.announce, restore: r.restore, stramSeq: seqs.stram, subscribeSeqs: seqs.subscribe };
  }
  return { version: 1, ...app, umbilicalPort, committed, containers };
}

/** How the app was ending when its last STRAM wrote state.json. */
export interface Ending {
  state: 'stopped' | 'failed';
  reason: string;
  /** ISO time the end began. */
  at: string;
}

/**
 * Teardown has begun: state.json says so before any process is stopped, so a STRAM killed in the
 * middle of it (a second Ctrl-C, `docker stop`'s SIGKILL) leaves an app `--recover` finishes
 * ending instead of resuming.
 */
export function markEnding(dir: AppDir, ending: Ending): void {
  const path = statePath(dir);
  if (!existsSync(path)) return;
  const state = JSON.parse(readFileSync(path, 'utf8')) as SavedState;
  saveState(dir, { ...state, ending });
}

export function statePath(dir: AppDir): string {
  return join(dir.stramDir, 'state.json');
}

export function saveState(dir: AppDir, state: SavedState): void {
  writeFileAtomic(statePath(dir), `${JSON.stringify(state)}\n`, 0o600);
}

export function loadState(dir: AppDir): SavedState {
  const path = statePath(dir);
  if (!existsSync(path)) {
    const failed = dir.readFailed();
    if (failed) {
      throw new SluiceError('APP_ENDED', `app ${failed.app.id} in ${dir.root} FAILED at ${failed.app.failure.at} (${failed.app.failure.reason}); a FAILED app is not resumed: launch it anew`);
    }
    // Keys but no state: an app that was shut down (its end removes state.json, keeps stram/).
    if (existsSync(dir.stramDir)) throw new SluiceError('APP_ENDED', `the app in ${dir.root} was shut down; a stopped app is not resumed: launch it anew`);
    throw new SluiceError('BAD_CONFIG', `${dir.root} holds no STRAM state to recover (${path} is missing); launch the app instead`);
  }
  let state: SavedState;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as SavedState;
  } catch (err) {
    throw new SluiceError('STATE_CORRUPT', `${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (state.version !== 1 || typeof state.appId !== 'string' || typeof state.containers !== 'object') {
    throw new SluiceError('STATE_CORRUPT', `${path} is not a STRAM state file of version 1`);
  }
  return state;
}

/** The primitive-valued options, the part of StramOptions that can be saved and given back. */
export function primitiveOptions(options: object): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(options)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  return out;
}

/**
 * The store settings a recovered STRAM runs with (docs/stores.md "A STRAM restart"): those the app
 * was launched with, from state.json. Given again they must agree on where the app's data is (the
 * PostgreSQL server, role and database; where checkpoints go): a recovery cannot move them, so a
 * disagreement is refused (BAD_USAGE). A password file or lifetime given again replaces the saved
 * one, as every other STRAM setting does.
 */
export function recoveredStores(saved: SavedState, given: RecoverStoreOptions): { postgres?: { url: string; passwordFile: string } } {
  const before = saved.postgres;
  const where = typeof saved.options['checkpointStore'] === 'string' ? saved.options['checkpointStore'] : 'file';
  if (given.checkpointStore !== undefined && given.checkpointStore !== where) {
    throw new SluiceError('BAD_USAGE', `app ${saved.appId} was launched with checkpoints in ${where}; --recover cannot move them to ${given.checkpointStore} (leave --checkpoint-store out: the saved setting is used)`);
  }
  const url = given.postgres?.url;
  if (url !== undefined && before && !sameServer(url, before.url)) {
    throw new SluiceError('BAD_USAGE', `app ${saved.appId} was launched with PostgreSQL ${before.url}, not ${url}; --recover keeps its store (leave --postgres out: the saved one is used)`);
  }
  const postgres = { url: url ?? before?.url, passwordFile: given.postgres?.passwordFile ?? before?.passwordFile };
  if (postgres.url === undefined && postgres.passwordFile === undefined) return {};
  if (postgres.url === undefined) throw new SluiceError('BAD_USAGE', `app ${saved.appId} was launched without PostgreSQL: --postgres-password-file does not apply`);
  if (postgres.passwordFile === undefined) throw new SluiceError('BAD_USAGE', '--postgres needs --postgres-password-file (the role password, in a 0600 file)');
  return { postgres: { url: postgres.url, passwordFile: postgres.passwordFile } };
}

/** The store settings `sluice launch --recover` may give again; each part may be left out (the saved one is used). */
export interface RecoverStoreOptions {
  postgres?: { url?: string; passwordFile?: string };
  checkpointStore?: 'file' | 'postgres';
}

/** Whether two postgres:// URLs name the same server, database and role (spelling aside). */
function sameServer(a: string, b: string): boolean {
  const norm = (u: string): string => {
    try {
      const url = new URL(u);
      return `${url.username}@${url.hostname}:${url.port || '5432'}${url.pathname}`;
    } catch {
      return u;
    }
  };
  return norm(a) === norm(b);
}

/** Sequence numbers of the tokens a credentials file holds: the STRAM token's and one per upstream buffer server. */
export function tokenSeqs(c: Readonly<Credentials> | undefined): { stram: number | null; subscribe: Record<string, number> } {
  if (!c) return { stram: null, subscribe: {} };
  const subscribe: Record<string, number> = {};
  for (const [bs, text] of Object.entries(c.subscribe)) subscribe[bs] = decodeIdentifier(tokenFromText(text).identifier).sequenceNumber;
  return { stram: decodeIdentifier(tokenFromText(c.stramToken).identifier).sequenceNumber, subscribe };
}

/**
 * The `resubscribe` commands container `downstream` needs once `upstream`'s replacement listens at
 * `url`: one per input of its operators that reads from that buffer server, from `window` (the
 * first window the replacement publishes). Partition filters are deployFor's, so a resubscription
 * asks for exactly what the original subscription did.
 */
export function resubscribesFor(plan: PhysicalPlan, downstream: string, upstream: PhysicalContainer, url: string, window: number): Command[] {
  // deployFor wants every upstream's URL; only `upstream`'s matters here.
  const urls = new Map(plan.containers.map((c) => [c.id, c.id === upstream.id ? url : '']));
  const commands: Command[] = [];
  for (const op of deployFor(plan, downstream, urls)) {
    for (const input of op.inputs) {
      for (const up of input.upstreams) {
        if (up.bufferServer === upstream.bufferServer) commands.push({ c: 'resubscribe', operator: op.id, port: input.port, upstream: up, window });
      }
    }
  }
  return commands;
}
