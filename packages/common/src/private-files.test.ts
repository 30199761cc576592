import { chmodSync, chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCredentials, writeCredentials } from './credentials.js';
import { readPrivateFile, writeFileAtomic } from './private-files.js';
import { readSecretFile, writeSecretFile } from './secret-file.js';
import { readStateFile } from './state-store.js';
import { codeOf } from './test-support.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-private-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const rule = { what: 'test file', code: 'BAD_CONFIG' } as const;
const isRoot = process.getuid?.() === 0;

describe('writeFileAtomic', () => {
  it('creates missing parent directories 0700 and the file 0600, whatever the umask', () => {
    const path = join(dir, 'a', 'b', 'file');
    const umask = process.umask(0);
    try {
      writeFileAtomic(path, 'x');
    } finally {
      process.umask(umask);
    }
    expect(readFileSync(path, 'utf8')).toBe('x');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'a', 'b')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['file']);
  });

  it('replaces a file in place, with the mode asked for', () => {
    const path = join(dir, 'file');
    writeFileSync(path, 'old', { mode: 0o644 });
    writeFileAtomic(path, 'new', 0o640);
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['file']);
  });

  it('fails with STATE_IO and leaves no temp file when the target cannot be replaced', () => {
    const path = join(dir, 'taken');
    writeFileAtomic(join(path, 'inner'), 'x'); // `taken` is a directory: the rename over it fails
    expect(codeOf(() => writeFileAtomic(path, 'y'))).toBe('STATE_IO');
    expect(readdirSync(dir)).toEqual(['taken']);
  });
});

describe('readPrivateFile: files of secrets are 0600 and our own', () => {
  it('reads a 0600 file of ours', () => {
    const path = join(dir, 'ok');
    writeFileAtomic(path, 'secret');
    expect(readPrivateFile(path, rule).toString()).toBe('secret');
  });

  it('refuses a file group or others may read, with the caller\'s code', () => {
    const path = join(dir, 'open');
    writeFileAtomic(path, 'secret');
    for (const mode of [0o640, 0o604, 0o660]) {
      chmodSync(path, mode);
      expect(codeOf(() => readPrivateFile(path, rule))).toBe('BAD_CONFIG');
      expect(codeOf(() => readPrivateFile(path, { what: 'state file', code: 'STATE_CORRUPT' }))).toBe('STATE_CORRUPT');
    }
  });

  it('refuses a missing file, or reads it as undefined when asked to', () => {
    expect(codeOf(() => readPrivateFile(join(dir, 'none'), rule))).toBe('BAD_CONFIG');
    expect(readPrivateFile(join(dir, 'none'), { ...rule, missingOk: true })).toBeUndefined();
  });

  // Only root can give a file away; elsewhere the rule is the same code path, untested here.
  it.runIf(isRoot)("refuses a 0600 file another user owns: credentials, secret and state files alike", () => {
    const secret = join(dir, 'bs.secret');
    writeSecretFile(secret);
    const state = join(dir, 'tokens');
    writeFileAtomic(state, '{}');
    const credentials = join(dir, 'credentials');
    writeCredentials(credentials, {
      version: 1,
      app: 'app-1',
      container: 'c1',
      stram: 'ws://127.0.0.1:1',
      stramToken: 'x',
      bufferServer: { id: 'bs-c1', secret: 'a'.repeat(64) },
      subscribe: {},
      appModule: '/app.js',
      appDir: dir,
      settings: { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 30_000, windowMs: 500, checkpointWindows: 60, insecure: false },
    });
    // Each reads while it is ours...
    readSecretFile(secret);
    expect(readStateFile(state)).toBeDefined();
    expect(readCredentials(credentials).container).toBe('c1');
    for (const path of [secret, state, credentials]) chownSync(path, 65534, 65534);
    // ...and is refused once another user owns it, mode 0600 still.
    expect(statSync(secret).mode & 0o777).toBe(0o600);
    expect(codeOf(() => readSecretFile(secret))).toBe('BAD_CONFIG');
    expect(codeOf(() => readStateFile(state))).toBe('STATE_CORRUPT');
    expect(codeOf(() => readCredentials(credentials))).toBe('BAD_CONFIG');
    expect(codeOf(() => readPrivateFile(secret, rule))).toBe('BAD_CONFIG');
  });
});
