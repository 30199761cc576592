import { WebScope } from '@sluice/stram';
import { Action, GatewayRefusal, Permission, RefusalCode } from './api.js';
import { globMatcher } from './globs.js';
import { Groups } from './groups.js';
import type { Policy } from './policy.js';
import type { AppEntry } from './registry.js';

/**
 * Who may do what (docs/security.md "Who may do what"): the one function every route asks.
 * Default deny. An app's owner views, manages and shares it; a share gives a principal or a
 * group view or manage of one app (manage includes view); the policy's roles give the
 * permissions. The gateway launches only for the principals its proxy-user rule names (Hadoop's
 * `hadoop.proxyuser.<gateway>.users`), whatever their roles. Pure: the policy in force is read
 * on each call, so a reload or a revoked share decides the next request.
 */

export interface Decision {
  allowed: boolean;
  /** What decided: `owner`, `share:view:bob@R`, `share:manage:group:ops`, `role:admin`, `proxy-users`, `authenticated`, `default-deny`. */
  rule: string;
  /** The permission the action needs (named in a refusal); absent for actions anyone authenticated may take. */
  permission?: Permission;
}

const APP_ACTIONS: Partial<Record<Action, { permission: Permission; also?: Permission; share: 'view' | 'manage' | 'none' }>> = {
  [Action.viewApp]: { permission: Permission.viewOtherUsersApps, also: Permission.manageOtherUsersApps, share: 'view' },
  [Action.viewPermissions]: { permission: Permission.viewOtherUsersApps, also: Permission.manageOtherUsersApps, share: 'view' },
  [Action.shutdown]: { permission: Permission.manageOtherUsersApps, share: 'manage' },
  [Action.restartContainer]: { permission: Permission.manageOtherUsersApps, share: 'manage' },
  [Action.share]: { permission: Permission.manageOtherUsersApps, share: 'none' },
};

const POLICY_ACTIONS: Partial<Record<Action, Permission>> = {
  [Action.launch]: Permission.launchApps,
  [Action.readAudit]: Permission.viewAudit,
  [Action.readPolicy]: Permission.managePolicy,
};

export class Authorizer {
  constructor(
    private readonly policy: () => Policy,
    readonly proxyUsers: ProxyUsers,
  ) {}

  authorize(principal: string, action: Action, entry?: AppEntry): Decision {
    const policy = this.policy();
    const app = APP_ACTIONS[action];
    if (app) {
      if (!entry) throw new Error(`${action} needs an app`);
      if (entry.owner === principal) return allow('owner', app.permission);
      const share = app.share === 'none' ? undefined : shareNaming(entry, principal, policy.groups.of(principal), app.share);
      if (share) return allow(share, app.permission);
      const role = policy.roleGranting(principal, app.permission) ?? (app.also ? policy.roleGranting(principal, app.also) : undefined);
      return role ? allow(`role:${role}`, app.permission) : deny('default-deny', app.permission);
    }
    const permission = POLICY_ACTIONS[action];
    if (!permission) return { allowed: true, rule: 'authenticated' };
    if (action === Action.launch && !this.proxyUsers.allows(principal)) return deny('proxy-users', permission);
    const role = policy.roleGranting(principal, permission);
    return role ? allow(`role:${role}`, permission) : deny('default-deny', permission);
  }

  /** The 403 FORBIDDEN a denial answers, naming the permission lacked. */
  refusal(principal: string, action: Action, d: Decision, entry?: AppEntry): GatewayRefusal {
    return forbidden(principal, action, d, entry);
  }

  /** What a STRAM token minted for this caller and app may do. */
  scopes(principal: string, entry: AppEntry): WebScope[] {
    const scopes: WebScope[] = [];
    if (this.authorize(principal, Action.viewApp, entry).allowed) scopes.push(WebScope.view);
    if (this.authorize(principal, Action.shutdown, entry).allowed) scopes.push(WebScope.manage);
    return scopes;
  }
}

const allow = (rule: string, permission: Permission): Decision => ({ allowed: true, rule, permission });
const deny = (rule: string, permission: Permission): Decision => ({ allowed: false, rule, permission });

/** The share entry that lets the principal do `what` (a manage share includes view), as a rule name. */
function shareNaming(entry: AppEntry, principal: string, groups: readonly string[], what: 'view' | 'manage'): string | undefined {
  const kinds = what === 'view' ? (['manage', 'view'] as const) : (['manage'] as const);
  for (const kind of kinds) {
    const found = entry.grants[kind].find((e) => Groups.entryNames(e, principal, groups));
    if (found) return `share:${kind}:${found}`;
  }
  return undefined;
}

const VERB: Partial<Record<Action, string>> = {
  [Action.launch]: 'launch apps',
  [Action.viewApp]: 'view app',
  [Action.viewPermissions]: 'view app',
  [Action.shutdown]: 'manage app',
  [Action.restartContainer]: 'manage app',
  [Action.share]: 'change who shares app',
  [Action.readAudit]: 'read the audit log',
  [Action.readPolicy]: 'read the policy',
};

function forbidden(principal: string, action: Action, d: Decision, entry?: AppEntry): GatewayRefusal {
  const what = `${VERB[action] ?? action}${entry ? ` ${entry.id} of ${entry.owner}` : ''}`;
  const why =
    d.rule === 'proxy-users'
      ? 'the gateway may not act for them (--proxy-users)'
      : `no role of theirs grants ${d.permission}${entry ? ` and the owner has not shared it with them` : ''}`;
  return new GatewayRefusal(403, RefusalCode.forbidden, `${principal} may not ${what}: ${why}`, d.permission);
}

/** The principals the gateway may act for: globs (`*` any run of characters, `?` one), any of which may match. */
export class ProxyUsers {
  readonly allows: (principal: string) => boolean;

  constructor(readonly globs: readonly string[]) {
    this.allows = globMatcher(globs);
  }

  /** The default: everyone of the gateway principal's own realm (`HTTP/host@REALM` → `*@REALM`). */
  static ofRealm(gatewayPrincipal: string): ProxyUsers {
    const at = gatewayPrincipal.lastIndexOf('@');
    return new ProxyUsers(at < 0 ? [] : [`*${gatewayPrincipal.slice(at)}`]);
  }
}
