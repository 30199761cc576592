import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bufferTokenPassword, checkBufferTokenLive, readSecretFile, safeEqual, tokenFromText } from '@sluice/common';
import { assertBuilt, runSluice } from '../test-support.js';

// Runs the built CLI as a user would (`pnpm exec tsc -b` first), one child process per command.
const sluice = (...args: string[]) => runSluice(args);

let dir: string;
beforeAll(assertBuilt);
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('sluice secret', () => {
  it('writes a 0600 secret file and refuses to overwrite it (exit 2)', () => {
    const out = join(dir, 'bs.secret');
    const first = sluice('secret', '--out', out);
    expect(first.status).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const content = readFileSync(out, 'utf8');
    expect(content).toMatch(/^[0-9a-f]{64}\n$/);
    expect(first.stdout).not.toContain(content.trim()); // the secret is never printed
    const second = sluice('secret', '--out', out);
    expect(second.status).toBe(2);
    expect(second.stderr).toContain('[FILE_EXISTS]');
    expect(second.stderr).toContain(out);
    expect(readFileSync(out, 'utf8')).toBe(content);
  });
});

describe('sluice token buffer', () => {
  function secretFile(): string {
    const out = join(dir, 'bs.secret');
    expect(sluice('secret', '--out', out).status).toBe(0);
    return out;
  }

  it('prints a token that carries the requested scope and verifies against the secret', () => {
    const file = secretFile();
    const r = sluice('token', 'buffer', '--secret-file', file, '--bs', 'bs-7', '--stream', 'orders', 'payments', '--access', 'subscribe', '--container', 'c-3', '--ttl', '2h');
    expect(r.status).toBe(0);
    const token = tokenFromText(r.stdout);
    expect(token.kind).toBe('BUFFER_SERVER');
    expect(token.service).toBe('bs-7');
    const v = bufferTokenPassword(readSecretFile(file), token.identifier);
    expect(safeEqual(v.password, token.password)).toBe(true);
    expect(v.scope).toEqual({ bs: 'bs-7', streams: ['orders', 'payments'], access: 'subscribe', container: 'c-3' });
    expect(v.identifier.owner).toBe(userInfo().username);
    expect(v.identifier.maxDate - v.identifier.issueDate).toBe(2 * 3_600_000);
    expect(v.identifier.sequenceNumber).toBeLessThan(2 ** 53);
    checkBufferTokenLive(v.identifier, v.identifier.issueDate, new Set());
    expect(r.stdout).not.toContain(readFileSync(file, 'utf8').trim());
  });

  it('defaults to no container and a 10 minute lifetime', () => {
    const file = secretFile();
    const r = sluice('token', 'buffer', '--secret-file', file, '--bs', 'bs-1', '--stream', 'orders', '--access', 'publish');
    expect(r.status).toBe(0);
    const v = bufferTokenPassword(readSecretFile(file), tokenFromText(r.stdout).identifier);
    expect(v.scope.container).toBeNull();
    expect(v.identifier.maxDate - v.identifier.issueDate).toBe(600_000);
  });

  it('rejects a bad --access, a bad --ttl and a bad secret file with a clear error (exit 2)', () => {
    const file = secretFile();
    const base = ['token', 'buffer', '--secret-file', file, '--bs', 'bs-1', '--stream', 'orders'];
    const access = sluice(...base, '--access', 'admin');
    expect(access.status).toBe(2);
    expect(access.stderr).toMatch(/--access.*\[BAD_CONFIG\]/);
    expect(access.stdout).toBe('');
    for (const ttl of ['10', 'ten minutes', '0s', '-5m']) {
      const r = sluice(...base, '--access', 'publish', '--ttl', ttl);
      expect([ttl, r.status]).toEqual([ttl, 2]);
      expect(r.stderr).toMatch(/--ttl.*\[BAD_CONFIG\]/);
      expect(r.stdout).toBe('');
    }
    const bad = join(dir, 'bad.secret');
    writeFileSync(bad, 'not hex\n', { mode: 0o600 });
    const r = sluice('token', 'buffer', '--secret-file', bad, '--bs', 'bs-1', '--stream', 'orders', '--access', 'publish');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('[BAD_CONFIG]');
  });

  it('refuses to run without its required options', () => {
    const r = sluice('token', 'buffer', '--bs', 'bs-1');
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
  });
});
