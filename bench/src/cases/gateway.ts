import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { API_PREFIX, negotiateHeader, type AppDetail, type LoginAnswer } from '@sluice/gateway';
import { GATEWAY_LISTENING, GATEWAY_PRINCIPAL, TestRealm, gatewayCommand, gatewayUrl, writeLaunchPolicy } from '@sluice/gateway/testing';
import { AppDir, processAlive, signWebToken } from '@sluice/stram';
import { cpuSeconds, profileArgs, sleep, startNode, startRole, type Role } from '../lib/child.js';
import { cliBuilt, cliPath } from '../lib/servers.js';
import { sideBySide, type Case, type Ctx, type Figure } from '../lib/suite.js';

/**
 * gateway/status-calls and gateway/spnego-logins: a real KDC (TestRealm), a real `sluice
 * gateway`, one demo app it launched for alice, and one load process (roles/http-load.ts) that
 * sends every kind of call with the same client code, 8 in flight.
 */

const ALICE = 'alice@EXAMPLE.TEST';
const CONCURRENCY = 8;
/** A demo app that is alive but nearly idle, so its containers take little of the shared CPU. */
const APP = { app: 'demo', config: { tuplesPerWindow: 1 }, settings: { window: '1s' } };

interface Bed {
  gatewayUrl: string;
  appId: string;
  /** STRAM's REST base URL. */
  rest: string;
  sessionFile: string;
  webTokenFile: string;
  gatewayPid: number;
  stramPid: number;
}

async function json<T>(res: Response, what: string): Promise<T> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** One Negotiate login from the runner, from alice's keytab (the realm's krb5.conf only for this call). */
async function login(realm: TestRealm, url: string): Promise<LoginAnswer> {
  const saved = process.env['KRB5_CONFIG'];
  process.env['KRB5_CONFIG'] = realm.env().KRB5_CONFIG;
  try {
    const authorization = await negotiateHeader(url, { keytab: realm.keytab(ALICE), principal: ALICE });
    return await json<LoginAnswer>(await fetch(`${url}${API_PREFIX}/login`, { method: 'POST', headers: { authorization } }), 'login');
  } finally {
    if (saved === undefined) delete process.env['KRB5_CONFIG'];
    else process.env['KRB5_CONFIG'] = saved;
  }
}

/** Every process the case started, stopped in reverse order; the app by its own shutdown first. */
class Cleanup {
  private readonly steps: (() => Promise<void>)[] = [];
  add(step: () => Promise<void>): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) await step().catch(() => {});
  }
}

async function stopApp(url: string, bearer: string, id: string, pids: number[]): Promise<void> {
  await fetch(`${url}${API_PREFIX}/apps/${id}/shutdown`, { method: 'POST', headers: { authorization: bearer } }).catch(() => {});
  for (let i = 0; i < 150 && pids.some(processAlive); i++) await sleep(100);
  for (const pid of pids.filter(processAlive)) process.kill(pid, 'SIGKILL');
}

async function setUp(ctx: Ctx, cleanup: Cleanup): Promise<{ bed: Bed; load: Role }> {
  const realm = await TestRealm.start({ dir: ctx.tmp, principals: ['alice', GATEWAY_PRINCIPAL] });
  cleanup.add(() => realm.stop());
  const ccache = join(realm.dir, 'alice.ccache');
  await realm.kinit('alice', ccache);
  const stateDir = join(ctx.tmp, 'gateway-state');
  const command = gatewayCommand(realm, stateDir, ['--policy', writeLaunchPolicy(join(ctx.tmp, 'gateway-policy.yaml'))]);
  const gateway = startNode('gateway', cliPath(ctx), command.args, { readyLine: GATEWAY_LISTENING, env: command.env, cwd: ctx.tmp, timeoutMs: 60 * 60_000, nodeArgs: profileArgs(ctx.profileDir, 'gateway') });
  cleanup.add(() => gateway.stop());
  const load = startRole('http-load', [], { env: { ...realm.env(), KRB5CCNAME: `FILE:${ccache}` }, timeoutMs: 60 * 60_000, nodeArgs: profileArgs(ctx.profileDir, 'http-load') });
  cleanup.add(() => load.stop());
  const url = gatewayUrl((((await gateway.ready)['match'] as RegExpMatchArray)[1])!);
  await load.ready;

  const session = await login(realm, url);
  const bearer = `Bearer ${session.token}`;
  const { id } = await json<{ id: string }>(await fetch(`${url}${API_PREFIX}/apps`, { method: 'POST', headers: { authorization: bearer, 'content-type': 'application/json' }, body: JSON.stringify(APP) }), 'launch');
  const dir = new AppDir(join(stateDir, 'apps', id));
  const pids = new Set<number>([dir.readInfo().pid]);
  cleanup.add(() => stopApp(url, bearer, id, [...pids]));
  for (let i = 0; ; i++) {
    const detail = await json<AppDetail>(await fetch(`${url}${API_PREFIX}/apps/${id}`, { headers: { authorization: bearer } }), 'app status');
    const containers = (detail.status?.containers ?? []) as { pid: number | null; state: string }[];
    for (const c of containers) if (c.pid) pids.add(c.pid);
    if (containers.length > 0 && containers.every((c) => c.state === 'running')) break;
    if (i === 300) throw new Error(`app ${id} not running after 30 s: ${JSON.stringify(containers.map((c) => c.state))}`);
    await sleep(100);
  }

  const { rest, appId } = dir.readInfo();
  const webKey = Buffer.from(readFileSync(dir.webKey, 'utf8').trim(), 'hex');
  const webToken = await signWebToken(webKey, { app: appId, user: ALICE, now: Date.now(), ttlMs: 60 * 60_000 });
  const sessionFile = join(ctx.tmp, 'gateway-session');
  const webTokenFile = join(ctx.tmp, 'stram-web-token');
  writeFileSync(sessionFile, session.token, { mode: 0o600 });
  writeFileSync(webTokenFile, webToken, { mode: 0o600 });
  return { bed: { gatewayUrl: url, appId: id, rest, sessionFile, webTokenFile, gatewayPid: gateway.pid, stramPid: dir.readInfo().pid }, load };
}

interface Measured {
  rate: number;
  /** CPU (user + system, every thread: GSSAPI runs off the main one) of each server process per call answered, in µs. */
  cpuUs: number[];
}

/** Calls/s from the load process, and what each server process spent per call meanwhile. */
async function measure(load: Role, servers: number[], run: { url: string; method: string; auth: string; durationMs: number }): Promise<Measured> {
  const before = servers.map(cpuSeconds);
  load.send({ run: { ...run, concurrency: CONCURRENCY } });
  const r = await load.nextResult();
  // The warm-up calls before the timed ones are in the CPU span too: count them.
  const calls = Number(r['calls']) + Number(r['warmupCalls']);
  return { rate: Number(r['rate']), cpuUs: servers.map((pid, k) => ((cpuSeconds(pid) - before[k]!) * 1e6) / calls) };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

export const gatewayCase: Case = {
  name: 'gateway',
  skip: (ctx) => TestRealm.unavailable() ?? cliBuilt(ctx),
  runs: (ctx) => (ctx.quick ? 3 : 5),
  async open(ctx) {
    const cleanup = new Cleanup();
    let bed: Bed;
    let load: Role;
    try {
      ({ bed, load } = await setUp(ctx, cleanup));
    } catch (err) {
      await cleanup.run();
      throw err;
    }
    const durationMs = ctx.quick ? 500 : 3000;
    const session = `bearer:${bed.sessionFile}`;
    const api = `${bed.gatewayUrl}${API_PREFIX}`;
    return {
      async run(i) {
        const servers = [bed.gatewayPid, bed.stramPid];
        const [viaGateway, direct] = await sideBySide(
          i,
          () => measure(load, servers, { url: `${api}/apps/${bed.appId}`, method: 'GET', auth: session, durationMs }),
          () => measure(load, servers, { url: `${bed.rest}/ws/v1/app`, method: 'GET', auth: `bearer:${bed.webTokenFile}`, durationMs }),
        );
        const [logins, whoami] = await sideBySide(
          i,
          () => measure(load, [bed.gatewayPid], { url: `${api}/login`, method: 'POST', auth: `negotiate:${bed.gatewayUrl}`, durationMs }),
          () => measure(load, [bed.gatewayPid], { url: `${api}/whoami`, method: 'GET', auth: session, durationMs }),
        );
        const cpuFigure = (name: string, value: Measured, baseline: Measured, baselineLabel: string): Figure => ({
          name,
          unit: 'µs CPU per call',
          better: 'lower',
          value: sum(value.cpuUs),
          baseline: sum(baseline.cpuUs),
          baselineLabel,
          extra: { gatewayUs: value.cpuUs[0]!, stramUs: value.cpuUs[1] ?? null, baselineGatewayUs: baseline.cpuUs[0]!, baselineStramUs: baseline.cpuUs[1] ?? null },
        });
        const figures: Figure[] = [
          {
            name: 'gateway/status-calls',
            unit: 'calls/s',
            better: 'higher',
            value: viaGateway.rate,
            baseline: direct.rate,
            baselineLabel: `GET /ws/v1/app on the app's STRAM REST with its web token, ${CONCURRENCY} in flight`,
          },
          cpuFigure('gateway/status-calls/server-cpu', viaGateway, direct, "gateway + STRAM CPU per direct GET /ws/v1/app (STRAM's alone)"),
          {
            name: 'gateway/spnego-logins',
            unit: 'logins/s',
            better: 'higher',
            value: logins.rate,
            baseline: whoami.rate,
            baselineLabel: `Bearer GET /api/v1/whoami on the same gateway, ${CONCURRENCY} in flight`,
          },
          cpuFigure('gateway/spnego-logins/gateway-cpu', logins, whoami, "the gateway's CPU per Bearer whoami"),
        ];
        return figures;
      },
      close: () => cleanup.run(),
    };
  },
};
