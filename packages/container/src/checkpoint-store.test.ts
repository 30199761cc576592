import { mkdtempSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SluiceError } from '@sluice/common';
import { FileCheckpointStore } from './checkpoint-store.js';

const dirs: string[] = [];
function appDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-ckpt-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('CheckpointStore', () => {
  it('saves and loads state per operator and window, 0600, with no temp files left', async () => {
    const dir = appDir();
    const store = new FileCheckpointStore(dir);
    await store.save('count#1', 60, { counts: { a: 3 }, big: 2 ** 40 });
    await store.save('count#1', 120, { counts: { a: 9 } });
    expect(await store.load('count#1', 60)).toEqual({ counts: { a: 3 }, big: 2 ** 40 });
    expect(await store.windows('count#1')).toEqual([60, 120]);
    expect(readdirSync(join(dir, 'checkpoints', 'count#1')).sort()).toEqual(['120', '60']);
    expect(statSync(join(dir, 'checkpoints', 'count#1', '60')).mode & 0o777).toBe(0o600);
  });

  it('stores undefined state as null', async () => {
    const store = new FileCheckpointStore(appDir());
    await store.save('gen#0', 1, undefined);
    expect(await store.load('gen#0', 1)).toBeNull();
  });

  it('prunes checkpoints older than the committed window but keeps it', async () => {
    const store = new FileCheckpointStore(appDir());
    for (const w of [1, 2, 3]) await store.save('out#0', w, w);
    await store.prune('out#0', 2);
    expect(await store.windows('out#0')).toEqual([2, 3]);
  });

  it('refuses a damaged or missing checkpoint with a typed error', async () => {
    const dir = appDir();
    const store = new FileCheckpointStore(dir);
    await store.save('a#0', 5, 1);
    writeFileSync(join(dir, 'checkpoints', 'a#0', '6'), Buffer.from([0x92, 0x01, 0x02]));
    await expect(store.load('a#0', 6)).rejects.toThrow(SluiceError);
    await expect(store.load('a#0', 7)).rejects.toThrow(/cannot be read/);
    await expect(store.save('../evil', 1, 1)).rejects.toThrow(/not a physical operator id/);
  });
});
