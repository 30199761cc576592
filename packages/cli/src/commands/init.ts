import { existsSync, mkdirSync, readdirSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { SluiceError, writeFileAtomic } from '@sluice/common';
import { withExamples } from '../help.js';
import { templateFiles } from './app-template.js';

/**
 * `sluice init DIR`: a new app folder (docs/guide.md "Write an app"). Nothing is downloaded: the
 * packages an app needs are linked from this Sluice installation into the folder's node_modules,
 * as `npm link` would — @sluice/app (the API), @sluice/container (runLocal, for tests), and the
 * tools its scripts call (typescript, vitest, @types/node), with `tsc`, `vitest` and `sluice` in
 * node_modules/.bin so `npm run build | test | launch` use this installation's.
 */

/** Package name → the installed file its bin link points at (relative to the package), if any. */
const LINKED = {
  '@sluice/app': undefined,
  '@sluice/container': undefined,
  typescript: { tsc: 'bin/tsc' },
  vitest: { vitest: 'vitest.mjs' },
  '@types/node': undefined,
} as const satisfies Record<string, Record<string, string> | undefined>;

const CLI_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function registerInitCommand(program: Command): void {
  const init = program
    .command('init')
    .description('make a new app folder: package.json, tsconfig.json, an example app and its test, linked to this installation (no download)')
    .argument('<dir>', 'a new or empty directory')
    .action((dir: string) => {
      const made = initApp(dir);
      process.stdout.write(
        `created app ${made.name} in ${made.dir}\n  cd ${dir}\n  npm run build    # tsc: src/ -> dist/\n  npm test         # vitest: src/*.test.ts with the local harness (runLocal)\n  npm run launch   # sluice launch . (STRAM in the foreground)\n`,
      );
    });
  withExamples(init, ['init ./sums', 'init ~/apps/clicks']);
}

export function initApp(path: string): { dir: string; name: string } {
  const dir = resolve(path);
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0)) {
    throw new SluiceError('FILE_EXISTS', `${path} is not empty: sluice init makes an app in a new or empty directory`);
  }
  const name = appNameOf(dir);
  // Every link target first: an installation missing one refuses before anything is written.
  const links = (Object.entries(LINKED) as [string, Record<string, string> | undefined][]).map(([pkg, bins]) => ({ pkg, bins, root: installed(pkg) }));
  mkdirSync(join(dir, 'src'), { recursive: true }); // a source folder: the umask's modes, not the app directory's 0700
  for (const [file, text] of Object.entries(templateFiles(name))) writeFileAtomic(join(dir, file), text, 0o644);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  for (const { pkg, bins, root } of links) {
    mkdirSync(dirname(join(modules, pkg)), { recursive: true });
    symlinkSync(root, join(modules, pkg), 'dir');
    for (const [bin, file] of Object.entries(bins ?? {})) symlinkSync(join(root, file), join(modules, '.bin', bin));
  }
  symlinkSync(join(CLI_ROOT, 'bin', 'sluice.js'), join(modules, '.bin', 'sluice'));
  return { dir, name };
}

/** The folder's name as an app name (a letter, then letters, digits, "_" or "-"). */
function appNameOf(dir: string): string {
  const name = basename(dir).toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^[^a-z]+/, '');
  return name === '' ? 'app' : name.slice(0, 64);
}

/** Where this installation has a package: node_modules of the CLI's folder or an ancestor, as Node resolves it. */
function installed(pkg: string): string {
  for (let at = CLI_ROOT; ; at = dirname(at)) {
    const candidate = join(at, 'node_modules', pkg);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(at) === at) throw new SluiceError('BAD_CONFIG', `this Sluice installation has no ${pkg} (looked from ${CLI_ROOT} up); run pnpm install in it`);
  }
}
