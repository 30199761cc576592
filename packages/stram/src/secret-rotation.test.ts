import { describe, expect, it } from 'vitest';
import { RotationPhase, startRotation, stepRotation, type Rotation, type RotationEffect, type RotationEvent } from './secret-rotation.js';

/** Feeds events one after another; returns the final state and every effect, in order. */
function run(r: Rotation, events: RotationEvent[]): { r: Rotation; effects: RotationEffect[] } {
  const effects: RotationEffect[] = [];
  for (const e of events) {
    const step = stepRotation(r, e);
    r = step.next;
    effects.push(...step.effects);
  }
  return { r, effects };
}

const held = (container: string, revision: number): RotationEvent => ({ type: 'held', container, revision });
const minted = (entries: [string, number][]): RotationEvent => ({ type: 'minted', waiting: new Map(entries) });

describe('secret rotation state machine', () => {
  it('confirms once the owner holds the revision with the new secret, not before, and not for another container', () => {
    const r = startRotation('c1', 'bs-c1', 5);
    const early = run(r, [held('c1', 4), held('c2', 9)]);
    expect(early).toEqual({ r, effects: [] });
    const step = stepRotation(r, held('c1', 5));
    expect(step).toEqual({ next: { phase: RotationPhase.confirmed, owner: 'c1', bs: 'bs-c1' }, effects: [{ type: 'confirm', owner: 'c1', bs: 'bs-c1' }] });
  });

  it('retires the old secret once every reader holds its new token, each at its own revision', () => {
    const confirmed = stepRotation(startRotation('c1', 'bs-c1', 5), held('c1', 5)).next;
    const waiting = run(confirmed, [minted([['c2', 3], ['c3', 7]]), held('c2', 3), held('c3', 6)]);
    expect(waiting.effects).toEqual([]);
    expect(waiting.r).toEqual({ phase: RotationPhase.downstream, owner: 'c1', bs: 'bs-c1', waiting: new Map([['c3', 7]]) });
    const done = stepRotation(waiting.r, held('c3', 7));
    expect(done).toEqual({ next: { phase: RotationPhase.done, owner: 'c1', bs: 'bs-c1' }, effects: [{ type: 'retire', owner: 'c1', bs: 'bs-c1' }] });
  });

  it('retires at once when the owner has no readers', () => {
    const confirmed = stepRotation(startRotation('c4', 'bs-c4', 2), held('c4', 2)).next;
    expect(stepRotation(confirmed, minted([])).effects).toEqual([{ type: 'retire', owner: 'c4', bs: 'bs-c4' }]);
  });

  it('stops waiting for a reader that was replaced (its fresh credentials hold current tokens)', () => {
    const confirmed = stepRotation(startRotation('c1', 'bs-c1', 5), held('c1', 5)).next;
    const { r, effects } = run(confirmed, [minted([['c2', 3], ['c3', 4]]), { type: 'replaced', container: 'c2' }, held('c3', 4)]);
    expect(r.phase).toBe(RotationPhase.done);
    expect(effects).toEqual([{ type: 'retire', owner: 'c1', bs: 'bs-c1' }]);
  });

  it('is abandoned without effects when the owner is replaced, in any phase', () => {
    const owner = startRotation('c1', 'bs-c1', 5);
    const confirmed = stepRotation(owner, held('c1', 5)).next;
    const downstream = stepRotation(confirmed, minted([['c2', 3]])).next;
    for (const r of [owner, confirmed, downstream]) {
      expect(stepRotation(r, { type: 'replaced', container: 'c1' })).toEqual({ next: { phase: RotationPhase.done, owner: 'c1', bs: 'bs-c1' }, effects: [] });
    }
  });

  it('ignores every event once done, and minted before the owner confirmed', () => {
    const done = { phase: RotationPhase.done, owner: 'c1', bs: 'bs-c1' } as const;
    expect(run(done, [held('c1', 99), minted([]), { type: 'replaced', container: 'c2' }])).toEqual({ r: done, effects: [] });
    const owner = startRotation('c1', 'bs-c1', 5);
    expect(stepRotation(owner, minted([]))).toEqual({ next: owner, effects: [] });
  });
});
