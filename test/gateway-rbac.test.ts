import { readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebToken } from '@sluice/stram';
import { API_PREFIX, AUDIT_FILE, AppState, Permission, RefusalCode, type AppSummary, type AuditRecord, type LoginAnswer, type PolicyAnswer, type WhoAmI } from '@sluice/gateway';
import { TestRealm } from '@sluice/gateway/testing';
import { GATEWAY_PRINCIPAL, GatewayClient, startGateway, stopGatewayTest, type Answer, type GatewayRun } from './helpers/gateway-process.js';
import { runCli, tempDir, until } from './helpers/runtime-cli.js';

/**
 * Authorization at the gateway, end to end: a real KDC, one real `sluice gateway` under a policy
 * file, one app alice launched, and a principal for each role. Every refusal is asserted by its
 * code and the permission it names, counted in /metrics and recorded in the audit log.
 */

const R = '@EXAMPLE.TEST';
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'lena', 'nora'];
const [ALICE, BOB, CAROL, DAVE, ERIN, FRANK, GRACE, LENA, NORA] = USERS.map((u) => `${u}${R}`) as [string, string, string, string, string, string, string, string, string];

/** The policy: one role per permission, one principal per role; grace is in ops; bob and nora hold nothing. */
const POLICY = `# one role per permission
roles:
  launcher: [LAUNCH_APPS]
  viewer: [VIEW_OTHER_USERS_APPS]
  manager: [MANAGE_OTHER_USERS_APPS]
  auditor: [VIEW_AUDIT]
  policy-admin: [MANAGE_POLICY]
groups:
  ops: [${GRACE}]
bindings:
  - role: launcher
    principals: [${ALICE}, ${LENA}]
  - role: viewer
    principals: [${CAROL}]
  - role: manager
    principals: [${DAVE}]
  - role: auditor
    principals: [${ERIN}]
  - role: policy-admin
    principals: [${FRANK}]
`;

const why = TestRealm.unavailable();

describe.skipIf(why)(`the gateway's authorization: roles, default deny, sharing, audit${why ? ` (skipped: ${why})` : ''}`, () => {
  const tmp = tempDir('sluice-rbac-');
  const stateDir = join(tmp.path, 'state');
  const policyFile = join(tmp.path, 'policy.yaml');
  let realm: TestRealm;
  let gw: GatewayRun;
  let client: GatewayClient;
  let app: string;
  /** Each user's bearer session, from one Negotiate login. */
  const bearer: Record<string, string> = {};

  const as = <T = any>(user: string, method: string, route: string, body?: unknown): Promise<Answer<T>> => client.call<T>(method, `${API_PREFIX}${route}`, { authorization: `Bearer ${bearer[user]}` }, body);
  const metric = (name: string, labels: string) => client.metric(name, labels);
  const auditLines = (): AuditRecord[] => readFileSync(join(stateDir, AUDIT_FILE), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditRecord);
  /** Replaces the policy file as an editor or `mv` would: a new file renamed over the old. */
  const writePolicy = (text: string) => {
    writeFileSync(`${policyFile}.new`, text);
    renameSync(`${policyFile}.new`, policyFile);
  };
  const expectForbidden = (res: Answer, permission: string) => expect([res.status, res.body?.error, res.body?.permission], res.text).toEqual([403, RefusalCode.forbidden, permission]);

  beforeAll(async () => {
    realm = await TestRealm.start({ dir: tmp.path, principals: [...USERS, GATEWAY_PRINCIPAL] });
    Object.assign(process.env, realm.env());
    const caches: Record<string, string> = {};
    for (const user of USERS) {
      caches[user] = join(tmp.path, `${user}.ccache`);
      await realm.kinit(user, caches[user]);
    }
    writeFileSync(policyFile, POLICY);
    gw = await startGateway(realm, stateDir, tmp.path, ['--policy', policyFile]);
    client = new GatewayClient(gw.url, caches);
    for (const user of USERS) bearer[user] = (await client.call<LoginAnswer>('POST', `${API_PREFIX}/login`, { user })).body.token;
    const launched = await as<{ id: string }>('alice', 'POST', '/apps', { app: 'demo', config: { tuplesPerWindow: 10 }, settings: { window: '200ms' } });
    expect(launched.status, launched.text).toBe(201);
    app = launched.body.id;
    await until(async () => (await as('alice', 'GET', `/apps/${app}`)).body?.status?.containers?.every((c: { state: string }) => c.state === 'running') ?? false);
  });

  afterAll(async () => {
    await stopGatewayTest(gw, stateDir, app, realm);
    tmp.remove();
  });

  it('gives a principal with no role an empty list and 403 LAUNCH_APPS, counted and audited', async () => {
    const denials = await metric('sluice_gateway_authz_denials_total', `permission="${Permission.launchApps}"`);
    expect((await as('nora', 'GET', '/whoami')).body).toEqual({ principal: NORA, realUser: '', groups: [], roles: [], permissions: [] } satisfies WhoAmI);
    expect((await as('nora', 'GET', '/apps')).body).toEqual([]);
    expectForbidden(await as('nora', 'POST', '/apps', { app: 'demo' }), Permission.launchApps);
    expect(await metric('sluice_gateway_authz_denials_total', `permission="${Permission.launchApps}"`)).toBe(denials + 1);
    expect(auditLines().at(-1)).toEqual({ time: expect.any(String), principal: NORA, realUser: '', action: 'apps.launch', app: '', outcome: 'denied', rule: 'default-deny', status: 403 });
  });

  it('says who each caller is: groups, roles and permissions from the policy', async () => {
    const who = async (u: string) => (await as<WhoAmI>(u, 'GET', '/whoami')).body;
    expect(await who('grace')).toEqual({ principal: GRACE, realUser: '', groups: ['ops'], roles: [], permissions: [] });
    expect(await who('dave')).toMatchObject({ roles: ['manager'], permissions: [Permission.manageOtherUsersApps] });
    expect(await who('alice')).toMatchObject({ roles: ['launcher'], permissions: [Permission.launchApps] });
  });

  it("lets a viewer see alice's app but not stop it, through the gateway and at STRAM with a view token", async () => {
    expect((await as<AppSummary[]>('carol', 'GET', '/apps')).body.map((a) => a.id)).toEqual([app]);
    const detail = await as('carol', 'GET', `/apps/${app}`);
    expect([detail.status, detail.body.owner, detail.body.status?.app?.owner]).toEqual([200, ALICE, ALICE]);
    expectForbidden(await as('carol', 'POST', `/apps/${app}/shutdown`), Permission.manageOtherUsersApps);
    // Directly at STRAM with the token the gateway mints for a viewer: scope ["view"].
    const appDir = join(stateDir, 'apps', app);
    const { rest, appId } = JSON.parse(readFileSync(join(appDir, 'stram.json'), 'utf8')) as { rest: string; appId: string };
    const key = Buffer.from(readFileSync(join(appDir, 'stram', 'web-key'), 'utf8').trim(), 'hex');
    const view = await signWebToken(key, { app: appId, user: CAROL, now: Date.now(), ttlMs: 60_000, scope: ['view'] });
    expect((await fetch(`${rest}/ws/v1/app`, { headers: { authorization: `Bearer ${view}` } })).status).toBe(200);
    const stop = await fetch(`${rest}/ws/v1/shutdown`, { method: 'POST', headers: { authorization: `Bearer ${view}` } });
    expect([stop.status, await stop.json()]).toEqual([403, expect.objectContaining({ error: 'forbidden', reason: 'scope', permission: 'manage' })]);
    expect((await as('alice', 'GET', '/apps')).body[0].state).toBe(AppState.running);
  });

  it('shares view with a user and with a group, and a revoke counts from the next request', async () => {
    const path = `/apps/${app}/permissions`;
    expectForbidden(await as('bob', 'GET', `/apps/${app}`), Permission.viewOtherUsersApps);
    expect((await as('alice', 'PUT', path, { view: [BOB, 'group:ops'] })).body).toEqual({ view: [BOB, 'group:ops'], manage: [] });
    expect((await as('bob', 'GET', `/apps/${app}`)).status).toBe(200);
    expect((await as('grace', 'GET', `/apps/${app}`)).status).toBe(200);
    expect((await as<AppSummary[]>('grace', 'GET', '/apps')).body.map((a) => a.id)).toEqual([app]);
    expectForbidden(await as('bob', 'POST', `/apps/${app}/shutdown`), Permission.manageOtherUsersApps);
    // A share is the owner's to give: bob may not widen it.
    expectForbidden(await as('bob', 'PUT', path, { view: [BOB], manage: [BOB] }), Permission.manageOtherUsersApps);
    expect((await as('alice', 'PUT', path, { view: [BOB] })).status).toBe(200);
    expectForbidden(await as('grace', 'GET', `/apps/${app}`), Permission.viewOtherUsersApps);
    expect((await as('alice', 'PUT', path, { view: [] })).status).toBe(200);
    expectForbidden(await as('bob', 'GET', `/apps/${app}`), Permission.viewOtherUsersApps);
    expect((await as('bob', 'GET', '/apps')).body).toEqual([]);
    const shares = auditLines().filter((r) => r.action === 'app.share');
    expect(shares.map((r) => [r.principal, r.outcome, r.rule, r.status])).toEqual([
      [ALICE, 'allowed', 'owner', 200],
      [BOB, 'denied', 'default-deny', 403],
      [ALICE, 'allowed', 'owner', 200],
      [ALICE, 'allowed', 'owner', 200],
    ]);
  });

  it('reloads a changed policy while requests run: each answer is the old rule or the new, never an error', async () => {
    const applied = await metric('sluice_gateway_policy_reloads_total', 'outcome="applied"');
    const statuses: number[] = [];
    let stop = false;
    const load = (async () => {
      while (!stop) statuses.push((await as('lena', 'GET', `/apps/${app}`)).status);
    })();
    await until(() => statuses.length >= 3);
    writePolicy(POLICY.replace(`principals: [${CAROL}]`, `principals: [${CAROL}, ${LENA}]`));
    await until(() => statuses.at(-1) === 200);
    stop = true;
    await load;
    expect(new Set(statuses)).toEqual(new Set([403, 200]));
    // Once the new policy answers, the old never does again.
    expect(statuses.slice(statuses.indexOf(200))).not.toContain(403);
    expect(await metric('sluice_gateway_policy_reloads_total', 'outcome="applied"')).toBe(applied + 1);
    expect((await as('lena', 'GET', '/whoami')).body.roles).toEqual(['launcher', 'viewer']);
  });

  it('keeps the last good policy when a change fails validation, counts it, and says why with the line', async () => {
    const rejected = await metric('sluice_gateway_policy_reloads_total', 'outcome="rejected"');
    writePolicy(POLICY.replace('viewer: [VIEW_OTHER_USERS_APPS]', 'viewer: [VIEW_EVERYTHING]'));
    await until(async () => (await metric('sluice_gateway_policy_reloads_total', 'outcome="rejected"')) === rejected + 1);
    expect((await as('lena', 'GET', `/apps/${app}`)).status).toBe(200);
    const policy = await as<PolicyAnswer>('frank', 'GET', '/policy');
    expect(policy.body.rejected).toEqual([expect.stringMatching(new RegExp(`^${policyFile.replace(/[.]/g, '\\.')}:4:12: roles\\.viewer\\.0: `))]);
    expect(policy.body.policy.bindings.find((b) => b.role === 'viewer')?.principals).toEqual([CAROL, LENA]);
    writePolicy(POLICY);
    await until(async () => (await as('lena', 'GET', `/apps/${app}`)).status === 403);
    expect((await as<PolicyAnswer>('frank', 'GET', '/policy')).body.rejected).toEqual([]);
  });

  it('lets a manager stop another user\'s app: the gateway mints a manage token and STRAM obeys', async () => {
    const stop = await as('dave', 'POST', `/apps/${app}/shutdown`);
    expect(stop.status, stop.text).toBe(202);
    await until(async () => (await as('alice', 'GET', '/apps')).body[0].state === AppState.finished);
    expect(auditLines().filter((r) => r.action === 'app.shutdown').map((r) => [r.principal, r.outcome, r.rule, r.status])).toEqual([
      [CAROL, 'denied', 'default-deny', 403],
      [BOB, 'denied', 'default-deny', 403],
      [DAVE, 'allowed', 'role:manager', 202],
    ]);
  });

  /**
   * Every role × every endpoint, on alice's (now finished) app: an allowed call answers what the
   * route answers past authorization (a shutdown 409 APP_NOT_RUNNING, a bad body 400), a denied
   * one 403 with the permission it lacked. Each permission opens exactly its endpoints.
   */
  it('gates each endpoint by exactly its permission, for every role', async () => {
    const endpoints: { name: string; call: (u: string) => Promise<Answer>; allowed: number; permission?: string; who: string[] }[] = [
      { name: 'GET /whoami', call: (u) => as(u, 'GET', '/whoami'), allowed: 200, who: USERS },
      { name: 'GET /apps', call: (u) => as(u, 'GET', '/apps'), allowed: 200, who: USERS },
      { name: 'POST /apps', call: (u) => as(u, 'POST', '/apps', { app: '' }), allowed: 400, permission: Permission.launchApps, who: ['alice', 'lena'] },
      { name: 'GET /apps/{id}', call: (u) => as(u, 'GET', `/apps/${app}`), allowed: 200, permission: Permission.viewOtherUsersApps, who: ['alice', 'carol', 'dave'] },
      { name: 'GET /apps/{id}/permissions', call: (u) => as(u, 'GET', `/apps/${app}/permissions`), allowed: 200, permission: Permission.viewOtherUsersApps, who: ['alice', 'carol', 'dave'] },
      { name: 'PUT /apps/{id}/permissions', call: (u) => as(u, 'PUT', `/apps/${app}/permissions`, { view: ['not a principal'] }), allowed: 400, permission: Permission.manageOtherUsersApps, who: ['alice', 'dave'] },
      { name: 'POST /apps/{id}/shutdown', call: (u) => as(u, 'POST', `/apps/${app}/shutdown`), allowed: 409, permission: Permission.manageOtherUsersApps, who: ['alice', 'dave'] },
      { name: 'GET /audit', call: (u) => as(u, 'GET', '/audit?limit=5'), allowed: 200, permission: Permission.viewAudit, who: ['erin'] },
      { name: 'GET /policy', call: (u) => as(u, 'GET', '/policy'), allowed: 200, permission: Permission.managePolicy, who: ['frank'] },
    ];
    const before = auditLines().length;
    let audited = 0;
    const got: string[] = [];
    const want: string[] = [];
    for (const e of endpoints) {
      for (const u of USERS) {
        const res = await e.call(u);
        const allowed = e.who.includes(u);
        got.push(`${u} ${e.name}: ${res.status} ${res.status === 403 ? res.body.permission : ''}`);
        want.push(`${u} ${e.name}: ${allowed ? e.allowed : 403} ${allowed ? '' : e.permission}`);
        if (!allowed || e.name.startsWith('POST') || e.name.startsWith('PUT')) audited++;
      }
    }
    expect(got).toEqual(want);
    // One audit line per denial and per state-changing request, allowed or not.
    expect(auditLines().length - before).toBe(audited);
    expect((await as<AppSummary[]>('dave', 'GET', '/apps')).body.map((a) => a.id)).toEqual([app]);
    expect((await as('alice', 'GET', `/apps/${app}/permissions`)).body).toEqual({ view: [], manage: [] });
  });

  it('keeps the audit log 0600 and readable through the API by VIEW_AUDIT alone, with no secret in it', async () => {
    expect(statSync(join(stateDir, AUDIT_FILE)).mode & 0o777).toBe(0o600);
    const read = await as<AuditRecord[]>('erin', 'GET', `/audit?app=${app}`);
    expect(read.status).toBe(200);
    expect(read.body.length).toBeGreaterThan(10);
    expect(read.body.every((r) => r.app === app)).toBe(true);
    expect(read.body).toContainEqual(expect.objectContaining({ principal: ALICE, action: 'apps.launch', outcome: 'allowed', rule: 'role:launcher', status: 201 }));
    expect(read.body).toContainEqual(expect.objectContaining({ principal: BOB, action: 'app.view', outcome: 'denied', rule: 'default-deny', status: 403 }));
    expect(Object.keys(read.body[0]!).sort()).toEqual(['action', 'app', 'outcome', 'principal', 'realUser', 'rule', 'status', 'time']);
    expectForbidden(await as('frank', 'GET', '/audit'), Permission.viewAudit);
    const text = readFileSync(join(stateDir, AUDIT_FILE), 'utf8');
    for (const token of Object.values(bearer)) expect(text).not.toContain(token);
    expect(text).not.toContain(readFileSync(realm.keytab(GATEWAY_PRINCIPAL)).toString('base64'));
    const bad = await as('erin', 'GET', '/audit?limit=0');
    expect([bad.status, bad.body.error]).toEqual([400, RefusalCode.badRequest]);
  });
});

describe('sluice policy check', () => {
  const tmp = tempDir('sluice-policy-check-');
  afterAll(() => tmp.remove());

  it('accepts a valid policy with exit 0 and refuses a broken one with one line per fault and exit 2', async () => {
    writeFileSync(join(tmp.path, 'good.yaml'), POLICY);
    const good = await runCli(['policy', 'check', 'good.yaml'], tmp.path);
    expect([good.code, good.stdout, good.stderr]).toEqual([0, 'good.yaml: ok (5 roles, 1 group, 5 bindings)\n', '']);
    writeFileSync(join(tmp.path, 'bad.yaml'), POLICY.replace('[LAUNCH_APPS]', '[LAUNCH]').replace('groups:\n  ops', 'groupz:\n  ops'));
    const bad = await runCli(['policy', 'check', 'bad.yaml'], tmp.path);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^bad\.yaml:3:14: roles\.launcher\.0: .*LAUNCH_APPS/), expect.stringMatching(/^bad\.yaml:8:1: .*"groupz"/)]);
    writeFileSync(join(tmp.path, 'refs.yaml'), POLICY.replace('role: manager', 'role: managers'));
    const refs = await runCli(['policy', 'check', 'refs.yaml'], tmp.path);
    expect([refs.code, refs.stderr]).toEqual([2, 'refs.yaml:15:11: bindings.2.role: no role "managers" in roles (launcher, viewer, manager, auditor, policy-admin)\n']);
    const missing = await runCli(['policy', 'check', 'nope.yaml'], tmp.path);
    expect([missing.code, missing.stderr]).toEqual([2, 'sluice policy check: nope.yaml: cannot be read (ENOENT) [BAD_POLICY]\n']);
  });
});
