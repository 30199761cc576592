/**
 * Group membership from the policy's `groups` (docs/security.md "Who may do what"): which groups
 * a principal is in. A per-app share names a group as `group:<name>`.
 */

export const GROUP_PREFIX = 'group:';

export class Groups {
  private readonly byPrincipal = new Map<string, string[]>();

  constructor(members: Readonly<Record<string, readonly string[]>>) {
    for (const [group, principals] of Object.entries(members)) {
      for (const p of principals) this.byPrincipal.set(p, [...(this.byPrincipal.get(p) ?? []), group]);
    }
  }

  /** The groups `principal` is in, in the order the policy names them. */
  of(principal: string): string[] {
    return this.byPrincipal.get(principal) ?? [];
  }

  /** Whether a share entry (`bob@REALM` or `group:ops`) names this principal; which one it was, for the audit. */
  static entryNames(entry: string, principal: string, groups: readonly string[]): boolean {
    return entry.startsWith(GROUP_PREFIX) ? groups.includes(entry.slice(GROUP_PREFIX.length)) : entry === principal;
  }
}
