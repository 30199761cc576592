import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppDir, processAlive } from '@sluice/stram';
import type { AppSummary, WhoAmI } from '@sluice/gateway';
import { TestRealm } from '@sluice/gateway/testing';
import { GATEWAY_PRINCIPAL as GW, startGateway, writeLaunchPolicy } from './helpers/gateway-process.js';
import { runCli, startCli, tempDir, until, type CliProcess, type CliResult } from './helpers/runtime-cli.js';

/**
 * The CLI through a gateway, end to end: a real KDC, a real `sluice gateway` with its keytab,
 * and `sluice launch | list | status | whoami | shutdown --gateway` as real processes, each
 * person with their own ticket cache. Access is the gateway's: bob cannot stop alice's app.
 */

const why = TestRealm.unavailable();

describe.skipIf(why)(`sluice --gateway: the CLI as a Kerberos client${why ? ` (skipped: ${why})` : ''}`, () => {
  const tmp = tempDir('sluice-gwcli-');
  const stateDir = join(tmp.path, 'gateway');
  let realm: TestRealm;
  let gateway: CliProcess;
  let url: string;
  let appId: string;

  const cc = (who: string): string => `FILE:${join(tmp.path, `${who}.ccache`)}`;
  const as = (who: string, args: string[]): Promise<CliResult> => runCli([...args, '--gateway', url], tmp.path, { ...realm.env(), KRB5CCNAME: cc(who) });

  beforeAll(async () => {
    realm = await TestRealm.start({ principals: ['alice', 'bob', GW] });
    await realm.kinit('alice', cc('alice'));
    await realm.kinit('bob', cc('bob'));
    // Sessions of 3 s: a command that runs longer (status --watch) must log in again.
    ({ cli: gateway, url } = await startGateway(realm, stateDir, tmp.path, ['--token-ttl', '3s', '--policy', writeLaunchPolicy(join(tmp.path, 'policy.yaml'))]));
  });

  afterAll(async () => {
    gateway?.kill();
    await gateway?.exited;
    // An app a failed test left running: stop its STRAM (it stops its containers).
    const apps = join(stateDir, 'apps');
    for (const id of existsSync(apps) ? readdirSync(apps) : []) {
      const dir = new AppDir(join(apps, id));
      if (!existsSync(dir.info)) continue;
      const { pid } = dir.readInfo();
      if (processAlive(pid)) process.kill(pid, 'SIGTERM');
      await until(() => !processAlive(pid));
    }
    await realm?.stop();
    tmp.remove();
  });

  it('alice launches the demo through the gateway', async () => {
    const r = await as('alice', ['launch', 'demo']);
    expect(r.code, r.stderr).toBe(0);
    appId = /^launched (\S+) through /m.exec(r.stdout)![1]!;
    expect(r.stdout).toContain(`owner:    alice@EXAMPLE.TEST (via ${GW})`);
  });

  it('sluice list shows the app with alice as its owner; bob does not see it', async () => {
    const table = await as('alice', ['list']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`${appId}.*wordcount.*alice@EXAMPLE\\.TEST.*RUNNING`));
    const json = await as('alice', ['list', '--json']);
    const apps = JSON.parse(json.stdout) as AppSummary[];
    expect(apps.find((a) => a.id === appId)).toMatchObject({ owner: 'alice@EXAMPLE.TEST', realUser: GW, state: 'RUNNING' });
    const bobs = JSON.parse((await as('bob', ['list', '--json'])).stdout) as AppSummary[];
    expect(bobs.map((a) => a.id)).not.toContain(appId);
  });

  it('sluice status --gateway shows the app as STRAM reports it, owner and all', async () => {
    const r = await as('alice', ['status', '--app', appId]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^app ${appId} \\(wordcount\\): running, secure`, 'm')); // STRAM and the gateway name the app alike
    expect(r.stdout).toContain(`owner alice@EXAMPLE.TEST (via ${GW})`);
    // Without --app: her most recent running app.
    const latest = await as('alice', ['status', '--json']);
    expect(latest.code, latest.stderr).toBe(0);
    expect(JSON.parse(latest.stdout)).toMatchObject({ id: appId, owner: 'alice@EXAMPLE.TEST', status: { app: { name: 'wordcount' } } });
  });

  it('sluice status --watch goes on past the end of its session (it logs in again)', async () => {
    const watch = startCli(['status', '--gateway', url, '--app', appId, '--watch', '1s'], tmp.path, { ...realm.env(), KRB5CCNAME: cc('alice') });
    try {
      await until(() => (watch.stdout.match(/^app \S+ \(wordcount\)/gm) ?? []).length >= 6 || watch.child.exitCode !== null);
    } finally {
      watch.kill('SIGINT');
    }
    const r = await watch.exited;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('sluice whoami names the caller, from the ticket cache or from a keytab', async () => {
    const alice = await as('alice', ['whoami', '--json']);
    expect((JSON.parse(alice.stdout) as WhoAmI).principal).toBe('alice@EXAMPLE.TEST');
    const bob = await as('nobody', ['whoami', '--keytab', realm.keytab('bob'), '--principal', 'bob@EXAMPLE.TEST']);
    expect(bob.code, bob.stderr).toBe(0);
    expect(bob.stdout).toMatch(/^principal: +bob@EXAMPLE\.TEST$/m);
  });

  it("refuses bob's shutdown of alice's app in one line with the gateway's FORBIDDEN", async () => {
    const r = await as('bob', ['shutdown', '--app', appId]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sluice shutdown: the gateway refused \(403 FORBIDDEN\): .+ \[GATEWAY_REFUSED\]\n$/);
    expect(r.stdout).toBe('');
    const still = JSON.parse((await as('alice', ['list', '--json'])).stdout) as AppSummary[];
    expect(still.find((a) => a.id === appId)?.state).toBe('RUNNING');
  });

  it('sluice share lets bob see the app, with --manage stop it, and --revoke takes that back at once', async () => {
    const bobSees = async () => (JSON.parse((await as('bob', ['list', '--json'])).stdout) as AppSummary[]).map((a) => a.id);
    const shared = await as('alice', ['share', appId, '--with', 'bob']);
    expect(shared.code, shared.stderr).toBe(0);
    expect(shared.stdout).toBe(`app ${appId} is shared with\n  view:   bob@EXAMPLE.TEST\n  manage: -\n`);
    expect(await bobSees()).toContain(appId);
    const stop = await as('bob', ['shutdown', '--app', appId]);
    expect(stop.stderr).toMatch(/\(403 FORBIDDEN\): .+ \(needs MANAGE_OTHER_USERS_APPS\) \[GATEWAY_REFUSED\]\n$/);
    expect((await as('alice', ['share', appId, '--with', 'bob', '--manage'])).stdout).toContain('  view:   -\n  manage: bob@EXAMPLE.TEST\n');
    const revoked = await as('alice', ['share', appId, '--with', 'bob@EXAMPLE.TEST', '--revoke']);
    expect(revoked.stdout).toBe(`app ${appId} is shared with\n  view:   -\n  manage: -\n`);
    expect(await bobSees()).not.toContain(appId);
    // Only the owner (or a holder of MANAGE_OTHER_USERS_APPS) changes the shares.
    const bobShares = await as('bob', ['share', appId, '--with', 'bob']);
    expect([bobShares.code, bobShares.stderr]).toEqual([2, expect.stringMatching(/^sluice share: the gateway refused \(403 FORBIDDEN\)/)]);
  });

  it('sluice whoami prints groups, roles and permissions from the policy', async () => {
    const r = await as('alice', ['whoami']);
    expect(r.stdout).toBe('principal:   alice@EXAMPLE.TEST\ngroups:      -\nroles:       launcher\npermissions: LAUNCH_APPS\n');
  });

  it('without a ticket says to run kinit, in one line', async () => {
    const r = await as('nobody', ['list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sluice list: no valid Kerberos ticket for .+: run kinit .+ \(or give --keytab and --principal\) \[NO_TICKET\]\n$/);
  });

  it('refuses flags that do not go together with --gateway, and list without it', async () => {
    const dir = await as('alice', ['status', '--app-dir', tmp.path]);
    expect(dir.code).toBe(2);
    expect(dir.stderr).toContain('--app-dir does not apply with --gateway');
    const bare = await runCli(['list'], tmp.path);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('give --gateway <url>');
  });

  // CONTAINER_BUSY (a second restart while the first is under way) is a race a CLI process loses; test/gateway-api.test.ts asserts it.
  it('sluice restart-container replaces one container, through the gateway or the app directory, and refuses in one line with the code', async () => {
    const dir = new AppDir(join(stateDir, 'apps', appId));
    const c2 = async () => {
      const res = await fetch(`${dir.readInfo().rest}/ws/v1/containers`, { headers: { authorization: `Bearer ${readFileSync(dir.webToken, 'utf8').trim()}` } });
      return ((await res.json()) as { containers: { id: string; state: string; pid: number | null; requestedRestarts: number }[] }).containers.find((c) => c.id === 'c2')!;
    };
    const runs = async (pid: number | null) => until(async () => {
      const c = await c2();
      return c.state === 'running' && c.pid !== null && c.pid !== pid;
    });
    await runs(null);
    const bobs = await as('bob', ['restart-container', 'c2', '--app', appId]);
    expect([bobs.code, bobs.stdout]).toEqual([2, '']);
    expect(bobs.stderr).toMatch(/^sluice restart-container: the gateway refused \(403 FORBIDDEN\): .+ \(needs MANAGE_OTHER_USERS_APPS\) \[GATEWAY_REFUSED\]\n$/);
    const unknown = await as('alice', ['restart-container', 'c99', '--app', appId]);
    expect([unknown.code, unknown.stderr]).toEqual([2, `sluice restart-container: the gateway refused (404 NOT_FOUND): app ${appId}: no container c99 in this app [GATEWAY_REFUSED]\n`]);

    const first = await c2();
    const r = await as('alice', ['restart-container', 'c2', '--app', appId]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, `restart of c2 requested for ${appId}\n`, '']);
    await runs(first.pid);

    // On the app's machine, with the app directory's own web token.
    const second = await c2();
    const local = await runCli(['restart-container', 'c2', '--app-dir', dir.root], tmp.path);
    expect([local.code, local.stdout, local.stderr]).toEqual([0, `restart of c2 requested for ${appId}\n`, '']);
    const localUnknown = await runCli(['restart-container', 'c99', '--app-dir', dir.root], tmp.path);
    expect([localUnknown.code, localUnknown.stderr]).toEqual([2, `sluice restart-container: STRAM of ${appId} refused: no container c99 in this app [NO_SUCH_CONTAINER]\n`]);
    await runs(second.pid);
    expect((await c2()).requestedRestarts).toBe(2);
    const apps = JSON.parse((await as('alice', ['list', '--json'])).stdout) as AppSummary[];
    expect(apps.find((a) => a.id === appId)?.state).toBe('RUNNING');
  });

  it("alice's shutdown stops her app", async () => {
    const r = await as('alice', ['shutdown', '--app', appId]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`shutdown requested for ${appId}\n${appId} stopped\n`);
    const apps = JSON.parse((await as('alice', ['list', '--json'])).stdout) as AppSummary[];
    expect(apps.find((a) => a.id === appId)?.state).toBe('FINISHED');
  });
});
