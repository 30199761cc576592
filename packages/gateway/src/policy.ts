import { z } from 'zod';
import { LineCounter, parseDocument, isMap, isPair, isScalar, isSeq, type Node } from 'yaml';
import { Permission } from './api.js';
import { globMatcher } from './globs.js';
import { Groups } from './groups.js';

/**
 * The gateway's policy (docs/security.md "Who may do what"): roles name permissions, bindings
 * give roles to principals (globs allowed) and to groups, and `groups` says who is in each.
 * Written in YAML (JSON is YAML too). Parsing is pure: text in, a Policy or the errors out, each
 * error naming its line, so `sluice policy check` and the gateway's reload say the same thing.
 */

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a name of letters, digits, _ . - (at most 64)');
const principalGlob = z.string().min(1).max(256).regex(/^[^\s,]+$/, 'a principal (alice@EXAMPLE.COM) or a glob of them (*@EXAMPLE.COM), no spaces');

const PolicySchema = z
  .strictObject({
    roles: z.record(name, z.array(z.enum(Object.values(Permission) as [Permission, ...Permission[]])).max(16)).default({}),
    groups: z.record(name, z.array(principalGlob.regex(/^[^*?]+$/, 'a group lists principals, not globs')).max(10_000)).default({}),
    bindings: z
      .array(
        z.strictObject({
          role: name,
          principals: z.array(principalGlob).max(10_000).default([]),
          groups: z.array(name).max(1_000).default([]),
        }),
      )
      .max(1_000)
      .default([]),
  })
  .superRefine((p, ctx) => {
    p.bindings.forEach((b, i) => {
      if (!(b.role in p.roles)) ctx.addIssue({ code: 'custom', path: ['bindings', i, 'role'], message: `no role "${b.role}" in roles (${Object.keys(p.roles).join(', ') || 'none defined'})` });
      b.groups.forEach((g, j) => {
        if (!(g in p.groups)) ctx.addIssue({ code: 'custom', path: ['bindings', i, 'groups', j], message: `no group "${g}" in groups` });
      });
      if (b.principals.length === 0 && b.groups.length === 0) ctx.addIssue({ code: 'custom', path: ['bindings', i], message: 'a binding names principals or groups' });
    });
  });
export type PolicyDocument = z.infer<typeof PolicySchema>;

/** One fault of a policy text: where (1-based line and column) and what. */
export interface PolicyError {
  line: number;
  col: number;
  message: string;
}

export function formatPolicyError(file: string, e: PolicyError): string {
  return `${file}:${e.line}:${e.col}: ${e.message}`;
}

/** The policy in force: who holds which roles, and so which permissions. */
export class Policy {
  private readonly bindings: { role: string; matches: (principal: string) => boolean; groups: ReadonlySet<string> }[];
  readonly groups: Groups;

  private constructor(readonly doc: PolicyDocument) {
    this.groups = new Groups(doc.groups);
    this.bindings = doc.bindings.map((b) => ({ role: b.role, matches: globMatcher(b.principals), groups: new Set(b.groups) }));
  }

  /** The policy of no roles: everyone is denied everything an owner or a share does not give. */
  static readonly empty = new Policy(PolicySchema.parse({}));

  static of(doc: unknown): Policy {
    return new Policy(PolicySchema.parse(doc));
  }

  /** The roles a principal holds, directly or through its groups, in the order the policy names them. */
  rolesOf(principal: string): string[] {
    const groups = this.groups.of(principal);
    const roles = new Set<string>();
    for (const b of this.bindings) if (b.matches(principal) || groups.some((g) => b.groups.has(g))) roles.add(b.role);
    return [...roles];
  }

  /** The first of the principal's roles that grants `permission`, or undefined. */
  roleGranting(principal: string, permission: Permission): string | undefined {
    return this.rolesOf(principal).find((r) => this.doc.roles[r]?.includes(permission));
  }

  permissionsOf(principal: string): Permission[] {
    const held = new Set(this.rolesOf(principal).flatMap((r) => this.doc.roles[r] ?? []));
    return Object.values(Permission).filter((p) => held.has(p));
  }

  get summary(): string {
    const n = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;
    return `${n(Object.keys(this.doc.roles).length, 'role')}, ${n(Object.keys(this.doc.groups).length, 'group')}, ${n(this.doc.bindings.length, 'binding')}`;
  }
}

/** Parses and validates a policy text: the Policy, or every fault with its line. */
export function parsePolicy(text: string): { policy: Policy; errors?: undefined } | { policy?: undefined; errors: PolicyError[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return { errors: doc.errors.map((e) => ({ ...at(lines, e.pos[0]), message: e.message.split('\n')[0]! })) };
  }
  const result = PolicySchema.safeParse(doc.toJS() ?? {});
  if (result.success) return { policy: Policy.of(result.data) };
  return {
    errors: result.error.issues.map((issue) => {
      const node = nodeAt(doc.contents, issue.path);
      const unknownKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
      const target = unknownKey !== undefined ? keyNode(node, unknownKey) : node;
      const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      return { ...at(lines, target?.range?.[0] ?? 0), message: `${where}${issue.message}` };
    }),
  };
}

function at(lines: LineCounter, offset: number): { line: number; col: number } {
  const { line, col } = lines.linePos(offset);
  return { line, col };
}

/** The deepest node on `path` that the text has (a missing key: its map). */
function nodeAt(root: unknown, path: readonly PropertyKey[]): Node | undefined {
  let node = root as Node | undefined;
  for (const step of path) {
    let next: unknown;
    if (isMap(node)) next = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(step))?.value;
    else if (isSeq(node) && typeof step === 'number') next = node.items[step];
    if (!next || typeof next !== 'object' || !('range' in next)) break;
    node = next as Node;
  }
  return node;
}

/** The key `key` of a map (an unknown key is reported where it is written). */
function keyNode(map: Node | undefined, key: string): Node | undefined {
  if (!isMap(map)) return map;
  const pair = map.items.find((it) => isScalar(it.key) && String(it.key.value) === key);
  return (pair?.key as Node | undefined) ?? map;
}
