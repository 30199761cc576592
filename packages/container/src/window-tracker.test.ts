import { describe, expect, it } from 'vitest';
import { WindowTracker, type StreamEvent, type TrackerAction } from './window-tracker.js';

const begin = (w: number): StreamEvent<string> => ({ t: 'begin', w });
const data = (w: number, ...tuples: string[]): StreamEvent<string> => ({ t: 'data', w, tuples });
const end = (w: number): StreamEvent<string> => ({ t: 'end', w });

/** Renders actions compactly: `B1`, `D1:a:x,y`, `E1`. */
function show(actions: TrackerAction<string>[]): string[] {
  return actions.map((a) => (a.t === 'data' ? `D${a.w}:${a.source}:${a.tuples.join(',')}` : `${a.t === 'begin' ? 'B' : 'E'}${a.w}`));
}

describe('WindowTracker', () => {
  it('passes a single source straight through', () => {
    const t = new WindowTracker<string>(['a']);
    expect(show(t.push('a', begin(1)))).toEqual(['B1']);
    expect(show(t.push('a', data(1, 'x', 'y')))).toEqual(['D1:a:x,y']);
    expect(show(t.push('a', end(1)))).toEqual(['E1']);
    expect(t.window).toBe(1);
  });

  it('waits for every source before the first window, then ends a window only when all sources ended it', () => {
    const t = new WindowTracker<string>(['a', 'b']);
    expect(t.push('a', begin(1))).toEqual([]);
    expect(show(t.push('b', begin(1)))).toEqual(['B1']);
    expect(show(t.push('a', data(1, 'x')))).toEqual(['D1:a:x']);
    expect(t.push('a', end(1))).toEqual([]);
    expect(show(t.push('b', data(1, 'y')))).toEqual(['D1:b:y']);
    expect(show(t.push('b', end(1)))).toEqual(['E1']);
  });

  it('holds back a faster source until the open window closes', () => {
    const t = new WindowTracker<string>(['a', 'b']);
    t.push('a', begin(1));
    t.push('b', begin(1));
    t.push('a', end(1));
    expect(t.push('a', begin(2))).toEqual([]);
    expect(t.push('a', data(2, 'early'))).toEqual([]);
    expect(show(t.push('b', data(1, 'late')))).toEqual(['D1:b:late']);
    expect(show(t.push('b', end(1)))).toEqual(['E1', 'B2', 'D2:a:early']);
    expect(t.openWindow).toBe(2);
  });

  it('opens later windows on the first source that begins them', () => {
    const t = new WindowTracker<string>(['a', 'b']);
    t.push('a', begin(1));
    t.push('b', begin(1));
    t.push('a', end(1));
    t.push('b', end(1));
    expect(show(t.push('b', begin(2)))).toEqual(['B2']);
  });

  it('does not wait for a source that moved past the open window', () => {
    const t = new WindowTracker<string>(['a', 'b']);
    t.push('a', begin(1));
    expect(show(t.push('b', begin(3)))).toEqual(['B1']);
    expect(show(t.push('a', end(1)))).toEqual(['E1', 'B3']);
  });

  it('drops replays of ended windows and of windows before the restore point', () => {
    const t = new WindowTracker<string>(['a'], 5);
    expect(t.push('a', begin(5))).toEqual([]);
    expect(t.push('a', data(5, 'old'))).toEqual([]);
    expect(show(t.push('a', begin(6)))).toEqual(['B6']);
    t.push('a', end(6));
    expect(t.push('a', begin(6))).toEqual([]);
    expect(t.resumeWindow('a')).toBe(7);
    expect(t.dropped).toBe(3);
  });

  it('skips the tuples already delivered when a source replays the window it is in', () => {
    const t = new WindowTracker<string>(['a']);
    t.push('a', begin(1));
    expect(show(t.push('a', data(1, 'x', 'y')))).toEqual(['D1:a:x,y']);
    expect(t.resumeWindow('a')).toBe(1);
    expect(t.push('a', begin(1))).toEqual([]);
    expect(t.push('a', data(1, 'x'))).toEqual([]);
    expect(show(t.push('a', data(1, 'y', 'z')))).toEqual(['D1:a:z']);
    expect(show(t.push('a', end(1)))).toEqual(['E1']);
  });

  it('replaces queued events of a window a held-back source starts over', () => {
    const t = new WindowTracker<string>(['a', 'b']);
    t.push('a', begin(1));
    t.push('b', begin(1));
    t.push('a', end(1));
    t.push('a', begin(2));
    t.push('a', data(2, 'first'));
    t.push('a', begin(2));
    t.push('a', data(2, 'again'));
    expect(show(t.push('b', end(1)))).toEqual(['E1', 'B2', 'D2:a:again']);
  });

  it('ignores data or end of a window the source never began', () => {
    const t = new WindowTracker<string>(['a']);
    expect(t.push('a', data(1, 'x'))).toEqual([]);
    expect(t.push('a', end(1))).toEqual([]);
    expect(t.dropped).toBe(2);
  });
});
