import { expect } from 'vitest';

/**
 * What the Docker and Swarm tests expect of the rogue (docker-rogue.ts): a process on the app's
 * network with no credentials, refused everywhere.
 */

export type RogueResult = Record<string, unknown>;

/** One line per attempt, for the test log: `buffer-server/bs-c1/words/random-key=4401 ... rest=401`. */
export function rogueLine(rogue: RogueResult[]): string {
  return rogue.map((r) => `${String(r['target'])}${r['stream'] ? `/${String(r['bs'])}/${String(r['stream'])}` : ''}${r['forgery'] ? `/${String(r['forgery'])}` : ''}=${String(r['code'] ?? r['status'])}`).join(' ');
}

/** Every buffer server that feeds others (three in the demo: generator, two counters), every stream forged two ways: 4401 after the challenge. */
export function expectBuffersRefused(rogue: RogueResult[], servers = 3): void {
  const bs = rogue.filter((r) => r['target'] === 'buffer-server');
  console.log(`rogue: ${rogueLine(rogue)}`);
  expect(new Set(bs.map((r) => r['bs'])).size).toBe(servers);
  for (const r of bs) expect(r, JSON.stringify(r)).toMatchObject({ code: 4401, frames: ['challenge'] });
}

/** The umbilical refuses both forgeries (4401) and REST answers 401. */
export function expectStramRefused(rogue: RogueResult[]): void {
  const umb = rogue.filter((r) => r['target'] === 'umbilical');
  expect(umb.map((r) => r['forgery'])).toEqual(['random-key', 'zero-key']);
  for (const r of umb) expect(r, JSON.stringify(r)).toMatchObject({ code: 4401, frames: ['challenge'] });
  expect(rogue.find((r) => r['target'] === 'rest')).toMatchObject({ status: 401 });
}
