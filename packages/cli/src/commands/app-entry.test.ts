import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSluiceError } from '@sluice/common';
import { planModule } from '@sluice/stram';
import { appEntry } from './app-entry.js';
import { initApp } from './init.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-app-entry-'));
  dirs.push(d);
  return d;
}
function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}
function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return isSluiceError(err) ? err.code : `not a SluiceError: ${String(err)}`;
  }
  return undefined;
}

/** An app folder with no @sluice dependency: the operator's output is the value a local package exports. */
function folderWithDependency(root: string, pkg: object): string {
  const dir = join(root, 'app');
  write(join(dir, 'package.json'), JSON.stringify(pkg));
  write(join(dir, 'node_modules', 'tiny-dep', 'package.json'), JSON.stringify({ name: 'tiny-dep', type: 'module', exports: './index.js' }));
  write(join(dir, 'node_modules', 'tiny-dep', 'index.js'), "export const OPERATOR = 'fromdep';\n");
  write(
    join(dir, 'dist', 'app.js'),
    [
      "import { OPERATOR } from 'tiny-dep';",
      'class Source { emitTuples() {} }',
      "export default { name: 'dep-app', operators: { [OPERATOR]: { create: () => new Source() } }, streams: {} };",
      '',
    ].join('\n'),
  );
  return dir;
}

describe('appEntry: what sluice launch loads from an app folder', () => {
  it('takes package.json "main", and "exports" before it', () => {
    const root = temp();
    const dir = folderWithDependency(root, { name: 'a', type: 'module', main: 'dist/app.js' });
    expect(appEntry(dir)).toBe(join(dir, 'dist', 'app.js'));
    write(join(dir, 'package.json'), JSON.stringify({ type: 'module', main: 'missing.js', exports: { '.': { import: './dist/app.js' } } }));
    expect(appEntry(dir)).toBe(join(dir, 'dist', 'app.js'));
    write(join(dir, 'package.json'), JSON.stringify({ type: 'module', exports: './dist/app.js' }));
    expect(appEntry(dir)).toBe(join(dir, 'dist', 'app.js'));
  });

  it("resolves the app's own dependencies from its folder, also when the folder is reached through a symlink", async () => {
    const root = temp();
    const dir = folderWithDependency(root, { name: 'a', type: 'module', main: 'dist/app.js' });
    const elsewhere = join(temp(), 'link');
    symlinkSync(dir, elsewhere, 'dir');
    expect(appEntry(elsewhere)).toBe(join(dir, 'dist', 'app.js'));
    // STRAM's loader, as sluice launch uses it: the dependency's export names the operator.
    const plan = await planModule(appEntry(elsewhere));
    expect(plan.logical.operators.map((o) => o.name)).toEqual(['fromdep']);
  });

  it('refuses a folder without package.json, with bad JSON, naming no entry, or an entry not built: BAD_APP_PACKAGE', () => {
    const root = temp();
    mkdirSync(join(root, 'empty'));
    expect(codeOf(() => appEntry(join(root, 'empty')))).toBe('BAD_APP_PACKAGE');
    expect(() => appEntry(join(root, 'empty'))).toThrow(/has no package\.json/);
    write(join(root, 'bad', 'package.json'), '{ "main": ');
    expect(() => appEntry(join(root, 'bad'))).toThrow(/is not valid JSON/);
    write(join(root, 'none', 'package.json'), JSON.stringify({ name: 'x', exports: { './sub': './x.js' } }));
    expect(() => appEntry(join(root, 'none'))).toThrow(/names no entry/);
    write(join(root, 'unbuilt', 'package.json'), JSON.stringify({ main: 'dist/app.js' }));
    expect(() => appEntry(join(root, 'unbuilt'))).toThrow(/does not exist: build the app first/);
    // A path that does not exist is left to STRAM's loader ("app module ... does not exist").
    expect(appEntry(join(root, 'nowhere.js'))).toBe(join(root, 'nowhere.js'));
  });
});

describe('initApp', () => {
  it('refuses a directory that is not empty (FILE_EXISTS), and writes nothing into it', () => {
    const root = temp();
    write(join(root, 'taken', 'notes.txt'), 'mine');
    expect(codeOf(() => initApp(join(root, 'taken')))).toBe('FILE_EXISTS');
    expect(() => initApp(join(root, 'taken'))).toThrow(/is not empty/);
    expect(codeOf(() => appEntry(join(root, 'taken')))).toBe('BAD_APP_PACKAGE');
  });

  it('names the app after its folder, and the folder is a launchable app once built', () => {
    const made = initApp(join(temp(), '9 My App'));
    expect(made.name).toBe('my-app');
    expect(() => appEntry(made.dir)).toThrow(/build the app first/);
  });
});
