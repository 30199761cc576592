import { GatewayRefusal, Permission, RefusalCode } from './api.js';
import type { AppEntry } from './registry.js';

/**
 * Who may do what (docs/security.md "Who may do what"), as pure functions: an app's owner views
 * and manages it, a principal the owner granted `view` or `manage` may do that much (manage
 * implies view), nobody else may; the gateway launches only for the principals its proxy-user
 * rule names (Hadoop's `hadoop.proxyuser.<gateway>.users`).
 */

export function mayView(entry: AppEntry, principal: string): boolean {
  return entry.owner === principal || entry.grants.view.includes(principal) || entry.grants.manage.includes(principal);
}

export function mayManage(entry: AppEntry, principal: string): boolean {
  return entry.owner === principal || entry.grants.manage.includes(principal);
}

export function requireView(entry: AppEntry, principal: string): void {
  if (!mayView(entry, principal)) throw forbidden(`${principal} may not view app ${entry.id} of ${entry.owner}`, Permission.viewOtherUsersApps);
}

export function requireManage(entry: AppEntry, principal: string): void {
  if (!mayManage(entry, principal)) throw forbidden(`${principal} may not manage app ${entry.id} of ${entry.owner}`, Permission.manageOtherUsersApps);
}

/** Only the owner changes who else may view or manage an app. */
export function requireOwner(entry: AppEntry, principal: string): void {
  if (entry.owner !== principal) throw forbidden(`only ${entry.owner}, the owner, shares app ${entry.id}`, Permission.manageOtherUsersApps);
}

function forbidden(reason: string, permission: Permission): GatewayRefusal {
  return new GatewayRefusal(403, RefusalCode.forbidden, reason, permission);
}

/** The principals the gateway may act for: globs (`*` any run of characters, `?` one), any of which may match. */
export class ProxyUsers {
  private readonly patterns: RegExp[];

  constructor(readonly globs: readonly string[]) {
    this.patterns = globs.map((g) => new RegExp(`^${g.split('').map(globChar).join('')}$`));
  }

  /** The default: everyone of the gateway principal's own realm (`HTTP/host@REALM` → `*@REALM`). */
  static ofRealm(gatewayPrincipal: string): ProxyUsers {
    const at = gatewayPrincipal.lastIndexOf('@');
    return new ProxyUsers(at < 0 ? [] : [`*${gatewayPrincipal.slice(at)}`]);
  }

  allows(principal: string): boolean {
    return this.patterns.some((p) => p.test(principal));
  }
}

function globChar(c: string): string {
  if (c === '*') return '.*';
  if (c === '?') return '.';
  return c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}
