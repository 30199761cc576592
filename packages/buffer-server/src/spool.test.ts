import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Spool } from './spool.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function spool(limit = 64 * 1024 * 1024): Spool {
  const dir = mkdtempSync(join(tmpdir(), 'bs-spool-'));
  dirs.push(dir);
  return new Spool(dir, 'unit', limit);
}

/** Frame i: its own length and bytes, so a frame read back from the wrong offset shows. */
const frameOf = (i: number): Buffer => Buffer.alloc(1 + ((i * 37) % 300), i & 0xff);

describe('Spool (docs/protocol.md "Bounds")', () => {
  it('reads back every frame of appends far larger than one writev takes (3,000 frames), byte for byte', () => {
    const s = spool();
    const file = s.create();
    const first = Array.from({ length: 3000 }, (_, i) => frameOf(i));
    const second = Array.from({ length: 5 }, (_, i) => frameOf(3000 + i));
    const size = (fs: Buffer[]) => fs.reduce((n, f) => n + f.length, 0);
    expect(s.append(file, first)).toBe(size(first));
    expect(s.append(file, second)).toBe(size(second));
    const all = [...first, ...second];
    expect(statSync(file.path).size).toBe(size(all));
    expect(statSync(file.path).mode & 0o777).toBe(0o600);
    expect(s.bytes).toBe(size(all));
    expect(s.read(file, 0, all.length)).toEqual(all);
    expect(s.read(file, 2998, 3002)).toEqual(all.slice(2998, 3002));
    s.remove(file);
    expect(s.bytes).toBe(0);
  });
});
