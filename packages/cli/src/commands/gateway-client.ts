import type { Command } from 'commander';
import { SluiceError } from '@sluice/common';
import {
  ApiRoute,
  RefusalCode,
  apiPath,
  negotiateHeader,
  type AppDetail,
  type AppPermissions,
  type AppSummary,
  type LaunchAnswer,
  type LaunchRequest,
  type LoginAnswer,
  type Refusal,
  type RestartContainerAnswer,
  type ShutdownAnswer,
  type WhoAmI,
} from '@sluice/gateway';
import { flag, principal } from '../flags.js';

/**
 * The CLI's client of a gateway (docs/guide.md "Through a gateway"): `--gateway URL` on launch,
 * status, shutdown, list and whoami. Each command logs in once (POST /api/v1/login with a
 * Kerberos ticket: Negotiate), then makes its calls with the session's bearer token.
 */

export interface GatewayFlags {
  gateway?: string;
  keytab?: string;
  principal?: string;
}

/** How long one call may take before the command gives up with one line. */
const CALL_TIMEOUT_MS = 60_000;

/** `--gateway`, `--keytab`, `--principal`: who to ask and who to be. */
export function addGatewayFlags(cmd: Command, what: string): Command {
  return cmd
    .addOption(flag('--gateway <url>', `${what} through the gateway at this URL (Kerberos: kinit first, or give --keytab and --principal)`))
    .addOption(flag('--keytab <file>', '--gateway: authenticate from this client keytab instead of the ticket cache'))
    .addOption(flag('--principal <principal>', '--gateway: the principal to authenticate as (the one in --keytab, or one in the ticket cache)', { parse: principal }));
}

/** Refuses gateway-only flags on a local command, and local-only flags on a gateway one. */
export function checkGatewayFlags(flags: GatewayFlags & Record<string, unknown>, localOnly: readonly string[]): void {
  if (flags.gateway === undefined) {
    const stray = (['keytab', 'principal'] as const).filter((k) => flags[k] !== undefined);
    if (stray.length > 0) throw new SluiceError('BAD_USAGE', `${stray.map((k) => `--${k}`).join(' and ')} only apply with --gateway <url>`);
    return;
  }
  const stray = localOnly.filter((k) => flags[k] !== undefined && flags[k] !== false);
  if (stray.length > 0) {
    const names = stray.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    throw new SluiceError('BAD_USAGE', `${names.join(', ')} ${stray.length === 1 ? 'does' : 'do'} not apply with --gateway: the gateway chooses them`);
  }
}

export class GatewayClient {
  private constructor(
    readonly url: string,
    private readonly flags: GatewayFlags,
    private token: string,
  ) {}

  /** Logs in with a Kerberos ticket (the cache, or `keytab` as `principal`): one session per command. */
  static async login(flags: GatewayFlags & { gateway: string }): Promise<GatewayClient> {
    const url = flags.gateway.replace(/\/+$/, '');
    return new GatewayClient(url, flags, await session(url, flags));
  }

  whoami(): Promise<WhoAmI> {
    return this.call('GET', apiPath(ApiRoute.whoami));
  }

  apps(): Promise<AppSummary[]> {
    return this.call('GET', apiPath(ApiRoute.apps));
  }

  app(id: string): Promise<AppDetail> {
    return this.call('GET', apiPath(ApiRoute.app, id));
  }

  launch(request: LaunchRequest): Promise<LaunchAnswer> {
    return this.call('POST', apiPath(ApiRoute.apps), request);
  }

  shutdown(id: string): Promise<ShutdownAnswer> {
    return this.call('POST', apiPath(ApiRoute.shutdown, id));
  }

  restartContainer(id: string, container: string): Promise<RestartContainerAnswer> {
    return this.call('POST', apiPath(ApiRoute.restartContainer, id, container));
  }

  permissions(id: string): Promise<AppPermissions> {
    return this.call('GET', apiPath(ApiRoute.permissions, id));
  }

  setPermissions(id: string, grants: AppPermissions): Promise<AppPermissions> {
    return this.call('PUT', apiPath(ApiRoute.permissions, id), grants);
  }

  /**
   * The app `id` names, or else the caller's most recently started one that still runs (as the
   * local commands take the most recent app directory).
   */
  async pick(id: string | undefined): Promise<string> {
    if (id !== undefined) return id;
    const me = (await this.whoami()).principal;
    const mine = (await this.apps()).filter((a) => a.owner === me).sort((a, b) => b.startedAt - a.startedAt);
    const latest = mine.find((a) => a.state === 'RUNNING') ?? mine[0];
    if (!latest) throw new SluiceError('BAD_USAGE', `${me} has no apps at the gateway ${this.url}: give --app <id> (sluice list --gateway ${this.url})`);
    return latest.id;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let answer = await request(this.url, method, path, `Bearer ${this.token}`, body);
    if (answer.status === 401 && (answer.json as Partial<Refusal>).error === RefusalCode.tokenExpired) {
      // A session outlived (status --watch): log in again, once.
      this.token = await session(this.url, this.flags);
      answer = await request(this.url, method, path, `Bearer ${this.token}`, body);
    }
    return answer.ok<T>();
  }
}

async function session(url: string, flags: GatewayFlags): Promise<string> {
  const header = await negotiateHeader(url, {
    ...(flags.keytab !== undefined ? { keytab: flags.keytab } : {}),
    ...(flags.principal !== undefined ? { principal: flags.principal } : {}),
  });
  return (await request(url, 'POST', apiPath(ApiRoute.login), header)).ok<LoginAnswer>().token;
}

interface Reply {
  status: number;
  json: unknown;
  /** The body, or the refusal as one line (GATEWAY_REFUSED with the gateway's code and reason). */
  ok<T>(): T;
}

async function request(url: string, method: string, path: string, authorization: string, body?: unknown): Promise<Reply> {
  let res: Response;
  try {
    res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new SluiceError('CONNECTION_CLOSED', `the gateway at ${url} is not answering (${cause}); is it running, and is the URL right?`, { cause: err });
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SluiceError('CONNECTION_CLOSED', `the gateway at ${url} answered ${method} ${path} with ${res.status} and no JSON: is ${url} a Sluice gateway?`);
  }
  return {
    status: res.status,
    json,
    ok<T>(): T {
      if (res.ok) return json as T;
      const r = json as Partial<Refusal>;
      const permission = r.permission ? ` (needs ${r.permission})` : '';
      throw new SluiceError('GATEWAY_REFUSED', `the gateway refused (${res.status} ${r.error ?? 'no code'}): ${r.reason ?? text.slice(0, 200)}${permission}`);
    },
  };
}
