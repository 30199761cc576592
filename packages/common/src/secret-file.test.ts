import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSecret, readSecretFile, writeSecretFile } from './secret-file.js';
import { codeOf } from './test-support.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-secret-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('secret files', () => {
  it('writes 64 lowercase hex characters and a newline with mode 0600, and reads them back', () => {
    const path = join(dir, 'bs.secret');
    const secret = generateSecret();
    writeSecretFile(path, secret);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(readSecretFile(path).equals(secret)).toBe(true);
  });

  it('refuses to overwrite an existing file', () => {
    const path = join(dir, 'bs.secret');
    writeSecretFile(path);
    const before = readFileSync(path, 'utf8');
    expect(codeOf(() => writeSecretFile(path))).toBe('FILE_EXISTS');
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('refuses a file others can read', () => {
    const path = join(dir, 'bs.secret');
    writeSecretFile(path);
    chmodSync(path, 0o640);
    expect(codeOf(() => readSecretFile(path))).toBe('BAD_CONFIG');
    chmodSync(path, 0o604);
    expect(codeOf(() => readSecretFile(path))).toBe('BAD_CONFIG');
  });

  it('rejects bad content and missing files', () => {
    const path = join(dir, 'bad');
    for (const content of ['', 'abc\n', 'A'.repeat(64), `${'a'.repeat(64)}\n\n`, `${'a'.repeat(63)}g\n`, `${'a'.repeat(66)}\n`, ` ${'a'.repeat(64)}\n`]) {
      writeFileSync(path, content, { mode: 0o600 });
      expect([content, codeOf(() => readSecretFile(path))]).toEqual([content, 'BAD_CONFIG']);
    }
    expect(codeOf(() => readSecretFile(join(dir, 'missing')))).toBe('BAD_CONFIG');
    expect(generateSecret()).toHaveLength(32);
  });
});
