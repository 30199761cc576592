import { describe, expect, it } from 'vitest';
import { Action, Permission } from './api.js';
import { Authorizer, ProxyUsers } from './access.js';
import { Policy } from './policy.js';
import type { AppEntry } from './registry.js';

describe('authorize: who may do what', () => {
  const policy = Policy.of({
    roles: { dev: [Permission.launchApps], viewer: [Permission.viewOtherUsersApps], admin: [Permission.manageOtherUsersApps], auditor: [Permission.viewAudit] },
    groups: { ops: ['olga@R'] },
    bindings: [
      { role: 'dev', principals: ['*@R'] },
      { role: 'viewer', principals: ['vic@R'] },
      { role: 'admin', groups: ['ops'] },
      { role: 'auditor', principals: ['aud@R'] },
    ],
  });
  const authz = new Authorizer(() => policy, new ProxyUsers(['*@R', 'x@OTHER']));
  const app: AppEntry = { id: 'a', name: 'n', owner: 'alice@R', realUser: 'HTTP/h@R', appDir: '/x', startedAt: 0, grants: { view: ['bob@R'], manage: ['carol@R', 'group:ops'] } };
  const decide = (who: string, action: Action) => authz.authorize(who, action, app);

  it('lets the owner view, manage and share; a view share only view; a manage share view and manage but not share', () => {
    expect([Action.viewApp, Action.shutdown, Action.share].map((a) => decide('alice@R', a).rule)).toEqual(['owner', 'owner', 'owner']);
    expect([Action.viewApp, Action.shutdown].map((a) => decide('bob@R', a))).toEqual([
      { allowed: true, rule: 'share:view:bob@R', permission: Permission.viewOtherUsersApps },
      { allowed: false, rule: 'default-deny', permission: Permission.manageOtherUsersApps },
    ]);
    expect([Action.viewApp, Action.shutdown, Action.share].map((a) => [decide('carol@R', a).allowed, decide('carol@R', a).rule])).toEqual([
      [true, 'share:manage:carol@R'],
      [true, 'share:manage:carol@R'],
      [false, 'default-deny'],
    ]);
    expect(decide('dave@R', Action.viewApp)).toEqual({ allowed: false, rule: 'default-deny', permission: Permission.viewOtherUsersApps });
  });

  it('gives roles through principals, globs and groups; MANAGE_OTHER_USERS_APPS includes viewing', () => {
    expect(decide('vic@R', Action.viewApp).rule).toBe('role:viewer');
    expect(decide('vic@R', Action.shutdown).allowed).toBe(false);
    // olga is in ops: the share to the group names her before her admin role does.
    expect(decide('olga@R', Action.shutdown).rule).toBe('share:manage:group:ops');
    expect(decide('olga@R', Action.share).rule).toBe('role:admin');
    expect(policy.rolesOf('olga@R')).toEqual(['dev', 'admin']);
    expect(authz.authorize('aud@R', Action.readAudit)).toEqual({ allowed: true, rule: 'role:auditor', permission: Permission.viewAudit });
    expect(authz.authorize('vic@R', Action.readAudit).allowed).toBe(false);
    expect(authz.authorize('vic@R', Action.readPolicy)).toEqual({ allowed: false, rule: 'default-deny', permission: Permission.managePolicy });
  });

  it('launches only for a role holder the proxy-user rule also names', () => {
    expect(authz.authorize('bob@R', Action.launch).rule).toBe('role:dev');
    expect(authz.authorize('x@OTHER', Action.launch)).toEqual({ allowed: false, rule: 'default-deny', permission: Permission.launchApps });
    expect(new Authorizer(() => policy, new ProxyUsers([])).authorize('bob@R', Action.launch).rule).toBe('proxy-users');
  });

  it('denies everything but what is owned or shared under the empty policy: no first user becomes admin', () => {
    const none = new Authorizer(() => Policy.empty, new ProxyUsers(['*@R']));
    for (const a of [Action.launch, Action.readAudit, Action.readPolicy]) expect(none.authorize('alice@R', a).allowed).toBe(false);
    expect(none.authorize('alice@R', Action.whoami)).toEqual({ allowed: true, rule: 'authenticated' });
    expect(none.scopes('bob@R', app)).toEqual(['view']);
    expect(none.scopes('carol@R', app)).toEqual(['view', 'manage']);
    expect(none.scopes('dave@R', app)).toEqual([]);
  });

  it('matches proxy users by glob, with every other character literal', () => {
    const realm = ProxyUsers.ofRealm('HTTP/gw.example.test@EXAMPLE.TEST');
    expect(realm.globs).toEqual(['*@EXAMPLE.TEST']);
    expect(['alice@EXAMPLE.TEST', 'alice@EXAMPLE.TESTING', 'alice@EXAMPLExTEST', 'alice@OTHER.TEST'].map((p) => realm.allows(p))).toEqual([true, false, false, false]);
    const some = new ProxyUsers(['alice@R', 'svc-?@R']);
    expect(['alice@R', 'svc-1@R', 'svc-12@R', 'bob@R'].map((p) => some.allows(p))).toEqual([true, true, false, false]);
    expect(new ProxyUsers([]).allows('alice@R')).toBe(false);
  });
});
