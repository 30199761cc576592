import { isAbsolute, relative } from 'node:path';

/**
 * How the user ran this CLI, so the commands it prints (the launch banner's hints, `see '...
 * --help'`, help examples) run as printed (docs/guide.md "The sluice command"): the repository's
 * `./sluice` wrapper passes how it was called in SLUICE_INVOKED_AS; otherwise it is `node` and
 * this script, relative to the working directory when it lies under it.
 */
export function invocation(env: NodeJS.ProcessEnv = process.env, script: string | undefined = process.argv[1], cwd: string = process.cwd()): string {
  const wrapper = env['SLUICE_INVOKED_AS'];
  if (wrapper) return shellWord(wrapper);
  if (script === undefined) return 'sluice';
  const rel = relative(cwd, script);
  const path = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : script;
  return path.endsWith('.js') ? `node ${shellWord(path)}` : shellWord(path);
}

/** A path as one shell word (quoted only when it needs to be). */
function shellWord(text: string): string {
  return /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
