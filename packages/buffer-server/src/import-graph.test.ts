import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The package's modules import one another one way only (STYLE.md "Two modules that import each
 * other: pass a narrow interface instead"): connections reach their server through
 * ConnectionHost, stats read a StatsSource. Type-only imports count too.
 */

const here = dirname(fileURLToPath(import.meta.url));

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of readdirSync(here).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts'))) {
    const src = readFileSync(join(here, f), 'utf8');
    const deps = [...src.matchAll(/^(?:import|export)\s[^;]*?from\s+'\.\/([^']+)\.js'/gms)].map((m) => `${m[1]!}.ts`);
    graph.set(f, deps);
  }
  return graph;
}

function cycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    path.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === 'open') found.push([...path.slice(path.indexOf(d)), d].join(' -> '));
      else if (!state.has(d)) visit(d);
    }
    path.pop();
    state.set(n, 'done');
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return found;
}

describe('buffer-server imports', () => {
  it('finds a cycle when there is one (the check itself)', () => {
    expect(cycles(new Map([['a.ts', ['b.ts']], ['b.ts', ['a.ts']]]))).toEqual(['a.ts -> b.ts -> a.ts']);
  });

  it('has no import cycle', () => {
    const graph = importGraph();
    expect(graph.get('connection.ts')).toContain('connection-registry.ts');
    expect(cycles(graph)).toEqual([]);
  });
});
