import { resolve } from 'node:path';
import { SluiceError, readCredentials, tokenFromText, type Credentials, type Logger, type PhysicalPlan } from '@sluice/common';
import { AppStores } from './credential-providers/app-stores.js';
import { AgentTable } from './agent-table.js';
import { AppDir } from './app-dir.js';
import { AppLock } from './app-lock.js';
import { ContainerAgent } from './container-agent.js';
import { newRecord, type ContainerRecord } from './container-table.js';
import { bind, bindChosen, type Listener, type ServedIdentity } from './listener.js';
import { StramMetrics } from './metrics.js';
import { finishEnding } from './teardown.js';
import { loadState, recoveredStores, type RecoverStoreOptions, type SavedState } from './recovery.js';
import { optionName, planModule, resolveOptions, type Resolved, type StramOptions } from './stram-options.js';
import { enterAppDir, issuerFor, keeperFor, launcherFor, newWebKey, openAuthority, openCa, stramUrl, writeWebToken, type Built } from './stram-parts.js';
import type { Launcher } from './launcher.js';

/** What `Stram.recover` takes: any STRAM option (overriding the saved one), the store's parts each optional (recovery.ts recoveredStores). */
export type RecoverOptions = Omit<Partial<StramOptions>, 'postgres'> & RecoverStoreOptions & { appDir: string };

/**
 * Builds a STRAM that resumes an app whose STRAM died (`sluice launch --recover`;
 * docs/architecture.md "Recovery"): the same app id, the options it was launched with (those
 * given now override them; the store settings are saved too, recovery.ts recoveredStores), its keys and tokens (the secret manager reloads `<appDir>/stram`),
 * the umbilical on its old port, and the running containers adopted rather than relaunched. It
 * takes the app directory's lock (app-lock.ts) before it writes anything: a directory whose STRAM
 * still runs is refused, one whose STRAM died (kill -9) has a stale lock, taken over.
 *
 * This is the one place STRAM reads container credentials files back. A STRAM keeps each
 * container's credentials in memory and writes the file through (container-agent.ts); a new
 * STRAM process has only the files to learn what each running container holds — the STRAM token
 * it reconnects with and the secret its buffer server runs with — so it takes them over from
 * there. A container whose file is gone or unreadable is replaced.
 */
export async function buildRecovery(options: RecoverOptions): Promise<Built> {
  const dir = new AppDir(resolve(options.appDir));
  const saved = loadState(dir);
  const { postgres: _given, ...given } = options;
  const o = resolveOptions({
    ...(saved.options as Partial<StramOptions>),
    ...given,
    ...recoveredStores(saved, options),
    appModule: saved.appModule,
    appId: saved.appId,
    appDir: dir.root,
    config: saved.config,
    user: saved.user,
    realUser: saved.realUser ?? '',
    insecure: saved.insecure,
  });
  const appId = saved.appId;
  const plan = await planModule(o.appModule, o.config);
  const launcher = launcherFor(o);
  await launcher.check();
  const lock = AppLock.acquire(dir, appId, o.logger, o.command);
  try {
    if (saved.ending) await finishEnding(dir, { ...saved, ending: saved.ending }, launcher, o.logger);
    return await adoptApp(o, dir, lock, plan, saved, launcher);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function adoptApp(o: Resolved, dir: AppDir, lock: AppLock, plan: PhysicalPlan, saved: SavedState, launcher: Launcher): Promise<Built> {
  const appId = saved.appId;
  enterAppDir(o, appId, dir);
  const { tokens, authority } = await openAuthority(o, appId, dir);
  const metrics = new StramMetrics();
  const ca = await openCa(o, appId, dir);
  const umbilical = await rebind(o, saved.umbilicalPort, ca?.identity);
  const rest = await bindChosen(o.host, o.restPort, optionName(o, 'restPort'));
  const url = stramUrl(o, umbilical);
  const stores = await AppStores.open(o, appId, plan, metrics);
  const issuer = issuerFor(o, appId, dir, plan, authority, url, stores, ca);
  const agents: ContainerAgent[] = [];
  const unrecoverable = new Set<string>();
  for (const c of plan.containers) {
    const record = savedRecord(plan, c.id, saved, o.clock.now());
    if (record.restarts > 0) metrics.containerRestarts.inc({ container: c.id }, record.restarts);
    if (record.requestedRestarts > 0) metrics.containerRestartsRequested.inc({ container: c.id }, record.requestedRestarts);
    const held = heldCredentials(dir, c.id, o.logger);
    if (!held) {
      unrecoverable.add(c.id);
      agents.push(ContainerAgent.launching(record, dir.credentials(c.id), (await issuer.issue(c.id)).credentials));
      continue;
    }
    authority.adopt(tokenFromText(held.stramToken));
    authority.adoptSecret(c.bufferServer, ...adoptedSecrets(held));
    const agent = ContainerAgent.adopted(record, dir.credentials(c.id), held);
    // The old port was taken: the container finds the new URL in its file when it reconnects.
    if (held.stram !== url) agent.note({ stram: url });
    // A recovered STRAM issues new store credentials: adopted containers get them with the rest.
    const heldStores = stores.forContainer(c.id);
    if (heldStores) agent.note({ stores: heldStores });
    agent.resendAll();
    // No rotation under way in the file: the last one ended with the retire noted there, and the
    // retire-secrets that went with it may have died with the old STRAM before its ack. Sent
    // again; a buffer server with nothing to retire ignores it.
    if (!held.bufferServer.previous?.length) agent.send({ c: 'retire-secrets' });
    agents.push(agent);
  }
  const table = new AgentTable(plan, agents);
  const keeper = keeperFor(o, { tokens, authority, metrics, agents: table, issuer, stores });
  const key = newWebKey(dir);
  return {
    parts: { o, appId, dir, lock, plan, tokens, authority, launcher, metrics, agents: table, keeper, committed: saved.committed, umbilical, ca, rest: { listener: rest, key } },
    start: async (stram) => {
      await writeWebToken(o, appId, dir, key);
      stram.publish();
      for (const a of table) {
        if (unrecoverable.has(a.id)) stram.replaceUnrecoverable(a);
        else stram.adopt(a, saved.containers[a.id]?.pid ?? null);
      }
      stram.run();
    },
  };
}

/** The umbilical where the previous STRAM had it (its containers hold that URL), or a new port if that one is taken. */
async function rebind(o: Resolved, port: number, tls: ServedIdentity | undefined): Promise<Listener> {
  if (!port) return bind(o.host, 0, tls);
  try {
    return await bind(o.host, port, tls);
  } catch (err) {
    o.logger.warn({ port, err: (err as Error).message }, 'the previous umbilical port is taken; listening on a new one (containers find it in their credentials files)');
    return bind(o.host, 0, tls);
  }
}

/** The record of container `id` as the previous STRAM saved it. */
function savedRecord(plan: PhysicalPlan, id: string, saved: SavedState, now: number): ContainerRecord {
  const r = newRecord(plan, id, now);
  const s = saved.containers[id];
  r.restarts = s?.restarts ?? 0;
  r.requestedRestarts = s?.requestedRestarts ?? 0;
  r.lastRestart = s?.lastRestart;
  r.restore = s?.restore ?? 0;
  r.bufferServerUrl = s?.bufferServerUrl ?? null;
  // A replaced container's downstreams are told again where its buffer server is: the previous
  // STRAM saved "told" when it queued the re-subscribe, which rides their next heartbeat ack, so
  // it may have died before the command left. Told twice costs a downstream one reconnect (it
  // resumes at its own window); never told, it would subscribe to the dead server for good.
  r.announce = (s?.announce ?? false) || (r.restarts > 0 && r.bufferServerUrl !== null);
  r.deployed = s?.deployed ?? false;
  return r;
}

/** What container `id` holds, from its credentials file; undefined (and why, in the log) when the file is gone or unreadable. */
function heldCredentials(dir: AppDir, id: string, logger: Logger): Credentials | undefined {
  try {
    return readCredentials(dir.credentials(id));
  } catch (err) {
    logger.warn({ container: id, code: err instanceof SluiceError ? err.code : undefined, err: (err as Error).message }, 'no usable credentials file after the STRAM restart; the container will be replaced');
    return undefined;
  }
}

/**
 * The secret to mint tokens for a container's buffer server from, and the one pending, as its
 * file says. A file that still lists `previous` secrets is a rotation the previous STRAM did not
 * finish (docs/architecture.md "Token lifetimes and rotation"): the new secret goes in with
 * `previous` and `previous` comes out only when `retire-secrets` is sent, so the file is the whole
 * record of it and nothing about it needs saving in state.json. Tokens are minted from the old
 * secret again until the owner is known to hold the new one; the credentials keeper resumes the
 * rotation from its first phase (credentials-keeper.ts), which ends with the retire.
 */
export function adoptedSecrets(held: Credentials): [Buffer, Buffer?] {
  const { secret, previous } = held.bufferServer;
  const old = previous?.[0];
  return old === undefined ? [Buffer.from(secret, 'hex')] : [Buffer.from(old, 'hex'), Buffer.from(secret, 'hex')];
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
