import { describe, expect, it } from 'vitest';
import { ManualClock } from '@sluice/common';
import { DEFAULT_RESTART, NO_FAILURES, formatRestart, onFailure, parseRestart, type RestartHistory, type RestartStrategy } from './restart-strategy.js';

const S = 1_000;
const M = 60 * S;

/**
 * A container that fails `at` these offsets (ms after the first failure, on a manual clock): the
 * delay granted for each failure, or the reason the app failed.
 */
function run(s: RestartStrategy, offsets: number[]): (number | string)[] {
  const clock = new ManualClock();
  const t0 = clock.now();
  let h: RestartHistory = NO_FAILURES;
  const out: (number | string)[] = [];
  for (const at of offsets) {
    clock.set(t0 + at);
    const { decision, history } = onFailure(s, h, clock.now(), 'c2');
    h = history;
    out.push(decision.restart ? decision.delayMs : decision.reason);
    if (!decision.restart) break;
  }
  return out;
}

/** Failures that come as fast as the strategy allows: each the moment its restart would begin. */
function backToBack(s: RestartStrategy, n: number): (number | string)[] {
  const clock = new ManualClock();
  let h: RestartHistory = NO_FAILURES;
  const out: (number | string)[] = [];
  for (let i = 0; i < n; i++) {
    const { decision, history } = onFailure(s, h, clock.now(), 'c2');
    h = history;
    out.push(decision.restart ? decision.delayMs : decision.reason);
    if (!decision.restart) break;
    clock.advance(decision.delayMs);
  }
  return out;
}

describe('restart strategies', () => {
  it('fixed: the same delay each time, then the app fails past the attempts', () => {
    expect(backToBack(parseRestart('fixed:attempts=3,delay=2s'), 10)).toEqual([2 * S, 2 * S, 2 * S, 'container c2 failed 4 times; restart strategy fixed:attempts=3,delay=2s allows 3 restarts']);
  });

  it('fixed: attempts count over the whole life, however far apart the failures', () => {
    expect(run(parseRestart('fixed:attempts=2,delay=1s'), [0, 60 * M, 120 * M])).toEqual([S, S, expect.stringContaining('failed 3 times')]);
  });

  it('exponential: doubles from the initial delay up to the cap, and fails past the attempts', () => {
    const s = parseRestart('exponential:initial=1s,max=10s,multiplier=2,reset=10m,attempts=6');
    expect(backToBack(s, 10)).toEqual([S, 2 * S, 4 * S, 8 * S, 10 * S, 10 * S, expect.stringMatching(/^container c2 failed 7 times without 10m of calm; restart strategy exponential:.* allows 6 restarts$/)]);
  });

  it('exponential: a container calm for the reset period after its restart starts over, count and delay', () => {
    const s = parseRestart('exponential:initial=1s,max=1m,multiplier=3,reset=5m,attempts=3');
    // 1 s, 3 s, 9 s; the last failure at 4 s: calm from 4 s + 5 min + 9 s (the reset plus the last delay).
    const calm = 4 * S + 5 * M + 9 * S;
    expect(run(s, [0, S, 4 * S, calm, calm + S, calm + 4 * S, calm + 13 * S])).toEqual([S, 3 * S, 9 * S, S, 3 * S, 9 * S, expect.stringContaining('failed 4 times')]);
    expect(run(s, [0, S, 4 * S, calm - 1])).toEqual([S, 3 * S, 9 * S, expect.stringContaining('failed 4 times')]);
  });

  it('failure-rate: restarts while failures within the interval stay at the maximum', () => {
    const s = parseRestart('failure-rate:max=3,interval=1m,delay=5s');
    expect(run(s, [0, 10 * S, 20 * S, 30 * S])).toEqual([5 * S, 5 * S, 5 * S, 'container c2 failed 4 times within 1m; restart strategy failure-rate:max=3,interval=1m,delay=5s allows 3']);
    // Spread out, any number of failures is fine: the oldest leave the interval.
    expect(run(s, [0, 25 * S, 50 * S, 75 * S, 100 * S, 125 * S])).toEqual([5 * S, 5 * S, 5 * S, 5 * S, 5 * S, 5 * S]);
  });

  it('none: the first failure fails the app', () => {
    expect(run(parseRestart('none'), [0])).toEqual(['container c2 failed and the restart strategy is none']);
  });

  it('never restarts at once: every strategy that restarts waits', () => {
    for (const text of ['exponential', 'fixed', 'failure-rate', 'fixed:attempts=5,delay=1ms']) {
      for (const delay of backToBack(parseRestart(text), 30).filter((d) => typeof d === 'number')) expect(delay).toBeGreaterThan(0);
    }
  });

  it('the default is exponential 1s → 60s, FAILED after 10 restarts: about 5 minutes of back-to-back failures', () => {
    expect(DEFAULT_RESTART).toEqual(parseRestart('exponential'));
    const delays = backToBack(DEFAULT_RESTART, 20);
    expect(delays.slice(0, 10)).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60, 60].map((s) => s * S));
    expect(delays[10]).toMatch(/failed 11 times/);
  });
});

describe('--restart text', () => {
  it('reads every kind, keeping defaults for settings left out, and writes back what it read', () => {
    expect(parseRestart('fixed:attempts=3,delay=2s')).toEqual({ kind: 'fixed', attempts: 3, delayMs: 2 * S });
    expect(parseRestart('fixed-delay:attempts=1')).toEqual({ kind: 'fixed', attempts: 1, delayMs: 10 * S });
    expect(parseRestart('exponential:initial=500ms,multiplier=1.5')).toEqual({ ...DEFAULT_RESTART, initialMs: 500, multiplier: 1.5 });
    expect(parseRestart('failure-rate:max=10,interval=5m,delay=1s')).toEqual({ kind: 'failure-rate', maxFailures: 10, intervalMs: 5 * M, delayMs: S });
    for (const text of ['fixed:attempts=3,delay=2s', 'exponential:initial=500ms,max=1m,multiplier=1.5,reset=10m,attempts=10', 'failure-rate:max=10,interval=5m,delay=1s', 'none']) {
      expect(formatRestart(parseRestart(text))).toBe(text);
    }
  });

  it('refuses what it cannot read, naming the flag and the setting', () => {
    const refused = (text: string) => {
      try {
        parseRestart(text);
      } catch (err) {
        return { code: (err as { code: string }).code, message: (err as Error).message };
      }
      throw new Error(`${text} was accepted`);
    };
    expect(refused('forever')).toEqual({ code: 'BAD_CONFIG', message: expect.stringMatching(/^--restart: "forever" is not a restart strategy; use exponential, fixed, failure-rate or none/) });
    expect(refused('fixed:tries=3')).toEqual({ code: 'BAD_CONFIG', message: '--restart: "tries=3" is not a setting of fixed; give attempts=...,delay=...' });
    expect(refused('none:attempts=1').message).toBe('--restart: "attempts=1" is not a setting of none; it takes none');
    expect(refused('fixed:attempts=0').message).toMatch(/^--restart fixed attempts: "0" must be a whole number of at least 1$/);
    expect(refused('fixed:delay=soon').message).toMatch(/^--restart fixed delay: "soon" is not a duration/);
    expect(refused('exponential:multiplier=0.5').message).toMatch(/multiplier: "0.5" must be a number of at least 1/);
    expect(refused('exponential:initial=2m,max=1m').message).toBe('--restart: exponential max (1m) must not be below initial (2m)');
  });
});
