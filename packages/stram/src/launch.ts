import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { AgentTable } from './agent-table.js';
import { AppStores } from './credential-providers/app-stores.js';
import { AppDir, defaultAppDir, newAppId } from './app-dir.js';
import { AppLock } from './app-lock.js';
import { ContainerAgent } from './container-agent.js';
import { newRecord } from './container-table.js';
import { bind, bindChosen, closeListener } from './listener.js';
import { StramMetrics } from './metrics.js';
import { optionName, planModule, resolveOptions, type StramOptions } from './stram-options.js';
import { enterAppDir, issuerFor, keeperFor, launcherFor, newWebKey, openAuthority, openCa, stramUrl, writeWebToken, type Built } from './stram-parts.js';
import type { AppCa } from './root-rotation.js';

/**
 * Builds a STRAM for a new app (`sluice launch APP`): plans it, checks the launcher can start
 * containers, takes the app directory's lock (app-lock.ts) before writing anything there, makes
 * the directory, opens the token authority, binds the umbilical and REST ports, and issues every
 * container's credentials (written 0600 before any process starts). Once the Stram serves, it
 * writes the web token and launches every container. A launch that fails on the way releases the
 * lock and removes the directory if it made it.
 */
export async function buildLaunch(options: StramOptions): Promise<Built> {
  const o = resolveOptions(options);
  const plan = await planModule(o.appModule, o.config);
  const launcher = launcherFor(o);
  await launcher.check();
  const appId = o.appId ?? newAppId(plan.logical.app);
  // Bound before the app directory exists: a chosen port that is in use leaves nothing behind.
  const rest = await bindChosen(o.host, o.restPort, optionName(o, 'restPort'));
  const dir = new AppDir(resolve(o.appDir ?? defaultAppDir(appId)));
  const made = !existsSync(dir.root);
  mkdirSync(dir.root, { recursive: true, mode: 0o700 });
  const lock = AppLock.acquire(dir, appId, o.logger, o.command);
  let stores: AppStores | undefined;
  let ca: AppCa | undefined;
  try {
    enterAppDir(o, appId, dir);
    const { tokens, authority } = await openAuthority(o, appId, dir);
    const metrics = new StramMetrics();
    ca = await openCa(o, appId, dir);
    const umbilical = await bind(o.host, 0, ca?.identity);
    stores = await AppStores.open(o, appId, plan, metrics);
    const issuer = issuerFor(o, appId, dir, plan, authority, stramUrl(o, umbilical), stores, ca);
    // All at once: the token state is then written once for every container (group commit), not
    // once per container with every token so far (quadratic in the app's size).
    const issued = await Promise.all(plan.containers.map((c) => issuer.issue(c.id)));
    const agents = plan.containers.map((c, i) => ContainerAgent.launching(newRecord(plan, c.id, o.clock.now()), dir.credentials(c.id), issued[i]!.credentials));
    const table = new AgentTable(plan, agents);
    const keeper = keeperFor(o, { tokens, authority, metrics, agents: table, issuer, stores });
    const key = newWebKey(dir);
    return {
      parts: { o, appId, dir, lock, plan, tokens, authority, launcher, metrics, agents: table, keeper, committed: 0, umbilical, ca, rest: { listener: rest, key } },
      start: async (stram) => {
        await writeWebToken(o, appId, dir, key);
        stram.publish();
        stram.launchAll();
        stram.run();
      },
    };
  } catch (err) {
    void closeListener(rest);
    ca?.stop();
    // Store credentials issued before the failure are revoked: the app never ran.
    await stores?.credentials?.cancelAll();
    lock.release();
    if (made) rmSync(dir.root, { recursive: true, force: true });
    throw err;
  }
}
