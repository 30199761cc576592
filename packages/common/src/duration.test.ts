import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('formatDuration', () => {
  it('writes a duration in the largest exact unit, as parseDuration reads it', () => {
    const cases: [number, string][] = [[500, '500ms'], [1000, '1s'], [1500, '1500ms'], [90_000, '90s'], [120_000, '2m'], [3_600_000, '1h'], [7 * 86_400_000, '7d']];
    for (const [ms, text] of cases) {
      expect(formatDuration(ms)).toBe(text);
      expect(parseDuration(text)).toBe(ms);
    }
  });
});
