import type { Clock, Logger } from '@sluice/common';
import { AppDir, type WebScope } from '@sluice/stram';
import { AppState, GatewayRefusal, RefusalCode, type AppDetail } from './api.js';
import { appState, summaryOf, type AppEntry } from './registry.js';
import { StramTargets, type Target } from './stram-targets.js';

/**
 * Calls an app's STRAM REST API for a caller the gateway has already authorised
 * (docs/security.md "Launching as the caller"). Each call carries a web-service token minted for
 * that app alone (HS256 with the app's own web key, audience the app id, subject the caller,
 * `scope` what the caller may do with that app: view, manage) and living a minute; the gateway
 * never hands it out, and STRAM refuses what its scope does not cover. A STRAM that does not answer is
 * APP_UNREACHABLE with the registry's view of the app. An app's status is one STRAM call
 * (`GET /ws/v1/status`), and where STRAM listens is read once per STRAM (stram-targets.ts).
 */

export interface StramProxyOptions {
  clock: Clock;
  logger: Logger;
  /** How long one proxied call may take. */
  timeoutMs?: number;
}

function unreachable(entry: AppEntry, why: string, status = 503): GatewayRefusal {
  return new GatewayRefusal(status, RefusalCode.appUnreachable, `the STRAM of app ${entry.id} ${why}`, undefined, summaryOf(entry));
}

export class StramProxy {
  private readonly targets: StramTargets;

  constructor(private readonly o: StramProxyOptions) {
    this.targets = new StramTargets(o.clock);
  }

  /** The app with STRAM's status (from failed.json once it FAILED; none once it finished). */
  async status(entry: AppEntry, caller: string, scope: readonly WebScope[]): Promise<AppDetail> {
    const state = appState(entry);
    const summary = summaryOf(entry, state);
    if (state === AppState.finished || state === AppState.failed) this.targets.forget(entry.appDir);
    if (state === AppState.finished) return { ...summary, status: null };
    if (state === AppState.failed) {
      const report = new AppDir(entry.appDir).readFailed();
      return { ...summary, status: report ? { app: report.app, containers: report.containers, operators: report.operators } : null };
    }
    const { app, containers, operators } = await this.call<{ app: Record<string, unknown>; containers: unknown[]; operators: unknown[] }>(entry, await this.target(entry, caller, scope), 'GET', '/ws/v1/status');
    return { ...summary, status: { app, containers, operators } };
  }

  /** Asks the app's STRAM to shut down; it has accepted when this resolves. */
  async shutdown(entry: AppEntry, caller: string, scope: readonly WebScope[]): Promise<void> {
    this.mustRun(entry, 'there is nothing to shut down');
    await this.call(entry, await this.target(entry, caller, scope), 'POST', '/ws/v1/shutdown');
  }

  /** Asks the app's STRAM to replace one container now; STRAM's 404 and 409 come back as NOT_FOUND, APP_NOT_RUNNING, CONTAINER_BUSY. */
  async restartContainer(entry: AppEntry, caller: string, scope: readonly WebScope[], container: string): Promise<void> {
    this.mustRun(entry, 'no container to restart');
    await this.call(entry, await this.target(entry, caller, scope), 'POST', `/ws/v1/containers/${encodeURIComponent(container)}/restart`, (status, body) => {
      const reason = typeof body?.['reason'] === 'string' ? `app ${entry.id}: ${body['reason']}` : `app ${entry.id} refused to restart ${container}`;
      if (status === 404) return new GatewayRefusal(404, RefusalCode.notFound, reason);
      if (status === 409) return new GatewayRefusal(409, body?.['error'] === 'not-running' ? RefusalCode.notRunning : RefusalCode.containerBusy, reason, undefined, summaryOf(entry));
      return undefined;
    });
  }

  /** 409 APP_NOT_RUNNING for an app that has finished or FAILED. */
  private mustRun(entry: AppEntry, why: string): void {
    const state = appState(entry);
    if (state === AppState.finished || state === AppState.failed) {
      throw new GatewayRefusal(409, RefusalCode.notRunning, `app ${entry.id} is ${state}; ${why}`, undefined, summaryOf(entry, state));
    }
  }

  /** Where the app's STRAM listens, and one token for this caller's calls to it. */
  private async target(entry: AppEntry, caller: string, scope: readonly WebScope[]): Promise<Target> {
    try {
      return await this.targets.target(entry.appDir, caller, scope);
    } catch {
      throw unreachable(entry, 'has not said where it listens (no stram.json); it is starting, or gone');
    }
  }

  /** One call; `refusal` turns a STRAM refusal the caller should see (not a fault) into the gateway's. */
  private async call<T>(entry: AppEntry, { rest, token }: Target, method: string, path: string, refusal?: (status: number, body: Record<string, unknown> | undefined) => GatewayRefusal | undefined): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${rest}${path}`, { method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(this.o.timeoutMs ?? 5_000) });
    } catch (err) {
      this.targets.forget(entry.appDir);
      throw unreachable(entry, `at ${rest} is not answering (${(err as Error).message})`);
    }
    const body = (await res.json().catch(() => undefined)) as T | undefined;
    const refused = res.ok ? undefined : refusal?.(res.status, body as Record<string, unknown> | undefined);
    if (refused) throw refused;
    if (!res.ok || body === undefined) {
      this.targets.forget(entry.appDir);
      // STRAM refusing its own app's key would be a bug or a replaced directory: the gateway's log says which.
      this.o.logger.warn({ app: entry.id, path, status: res.status }, 'STRAM refused a proxied call');
      throw unreachable(entry, `answered ${res.status} to ${method} ${path}`, 502);
    }
    return body;
  }
}
