import { SluiceError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `30s`, `10m`, `2h`, `7d` (docs/protocol.md "Tokens", `--ttl`). */
export function parseDuration(text: string, option = 'duration'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) {
    throw new SluiceError('BAD_CONFIG', `${option}: "${text}" is not a duration; use a number and a unit, like 500ms, 30s, 10m, 2h or 7d`);
  }
  const ms = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  if (ms <= 0) throw new SluiceError('BAD_CONFIG', `${option}: "${text}" must be greater than zero`);
  return ms;
}

/** The inverse of parseDuration, in the largest unit that is exact: 500 → `500ms`, 1000 → `1s`, 90000 → `90s`. */
export function formatDuration(ms: number): string {
  const [unit, size] = Object.entries(UNITS).reverse().find(([, n]) => ms % n === 0 && ms >= n) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };

/** Parses `256MiB`, `1GiB`, `65536` (bytes). */
export function parseSize(text: string, option = 'size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = (m?.[2] ?? '').toLowerCase() || 'b';
  if (!m || SIZE_UNITS[unit] === undefined) {
    throw new SluiceError('BAD_CONFIG', `${option}: "${text}" is not a size; use bytes or a unit, like 64KiB, 256MiB, 1GiB`);
  }
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[unit]!);
  if (bytes <= 0) throw new SluiceError('BAD_CONFIG', `${option}: "${text}" must be greater than zero`);
  return bytes;
}
