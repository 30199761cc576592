import type { z } from 'zod';
import { SluiceError } from '../errors.js';

/**
 * App config (docs/guide.md "Config"). The launch gives entries `key=value`, for every operator
 * that declares `key`, and `operator.key=value`, for that operator alone (it wins over an
 * app-wide entry of the same key). An operator declares the keys it accepts with a zod object
 * schema, the static `config` of its class (`Operator.withConfig(schema)` sets it and types
 * `this.config`). An entry no operator declares is refused at launch, so a typo fails loudly
 * instead of being ignored; a value the schema refuses is refused naming its key.
 * STRAM checks all of this at launch; a container parses the same entries the same way.
 */

/** A declared config: a zod object schema, whose shape names the keys. */
export type ConfigSchema = z.ZodObject;

export type ConfigEntries = Readonly<Record<string, unknown>>;

/**
 * The static `config` of an instance's class, if it declares one. Checked by shape, not
 * `instanceof`: an app module may bring its own copy of zod.
 */
export function configSchemaOf(operator: string, instance: object): ConfigSchema | undefined {
  const declared = (instance.constructor as { config?: unknown } | undefined)?.config;
  if (declared === undefined) return undefined;
  const s = declared as Partial<ConfigSchema> | null;
  if (s === null || typeof s.safeParse !== 'function' || typeof s.shape !== 'object' || s.shape === null) {
    throw new SluiceError('INVALID_DAG', `operator "${operator}": static config must be a zod object schema (z.object({...}))`);
  }
  return declared as ConfigSchema;
}

/** The keys an operator declares (none without a schema). */
export function declaredKeys(schema: ConfigSchema | undefined): string[] {
  return schema ? Object.keys(schema.shape) : [];
}

/** The entries operator `name` sees: the app-wide ones, then its own `name.key` ones, which win. */
export function entriesFor(config: ConfigEntries, name: string): Record<string, unknown> {
  const prefix = `${name}.`;
  const entries = Object.entries(config);
  return Object.fromEntries([
    ...entries.filter(([k]) => !k.includes('.')),
    ...entries.filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v] as const),
  ]);
}

/** Refuses the first entry no operator declares; the one-line message lists the keys that are. */
export function checkConfigKeys(config: ConfigEntries, declared: ReadonlyMap<string, readonly string[]>): void {
  for (const key of Object.keys(config)) {
    const dot = key.indexOf('.');
    const operator = dot < 0 ? undefined : key.slice(0, dot);
    const known =
      operator === undefined ? [...declared.values()].some((keys) => keys.includes(key)) : (declared.get(operator)?.includes(key.slice(dot + 1)) ?? false);
    if (known) continue;
    const why =
      operator === undefined ? 'is not declared by any operator' : declared.has(operator) ? `is not declared by operator "${operator}"` : `names no operator ("${operator}" is not one)`;
    throw new SluiceError('BAD_CONFIG', `config key "${key}" ${why}; ${knownKeys(declared)}`);
  }
}

function knownKeys(declared: ReadonlyMap<string, readonly string[]>): string {
  const perOperator = [...declared].flatMap(([op, keys]) => keys.map((k) => `${op}.${k}`));
  if (perOperator.length === 0) return 'this app declares no config keys (an operator declares its keys with a static config schema)';
  const appWide = [...new Set([...declared.values()].flat())];
  return `known keys: ${appWide.join(', ')}; per operator: ${perOperator.join(', ')}`;
}

/** An operator's entries parsed by its schema (only the keys it declares); a bad or missing value is refused naming its key. */
export function parseConfig(operator: string, schema: ConfigSchema, entries: ConfigEntries): Record<string, unknown> {
  const own = Object.fromEntries(Object.entries(entries).filter(([k]) => Object.hasOwn(schema.shape, k)));
  const r = schema.safeParse(own);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const key = issue?.path[0];
  if (typeof key !== 'string') throw new SluiceError('BAD_CONFIG', `config of operator "${operator}": ${issue?.message ?? 'invalid'}`);
  const detail = own[key] === undefined ? ` is required (give ${key}=... or ${operator}.${key}=...)` : `: ${JSON.stringify(own[key])} is refused (${issue?.message ?? 'invalid'})`;
  throw new SluiceError('BAD_CONFIG', `config key "${key}" of operator "${operator}"${detail}`);
}
