import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SluiceError, type ErrorCode } from '@sluice/common';
import { AppDir, latestAppDir, type ContainerView, type OperatorView, type StramInfo } from '@sluice/stram';

/** How `sluice status` and `sluice shutdown` reach a running STRAM: its stram.json and the user's web token. */
export interface AppClient {
  dir: AppDir;
  info: StramInfo;
  get<T>(path: string): Promise<T>;
  /** `refusals`: the error code a STRAM refusal status (404, 409) is reported as, with STRAM's reason. */
  post<T>(path: string, refusals?: Partial<Record<number, ErrorCode>>): Promise<T>;
}

export function openApp(appDir: string | undefined): AppClient {
  return openDir(new AppDir(resolve(appDir ?? latestAppDir())));
}

function openDir(dir: AppDir): AppClient {
  const info = dir.readInfo();
  let token: string;
  try {
    token = readFileSync(dir.webToken, 'utf8').trim();
  } catch (err) {
    throw new SluiceError('BAD_CONFIG', `cannot read the web token ${dir.webToken}: ${(err as Error).message}`, { cause: err });
  }
  const call = async <T>(method: string, path: string, refusals: Partial<Record<number, ErrorCode>> = {}): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(`${info.rest}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    } catch (err) {
      throw new SluiceError('CONNECTION_CLOSED', `STRAM of ${info.appId} at ${info.rest} is not answering (${(err as Error).message}); is it still running (pid ${info.pid})?`, { cause: err });
    }
    const body = (await res.json().catch(() => ({}))) as { reason?: string; message?: string };
    if (res.status === 401) throw new SluiceError('NOT_ALLOWED', `STRAM refused the web token (${body.reason}): ${body.message ?? ''}`);
    const refused = refusals[res.status];
    if (refused) throw new SluiceError(refused, `STRAM of ${info.appId} refused: ${body.message ?? body.reason ?? res.status}`);
    if (!res.ok) throw new SluiceError('CONNECTION_CLOSED', `STRAM answered ${res.status} to ${method} ${path}: ${body.message ?? body.reason ?? ''}`);
    return body as T;
  };
  return { dir, info, get: (p) => call('GET', p), post: (p, refusals) => call('POST', p, refusals) };
}

export interface AppStatus {
  app: Record<string, unknown>;
  containers: ContainerView[];
  operators: OperatorView[];
}

/**
 * The status of the app in `appDir`: from its STRAM, or — once it FAILED and its STRAM is gone —
 * from the report it left (failed.json, docs/guide.md "Restart strategies").
 */
export async function appStatus(appDir: string | undefined): Promise<AppStatus> {
  const dir = new AppDir(resolve(appDir ?? latestAppDir()));
  const failed = existsSync(dir.info) ? undefined : dir.readFailed();
  return failed ?? fetchStatus(openDir(dir));
}

export async function fetchStatus(client: AppClient): Promise<AppStatus> {
  const [app, c, o] = await Promise.all([
    client.get<Record<string, unknown>>('/ws/v1/app'),
    client.get<{ containers: ContainerView[] }>('/ws/v1/containers'),
    client.get<{ operators: OperatorView[] }>('/ws/v1/operators'),
  ]);
  return { app, containers: c.containers, operators: o.operators };
}
