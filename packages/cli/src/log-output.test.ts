import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@sluice/common';
import { StramLogSink, lineFormatter, logFormatFor } from './log-output.js';

describe('log output', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('is pretty on a terminal and JSON when piped, unless --log-format says', () => {
    expect(logFormatFor(undefined, { isTTY: true })).toBe('pretty');
    expect(logFormatFor(undefined, { isTTY: false })).toBe('json');
    expect(logFormatFor('json', { isTTY: true })).toBe('json');
    expect(logFormatFor('pretty', {})).toBe('pretty');
  });

  it('renders a JSON line readably, and passes other lines through', () => {
    const line = JSON.stringify({ level: 40, time: 0, name: 'stram', msg: 'REST request refused', reason: 'malformed' });
    const pretty = lineFormatter('pretty', false)(line);
    expect(() => JSON.parse(pretty)).toThrow();
    expect(pretty).toMatch(/WARN/);
    expect(pretty).toContain('malformed');
    expect(lineFormatter('json', false)(line)).toBe(`${line}\n`);
    expect(lineFormatter('pretty', false)('    at main (file.js:1:1)')).toBe('    at main (file.js:1:1)\n');
  });

  it('copies every line, those before the file was named included, to a 0600 file as redacted JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-log-'));
    dirs.push(dir);
    const seen: string[] = [];
    const sink = new StramLogSink('pretty', { write: (t: string) => seen.push(t), isTTY: false });
    const logger = createLogger({ name: 'stram', level: 'info', destination: sink });
    logger.info({ token: 'secret-token-value' }, 'early');
    sink.attach(join(dir, 'stram.log'));
    logger.info('late');
    const lines = readFileSync(join(dir, 'stram.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; token?: string });
    expect(lines.map((l) => l.msg)).toEqual(['early', 'late']);
    expect(lines[0]!.token).toBe('[redacted]');
    expect(statSync(join(dir, 'stram.log')).mode & 0o777).toBe(0o600);
    expect(seen).toHaveLength(2);
    expect(seen.join('')).not.toContain('secret-token-value');
  });
});
