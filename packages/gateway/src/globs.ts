/**
 * Principal globs, as `--proxy-users` and policy bindings take them: `*` any run of characters,
 * `?` one, everything else literal (`*@EXAMPLE.COM`, `svc-?@EXAMPLE.COM`).
 */

/** A test that any of `globs` matches a principal whole. */
export function globMatcher(globs: readonly string[]): (principal: string) => boolean {
  const patterns = globs.map((g) => new RegExp(`^${g.split('').map(globChar).join('')}$`));
  return (principal) => patterns.some((p) => p.test(principal));
}

function globChar(c: string): string {
  if (c === '*') return '.*';
  if (c === '?') return '.';
  return c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
}
