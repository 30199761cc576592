import { FAILURE_LIMITS, type FailureReport } from '@sluice/common';

/**
 * What a container tells STRAM about an exception (docs/protocol.md "Umbilical commands and
 * counters"): `Name: message` and the stack, cut to the heartbeat's limits so the report itself
 * can never make STRAM refuse the heartbeat. A thrown non-Error (`throw 'x'`) has no stack.
 */
export function failureReport(thrown: unknown, at: number, operator?: string): FailureReport {
  const err = thrown instanceof Error ? thrown : undefined;
  const message = err ? `${err.name}: ${err.message}` : `thrown: ${String(thrown)}`;
  return {
    ...(operator !== undefined ? { operator } : {}),
    message: cut(message, FAILURE_LIMITS.message),
    ...(err?.stack ? { stack: cut(err.stack, FAILURE_LIMITS.stack) } : {}),
    at: Math.floor(at),
  };
}

/** At most `max` UTF-16 units (zod's string length), not splitting a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}
