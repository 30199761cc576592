import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layout rules of docs/architecture.md ("Package dependencies"), checked on the sources so a
 * change that breaks one fails here rather than in a reviewer's memory.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.ts$/.test(name)) out.push(p);
  }
  return out;
}

const packages = readdirSync(join(root, 'packages'));
const sources = (pkg: string): string[] => walk(join(root, 'packages', pkg, 'src')).filter((f) => !f.endsWith('.test.ts'));

/** Relative and workspace imports of one file (static `import`/`export ... from` and `import()`). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) found.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

/** Which workspace packages each package may import; the cli assembles them all. */
const allowed: Record<string, string[]> = {
  common: [],
  app: ['common'],
  'buffer-server': ['common'],
  container: ['common', 'buffer-server'],
  stram: ['common'],
  gateway: ['common', 'stram'],
  cli: ['common', 'app', 'buffer-server', 'container', 'stram', 'gateway'],
};

describe('source layout (docs/architecture.md, "Package dependencies")', () => {
  it('knows every package', () => {
    expect(packages.sort()).toEqual(Object.keys(allowed).sort());
  });

  for (const pkg of packages) {
    it(`${pkg} imports only the packages it may`, () => {
      const wrong: string[] = [];
      for (const file of sources(pkg)) {
        for (const spec of importsOf(file)) {
          const m = /^@sluice\/([^/]+)/.exec(spec);
          if (m && m[1] !== pkg && !allowed[pkg]!.includes(m[1]!)) wrong.push(`${relative(root, file)} -> ${spec}`);
        }
      }
      expect(wrong).toEqual([]);
    });

    it(`${pkg} has no import cycle among its modules`, () => {
      const files = sources(pkg);
      const edges = new Map<string, string[]>();
      for (const file of files) {
        const targets = importsOf(file)
          .filter((s) => s.startsWith('.'))
          .map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')))
          .filter((t) => files.includes(t));
        edges.set(file, targets);
      }
      const cycles: string[] = [];
      const state = new Map<string, 'visiting' | 'done'>();
      const stack: string[] = [];
      const visit = (f: string): void => {
        state.set(f, 'visiting');
        stack.push(f);
        for (const t of edges.get(f) ?? []) {
          if (state.get(t) === 'visiting') cycles.push([...stack.slice(stack.indexOf(t)), t].map((x) => relative(root, x)).join(' -> '));
          else if (!state.has(t)) visit(t);
        }
        stack.pop();
        state.set(f, 'done');
      };
      for (const f of files) if (!state.has(f)) visit(f);
      expect(cycles).toEqual([]);
    });
  }

  // A parsed message gets its type from the schema that checked it (protocol.ts). The one cast
  // through unknown allowed is a reach into a library's private field (`as unknown as { _x ... }`),
  // which the code beside it must justify and guard.
  it('no parsed message is cast through unknown in the sources', () => {
    const casts = packages.flatMap((pkg) =>
      sources(pkg).flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .map((line, i) => ({ line, at: `${relative(root, file)}:${i + 1}` }))
          .filter(({ line }) => /as unknown as(?! \{ _)/.test(line))
          .map(({ at, line }) => `${at}: ${line.trim()}`),
      ),
    );
    expect(casts).toEqual([]);
  });

  it('comments cite documents in the repository, never a work-item number or a file outside it', () => {
    const files = [...packages.flatMap((pkg) => walk(join(root, 'packages', pkg, 'src'))), ...walk(join(root, 'test')), ...walk(join(root, 'bench', 'src'))];
    const bad: string[] = [];
    for (const file of files) {
      if (file === fileURLToPath(import.meta.url)) continue;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/DESIGN\.md|STYLE\.md|\bnotes\/[\w-]+\.md|\.\.\/shared|\b[Ii]ssue \d+\b|\(#\d+\)/.test(line)) bad.push(`${relative(root, file)}:${i + 1}: ${line.trim().slice(0, 100)}`);
        });
    }
    expect(bad).toEqual([]);
  });

  it('no source file passes ~400 lines unless its header says why it is one cohesive thing', () => {
    const long = packages.flatMap((pkg) =>
      sources(pkg)
        .map((file) => ({ file, text: readFileSync(file, 'utf8') }))
        .filter(({ text }) => text.split('\n').length > 420 && !/one cohesive/i.test(text.split('\n').slice(0, 45).join('\n')))
        .map(({ file, text }) => `${relative(root, file)} (${text.split('\n').length} lines)`),
    );
    expect(long).toEqual([]);
  });
});
