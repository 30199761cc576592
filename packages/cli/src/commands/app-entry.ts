import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SluiceError } from '@sluice/common';

/**
 * What `sluice launch` loads: a built module given by path, or an app folder (as `sluice init`
 * makes) whose package.json names the entry in `exports` (the "." entry) or `main`. The module is
 * loaded by its real path, so the app's own dependencies resolve from its folder's node_modules.
 */
export function appEntry(path: string): string {
  const given = resolve(path);
  // A path that is not there is left to the loader, which says to build the app first.
  if (!existsSync(given)) return given;
  if (!statSync(given).isDirectory()) return realpathSync(given);
  const manifest = join(given, 'package.json');
  if (!existsSync(manifest)) throw bad(`${path} has no package.json: an app folder names its built entry there ("main"); sluice init DIR makes one`);
  let pkg: unknown;
  try {
    pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  } catch (err) {
    throw bad(`${manifest} is not valid JSON: ${(err as Error).message}`);
  }
  const entry = entryOf(pkg);
  if (entry === undefined) throw bad(`${manifest} names no entry: set "main" (or "exports") to the built module, e.g. "dist/app.js"`);
  const file = resolve(given, entry);
  if (!existsSync(file)) throw bad(`the entry ${entry} named by ${manifest} does not exist: build the app first (npm run build)`);
  return realpathSync(file);
}

/** `exports` (a string, or the "." entry's import/default condition) before `main`, as Node resolves a package's own name. */
function entryOf(pkg: unknown): string | undefined {
  if (pkg === null || typeof pkg !== 'object' || Array.isArray(pkg)) return undefined;
  const { exports, main } = pkg as { exports?: unknown; main?: unknown };
  const fromExports = conditional(typeof exports === 'object' && exports !== null && '.' in exports ? (exports as Record<string, unknown>)['.'] : exports);
  if (fromExports !== undefined) return fromExports;
  return typeof main === 'string' && main !== '' ? main : undefined;
}

function conditional(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return undefined;
  const t = target as Record<string, unknown>;
  return conditional(t['import']) ?? conditional(t['node']) ?? conditional(t['default']);
}

function bad(message: string): SluiceError {
  return new SluiceError('BAD_APP_PACKAGE', message);
}
