import { resolve } from 'node:path';
import { StramSecretManager, advertisedUrl, derToPem, generateSecret, writeFileAtomic, type PhysicalPlan } from '@sluice/common';
import type { AgentTable } from './agent-table.js';
import type { AppDir } from './app-dir.js';
import type { AppLock } from './app-lock.js';
import { InsecureDelegationTokens, StramAuthority } from './authority.js';
import type { ContainerAgent } from './container-agent.js';
import { CredentialsIssuer } from './credentials-issuer.js';
import { CredentialsKeeper } from './credentials-keeper.js';
import type { AppStores } from './credential-providers/app-stores.js';
import { LocalLauncher, type Launcher } from './launcher.js';
import type { Listener } from './listener.js';
import type { StramMetrics } from './metrics.js';
import { signWebToken } from './rest.js';
import { openAppCa, type AppCa } from './root-rotation.js';
import { INSECURE_WARNING, type Resolved, type TokenStore } from './stram-options.js';

/**
 * What a STRAM is made of, and the assembly steps launch.ts and recover.ts share. Everything is
 * built before the Stram object, which gets it complete (no part is set later).
 */

export interface StramParts {
  o: Resolved;
  appId: string;
  dir: AppDir;
  /** Held from before anything was written to `dir` until the app has stopped. */
  lock: AppLock;
  plan: PhysicalPlan;
  tokens: TokenStore;
  authority: StramAuthority;
  launcher: Launcher;
  metrics: StramMetrics;
  agents: AgentTable;
  keeper: CredentialsKeeper;
  /** The committed window to start from (0, or what a recovered STRAM saved). */
  committed: number;
  /** Bound, not yet serving (listener.ts): the Stram attaches the umbilical and REST to them. */
  umbilical: Listener;
  /** The app CA and STRAM's own certificate, under TLS. */
  ca: AppCa | undefined;
  rest: { listener: Listener; key: Uint8Array };
}

/** What a builder does with the Stram it built, once it serves. */
export interface Starting {
  /** Writes stram.json (where STRAM listens; how `sluice status` finds it). */
  publish(): void;
  launchAll(): void;
  adopt(agent: ContainerAgent, pid: number | null): void;
  replaceUnrecoverable(agent: ContainerAgent): void;
  /** Saves the state and starts the heartbeat watch and the renewals. */
  run(): void;
}

export interface Built {
  parts: StramParts;
  start(stram: Starting): Promise<void>;
}

/** The token store (secret manager, or the insecure one), running, and the authority over it. */
/**
 * Makes the app directory's layout and starts the app's log there (StramOptions.logFile): from
 * here on every line names the app, and an insecure app says so first.
 */
export function enterAppDir(o: Resolved, appId: string, dir: AppDir): void {
  dir.create();
  o.logFile?.(dir.stramLog);
  o.logger = o.logger.child({ app: appId });
  if (o.insecure) o.logger.warn(INSECURE_WARNING);
}

export async function openAuthority(o: Resolved, appId: string, dir: AppDir): Promise<{ tokens: TokenStore; authority: StramAuthority }> {
  const store: TokenStore = o.insecure
    ? new InsecureDelegationTokens(o.clock, o.maxLifetimeMs)
    : await StramSecretManager.open({
        app: appId,
        stateDir: dir.stramDir,
        clock: o.clock,
        keyUpdateIntervalMs: o.keyUpdateIntervalMs,
        renewIntervalMs: o.renewIntervalMs,
        maxLifetimeMs: o.maxLifetimeMs,
        removalScanIntervalMs: o.removalScanIntervalMs,
        logger: o.logger,
      });
  const tokens = o.wrapTokenStore ? o.wrapTokenStore(store) : store;
  // Master key rolls and the expired-token scan (docs/architecture.md "Token lifetimes and rotation").
  tokens.start?.();
  const authority = new StramAuthority({ app: appId, tokens, clock: o.clock, owner: o.user, realUser: o.realUser, bufferTokenTtlMs: o.maxLifetimeMs, insecure: o.insecure });
  return { tokens, authority };
}

export function launcherFor(o: Resolved): Launcher {
  return o.launcher ?? new LocalLauncher({ entry: o.containerEntry!, logger: o.logger, ...(o.containerLogLevel ? { logLevel: o.containerLogLevel } : {}) });
}

/** The umbilical URL containers are given: `host` replaced by advertiseHost (a listener on a wildcard address is reached by another name). */
export function stramUrl(o: Resolved, umbilical: Listener): string {
  return advertisedUrl(`${umbilical.tls ? 'wss' : 'ws'}://${umbilical.host}:${umbilical.port}`, o.advertiseHost);
}

/** Under TLS, the app CA (made on first use, reloaded on `--recover`) and the certificate STRAM serves; undefined without. */
export async function openCa(o: Resolved, appId: string, dir: AppDir): Promise<AppCa | undefined> {
  return o.tls ? openAppCa(o, dir.stramDir, appId) : undefined;
}

export function issuerFor(o: Resolved, appId: string, dir: AppDir, plan: PhysicalPlan, authority: StramAuthority, url: string, stores?: AppStores, ca?: AppCa): CredentialsIssuer {
  const template = {
    app: appId,
    stramUrl: url,
    appModule: resolve(o.appModule),
    appDir: dir.root,
    config: o.config,
    settings: {
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      heartbeatTimeoutMs: o.heartbeatTimeoutMs,
      stramLossTimeoutMs: o.stramLossTimeoutMs,
      maxLifetimeMs: o.maxLifetimeMs,
      windowMs: o.windowMs,
      checkpointWindows: o.checkpointWindows,
      insecure: o.insecure,
      ...(o.tls ? { tls: true } : {}),
      ...(o.containerBindHost ? { bindHost: o.containerBindHost } : {}),
      ...(o.checkpointStore === 'postgres' ? { checkpointStore: 'postgres' as const } : {}),
    },
  };
  return new CredentialsIssuer(plan, authority, template, { stores: (id) => stores?.forContainer(id), ...(ca ? { caRoots: () => ca.ca.rootsDer().map((r) => derToPem(r)) } : {}) });
}

export function keeperFor(o: Resolved, p: { tokens: TokenStore; authority: StramAuthority; metrics: StramMetrics; agents: AgentTable; issuer: CredentialsIssuer; stores?: AppStores }): CredentialsKeeper {
  p.stores?.attach(p.agents);
  return new CredentialsKeeper({
    agents: p.agents,
    issuer: p.issuer,
    authority: p.authority,
    logger: o.logger,
    clock: o.clock,
    metrics: p.metrics,
    renew: p.tokens.renew?.bind(p.tokens),
    ...(p.stores?.credentials ? { stores: p.stores.credentials } : {}),
    ...(o.renewalPolicy ? { policy: o.renewalPolicy } : {}),
  });
}

/** A fresh REST key (0600, in the STRAM directory); the web token signed with it is written once the REST API serves. */
export function newWebKey(dir: AppDir): Uint8Array {
  const key = generateSecret();
  writeFileAtomic(dir.webKey, `${key.toString('hex')}\n`);
  return key;
}

/** The launching user's web token (0600): what `sluice status` and the REST API's clients present. */
export async function writeWebToken(o: Resolved, appId: string, dir: AppDir, key: Uint8Array): Promise<void> {
  writeFileAtomic(dir.webToken, `${await signWebToken(key, { app: appId, user: o.user, now: o.clock.now(), ttlMs: o.webTokenTtlMs })}\n`);
}
