import { describe, expect, it } from 'vitest';
import { Permission } from './api.js';
import { parsePolicy } from './policy.js';

describe('the policy file: validated, each fault naming its line', () => {
  const good = [
    '# who may do what',
    'roles:',
    '  developer: [LAUNCH_APPS]',
    '  admin: [LAUNCH_APPS, VIEW_OTHER_USERS_APPS, MANAGE_OTHER_USERS_APPS, VIEW_AUDIT, MANAGE_POLICY]',
    'groups:',
    '  ops: [olga@EXAMPLE.COM]',
    'bindings:',
    '  - role: developer',
    '    principals: ["*@EXAMPLE.COM"]',
    '  - role: admin',
    '    groups: [ops]',
    '',
  ].join('\n');

  it('reads roles, groups and bindings, in YAML or JSON', () => {
    const { policy } = parsePolicy(good);
    expect(policy!.rolesOf('olga@EXAMPLE.COM')).toEqual(['developer', 'admin']);
    expect(policy!.permissionsOf('bob@EXAMPLE.COM')).toEqual([Permission.launchApps]);
    expect(policy!.rolesOf('bob@OTHER.COM')).toEqual([]);
    const json = parsePolicy(JSON.stringify({ roles: { r: ['VIEW_AUDIT'] }, bindings: [{ role: 'r', principals: ['a@R'] }] }));
    expect(json.policy!.permissionsOf('a@R')).toEqual([Permission.viewAudit]);
    expect(parsePolicy('').policy!.rolesOf('a@R')).toEqual([]);
  });

  it('names the line and column of an unknown permission and an unknown key', () => {
    const bad = good.replace('[LAUNCH_APPS]\n  admin', '[LAUNCH_APP]\n  admin').replace('bindings:', 'binding:');
    const got = parsePolicy(bad).errors!.map((e) => `${e.line}:${e.col} ${e.message}`);
    expect(got).toEqual([expect.stringMatching(/^3:15 roles\.developer\.0: .*LAUNCH_APPS/), expect.stringMatching(/^7:1 .*binding/)]);
  });

  it('names the line of a binding to a role or group the policy does not define', () => {
    const bad = good.replace('role: admin', 'role: admins').replace('groups: [ops]', 'groups: [opps]');
    const got = parsePolicy(bad).errors!.map((e) => `${e.line}:${e.col} ${e.message}`);
    expect(got).toEqual(['10:11 bindings.1.role: no role "admins" in roles (developer, admin)', '11:14 bindings.1.groups.0: no group "opps" in groups']);
  });

  it('names the line of YAML that does not parse, and of a duplicate key', () => {
    expect(parsePolicy('roles:\n  a: [LAUNCH_APPS\nbindings: []\n').errors![0]!.line).toBeGreaterThanOrEqual(2);
    const dup = parsePolicy('roles:\n  a: [VIEW_AUDIT]\n  a: [MANAGE_POLICY]\n').errors!;
    expect(dup[0]!.line).toBe(3);
    expect(dup[0]!.message).toMatch(/unique/i);
  });

  it('refuses a binding that names nobody, a glob in a group and a top-level list', () => {
    const { errors } = parsePolicy('roles: {r: [VIEW_AUDIT]}\ngroups: {g: ["*@R"]}\nbindings:\n  - role: r\n');
    expect(errors!.map((e) => [e.line, e.message])).toEqual([
      [2, expect.stringContaining('groups.g.0: a group lists principals, not globs')],
      [4, 'bindings.0: a binding names principals or groups'],
    ]);
    expect(parsePolicy('- a\n- b\n').errors![0]).toMatchObject({ line: 1 });
  });
});
