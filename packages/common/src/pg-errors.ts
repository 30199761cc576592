/**
 * PostgreSQL errors Sluice's store clients tell apart (docs/stores.md). `CREATE TABLE IF NOT
 * EXISTS` is not safe against itself: two sessions that both find the table missing race on the
 * catalog, and the loser fails with one of these codes although the table is there. Containers of
 * one app create their tables at once as they start, so this race is the common case, not a rare one.
 */

/** SQLSTATEs of a concurrent CREATE that lost the race: unique_violation (on pg_type), duplicate_table, duplicate_object. */
const CREATED_MEANWHILE = new Set(['23505', '42P07', '42710']);

/** `err` says that what a `CREATE ... IF NOT EXISTS` was creating was created meanwhile by another session. */
export function createdMeanwhile(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CREATED_MEANWHILE.has(code);
}
