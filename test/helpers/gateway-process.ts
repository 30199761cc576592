import { readFileSync } from 'node:fs';
import { processAlive } from '@sluice/stram';
import { join } from 'node:path';
import { importJWK, SignJWT, type JWK } from 'jose';
import { KEYS_FILE, SESSION_AUDIENCE, SESSION_ISSUER, negotiateHeader } from '@sluice/gateway';
import { GATEWAY_LISTENING, gatewayCommand, gatewayUrl, type TestRealm } from '@sluice/gateway/testing';
import { startCli, until, type CliProcess } from './runtime-cli.js';

/** A real `sluice gateway` process on a test realm, and a client that speaks to it as a person. */

export { GATEWAY_PRINCIPAL, writeLaunchPolicy } from '@sluice/gateway/testing';

export interface GatewayRun {
  cli: CliProcess;
  /** `http://localhost:<port>`: the host name its service principal names. */
  url: string;
  pid: number;
}

export async function startGateway(realm: TestRealm, stateDir: string, cwd: string, args: string[] = []): Promise<GatewayRun> {
  const command = gatewayCommand(realm, stateDir, args);
  const cli = startCli(command.args, cwd, command.env);
  const m = await cli.waitFor(GATEWAY_LISTENING);
  return { cli, url: gatewayUrl(m[1]!), pid: cli.child.pid! };
}

export interface Answer<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

/** How a request authenticates: a fresh Negotiate token from a user's ticket cache, a header as given, a session cookie, or nothing. */
export type Auth = { user: string } | { authorization: string } | { cookie: string; csrf?: string } | 'none';

export class GatewayClient {
  /** Every response body seen, for the test that no secret ever appears in one. */
  readonly bodies: string[] = [];

  constructor(
    public url: string,
    private readonly caches: Record<string, string>,
  ) {}

  /** `Authorization: Negotiate ...` for `user` from their ticket cache (GSSAPI reads KRB5CCNAME). */
  async negotiate(user: string, url = this.url): Promise<string> {
    process.env['KRB5CCNAME'] = `FILE:${this.caches[user]}`;
    return negotiateHeader(url);
  }

  async call<T = any>(method: string, path: string, auth: Auth, body?: unknown): Promise<Answer<T>> {
    const headers: Record<string, string> = {};
    if (auth !== 'none') {
      if ('user' in auth) headers['authorization'] = await this.negotiate(auth.user);
      else if ('authorization' in auth) headers['authorization'] = auth.authorization;
      else {
        headers['cookie'] = `sluice_session=${auth.cookie}`;
        if (auth.csrf !== undefined) headers['x-csrf-token'] = auth.csrf;
      }
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.url}${path}`, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
    const text = await res.text();
    this.bodies.push(text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as T, text, headers: res.headers };
  }

  /** The gateway's /metrics value of `name{labels}` (0 when absent). */
  async metric(name: string, labels: string): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const series = labels === '' ? name : `${name}{${labels}}`;
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }
}

/**
 * A session token signed with the gateway's own current key (read from its state dir, as an
 * administrator could) with claims of the test's choosing: how a test gets an expired one.
 */
export async function signWithGatewayKey(stateDir: string, claims: { sub: string; exp: number; iat: number }): Promise<string> {
  const { keys } = JSON.parse(readFileSync(join(stateDir, KEYS_FILE), 'utf8')) as { keys: { kid: string; retiredAt?: number; jwk: JWK }[] };
  const key = keys.find((k) => k.retiredAt === undefined)!;
  return new SignJWT({ csrf: 'x' })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid })
    .setIssuer(SESSION_ISSUER)
    .setAudience(SESSION_AUDIENCE)
    .setSubject(claims.sub)
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp)
    .sign(await importJWK(key.jwk, 'ES256'));
}

/** A gateway test's teardown: the gateway killed, the app it launched stopped (if any), the realm's environment removed, the KDC stopped. */
export async function stopGatewayTest(gw: GatewayRun | undefined, stateDir: string, app: string | undefined, realm: TestRealm | undefined): Promise<void> {
  gw?.cli.kill('SIGKILL');
  await gw?.cli.exited;
  try {
    const { pid } = JSON.parse(readFileSync(join(stateDir, 'apps', app!, 'stram.json'), 'utf8')) as { pid: number };
    if (processAlive(pid)) process.kill(pid, 'SIGTERM');
    await until(() => !processAlive(pid));
  } catch {
    // no app was launched, or it has stopped
  }
  for (const k of ['KRB5CCNAME', 'KRB5_CONFIG', 'KRB5_KDC_PROFILE']) delete process.env[k];
  await realm?.stop();
}
