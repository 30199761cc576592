import { existsSync, mkdirSync, readdirSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { SluiceError, writeFileAtomic } from '@sluice/common';
import { withExamples } from '../help.js';
import { templateFiles } from './app-template.js';

/**
 * `sluice init DIR`: a new app folder (docs/guide.md "Write an app"). Nothing is downloaded: the
 * packages an app needs are this Sluice installation's — @sluice/app (the API), @sluice/container
 * (runLocal, for tests), @sluice/cli (`sluice`) and the tools its scripts call (typescript,
 * vitest, @types/node). package.json declares each as a `file:` dependency on its folder here,
 * and init makes the node_modules links (and .bin entries) exactly as `npm install` makes them
 * from those declarations: so a later `npm install some-package` keeps them instead of pruning
 * them as extraneous, and works offline.
 */

/** Package name → its bins (name → file in the package), and whether only the app's tests and tools need it. */
const LINKED = {
  '@sluice/app': { bins: {}, dev: false },
  '@sluice/container': { bins: {}, dev: true },
  '@sluice/cli': { bins: { sluice: 'bin/sluice.js' }, dev: true },
  typescript: { bins: { tsc: 'bin/tsc' }, dev: true },
  vitest: { bins: { vitest: 'vitest.mjs' }, dev: true },
  '@types/node': { bins: {}, dev: true },
} as const satisfies Record<string, { bins: Record<string, string>; dev: boolean }>;

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
  const links = (Object.entries(LINKED) as [string, { bins: Record<string, string>; dev: boolean }][]).map(([pkg, l]) => ({ pkg, ...l, root: pkg === '@sluice/cli' ? CLI_ROOT : installed(pkg) }));
  const declared = (dev: boolean) => Object.fromEntries(links.filter((l) => l.dev === dev).map((l) => [l.pkg, `file:${l.root}`]));
  mkdirSync(join(dir, 'src'), { recursive: true }); // a source folder: the umask's modes, not the app directory's 0700
  for (const [file, text] of Object.entries(templateFiles(name, declared(false), declared(true)))) writeFileAtomic(join(dir, file), text, 0o644);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  for (const { pkg, bins, root } of links) {
    const link = join(modules, pkg);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), root), link, 'dir');
    for (const [bin, file] of Object.entries(bins)) symlinkSync(join('..', pkg, file), join(modules, '.bin', bin));
  }
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
