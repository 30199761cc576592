import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SluiceError } from './errors.js';
import { writeFileAtomic } from './private-files.js';
import { GroupCommit, readStateFile } from './state-store.js';
import { codeOf } from './test-support.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** How the token state writes its files: into the state directory made at start, never a new one. */
const stateWrite = { createDir: false };

describe('writeFileAtomic', () => {
  it('replaces a file with mode 0600 and leaves no temp files', () => {
    const path = join(dir, 'state');
    writeFileSync(path, 'old', { mode: 0o644 });
    writeFileAtomic(path, 'new', 0o600, stateWrite);
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['state']);
  });

  it('fails with STATE_IO, leaving nothing behind, when the directory is missing', () => {
    expect(codeOf(() => writeFileAtomic(join(dir, 'missing', 'state'), 'x', 0o600, stateWrite))).toBe('STATE_IO');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('reads back what it wrote, and nothing for a missing file', () => {
    writeFileAtomic(join(dir, 'a'), 'hello', 0o600, stateWrite);
    expect(readStateFile(join(dir, 'a'))?.toString()).toBe('hello');
    expect(readStateFile(join(dir, 'b'))).toBeUndefined();
  });
});

describe('GroupCommit', () => {
  it('shares one write among the commits of a tick, and resolves a commit only after a write that saw it', async () => {
    let state = 0;
    const snapshots: number[] = [];
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const gc = new GroupCommit(async () => {
      snapshots.push(state);
      await gate;
    });
    const order: string[] = [];
    state = 1;
    const first = Array.from({ length: 100 }, () => gc.commit());
    first[0]!.then(() => order.push('first'));
    await new Promise((r) => setImmediate(r)); // the first write has started with state 1
    expect(snapshots).toEqual([1]);
    state = 2;
    const second = Array.from({ length: 100 }, () => gc.commit());
    second[0]!.then(() => order.push('second'));
    const gate1 = release;
    gate = new Promise<void>((r) => (release = r));
    gate1();
    await Promise.all(first);
    expect(order).toEqual(['first']); // the second batch waits for its own write
    release();
    await Promise.all(second);
    expect(snapshots).toEqual([1, 2]);
    expect(gc.writes).toBe(2);
    expect(order).toEqual(['first', 'second']);
    await gc.idle();
  });

  it('rejects the commits of a failed write and recovers on the next', async () => {
    let fail = true;
    const gc = new GroupCommit(async () => {
      if (fail) throw new SluiceError('STATE_IO', 'disk full');
    });
    const err = await gc.commit().catch((e: unknown) => e);
    expect((err as SluiceError).code).toBe('STATE_IO');
    fail = false;
    await gc.commit();
    expect(gc.writes).toBe(2);
  });
});
