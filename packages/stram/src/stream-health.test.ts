import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeartbeatMessage, OperatorStats, PhysicalPlan } from '@sluice/common';
import { StramMetrics } from './metrics.js';
import { planModule } from './stram-options.js';
import { StreamHealth, stallThreshold, stalledOperators, upstreamOperators, type Progress } from './stream-health.js';
import { writeTestApp } from './testing/index.js';

/** Stalled operators and reported takeovers (stream-health.ts), on a manual clock. */

// The test pipeline: gen → count (2 partitions) → sink, containers c1 gen, c2 count#0, c3 count#1, c4 sink.
const dir = mkdtempSync(join(tmpdir(), 'sluice-health-'));
let plan: PhysicalPlan;
let ups: Map<string, string[]>;
beforeAll(async () => {
  plan = await planModule(writeTestApp(dir, 'pipeline'), {});
  ups = upstreamOperators(plan);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (window: number, advancedAt: number): Progress => ({ window, advancedAt });

describe('upstreamOperators', () => {
  it('lists every physical upstream (both count partitions read the one generator)', () => {
    expect(Object.fromEntries(ups)).toEqual({
      'gen#0': [],
      'count#0': ['gen#0'],
      'count#1': ['gen#0'],
      'sink#0': ['count#0', 'count#1'],
    });
  });
});

describe('stalledOperators', () => {
  const AFTER = 1_000;

  it('is the operator whose window stood still past the threshold while an upstream moved past it', () => {
    const progress = new Map([
      ['gen#0', at(40, 9_900)],
      ['count#0', at(39, 9_900)],
      ['count#1', at(20, 8_000)],
      ['sink#0', at(20, 8_000)],
    ]);
    // sink#0 waits for count#1 (windows align) but count#0 moves past it: it is stalled too.
    expect(stalledOperators(ups, progress, 10_000, AFTER)).toEqual(new Set(['count#1', 'sink#0']));
  });

  it('is nobody while everyone moves, lagging a little included', () => {
    const progress = new Map([
      ['gen#0', at(40, 9_900)],
      ['count#0', at(38, 9_800)],
      ['count#1', at(37, 9_700)],
      ['sink#0', at(36, 9_600)],
    ]);
    expect(stalledOperators(ups, progress, 10_000, AFTER)).toEqual(new Set());
  });

  it('is nobody below the threshold', () => {
    const progress = new Map([['gen#0', at(40, 9_900)], ['count#1', at(20, 9_100)]]);
    expect(stalledOperators(ups, progress, 10_000, AFTER)).toEqual(new Set());
  });

  it('is not the downstream of an upstream that stopped too (or went back to its restore window)', () => {
    const stopped = new Map([['gen#0', at(40, 5_000)], ['count#1', at(40, 5_000)]]);
    expect(stalledOperators(ups, stopped, 10_000, AFTER)).toEqual(new Set());
    const restored = new Map([['gen#0', at(30, 9_900)], ['count#1', at(40, 5_000)]]);
    expect(stalledOperators(ups, restored, 10_000, AFTER)).toEqual(new Set());
  });

  it('waits for several heartbeats and windows', () => {
    expect(stallThreshold({ heartbeatIntervalMs: 1_000, windowMs: 500 })).toBe(4_000);
    expect(stallThreshold({ heartbeatIntervalMs: 250, windowMs: 100 })).toBe(1_000);
  });
});

function beat(container: string, operators: [string, number][], takeovers?: HeartbeatMessage['takeovers']): HeartbeatMessage {
  const stats = operators.map(([id, window]): OperatorStats => ({ id, window, tuplesIn: 0, tuplesOut: 0, latencyMs: 0, checkpoint: 0 }));
  return { t: 'heartbeat', container, bufferServer: null, state: 'running', operators: stats, ...(takeovers ? { takeovers } : {}) };
}

async function sample(metrics: StramMetrics, line: string): Promise<number | undefined> {
  const found = (await metrics.text()).split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('StreamHealth', () => {
  const c1 = { id: 'c1', operators: ['gen#0'] };
  const c3 = { id: 'c3', operators: ['count#1'] };

  it('sets sluice_operator_stalled from the heartbeats it saw, and clears it once the window moves', async () => {
    const metrics = new StramMetrics();
    const health = new StreamHealth({ plan, metrics, stallAfterMs: 1_000 });
    health.observe(c1, beat('c1', [['gen#0', 10]]), 0);
    health.observe(c3, beat('c3', [['count#1', 9]]), 0);
    for (let t = 250; t <= 2_000; t += 250) {
      health.observe(c1, beat('c1', [['gen#0', 10 + t / 250]]), t);
      health.observe(c3, beat('c3', [['count#1', 9]]), t);
    }
    health.update(2_000);
    expect(health.isStalled('count#1')).toBe(true);
    expect(health.isStalled('gen#0')).toBe(false);
    expect(await sample(metrics, 'sluice_operator_stalled{operator="count#1"}')).toBe(1);
    expect(await sample(metrics, 'sluice_operator_stalled{operator="count#0"}')).toBe(0);
    health.observe(c3, beat('c3', [['count#1', 17]]), 2_250);
    health.update(2_250);
    expect(health.isStalled('count#1')).toBe(false);
    expect(await sample(metrics, 'sluice_operator_stalled{operator="count#1"}')).toBe(0);
  });

  it('counts the increase of reported takeovers; a restarted container starts over from zero; foreign operators are ignored', async () => {
    const metrics = new StramMetrics();
    const health = new StreamHealth({ plan, metrics, stallAfterMs: 1_000 });
    health.observe(c1, beat('c1', [], { refused: 1, takenOver: [] }), 0);
    health.observe(c1, beat('c1', [], { refused: 3, takenOver: [] }), 1);
    health.observe(c1, beat('c1', [], { refused: 3, takenOver: [] }), 2);
    health.observe(c3, beat('c3', [], { refused: 0, takenOver: [{ operator: 'count#1', port: 'in', count: 2 }] }), 3);
    // c3 speaks for count#1 only: what it says about count#0 is not counted.
    health.observe(c3, beat('c3', [], { refused: 0, takenOver: [{ operator: 'count#0', port: 'in', count: 9 }] }), 4);
    // A replacement c3 counts from zero again.
    health.observe(c3, beat('c3', [], { refused: 0, takenOver: [{ operator: 'count#1', port: 'in', count: 1 }] }), 5);
    expect(health.takeovers()).toEqual({ refused: 3, takenOver: 3 });
    expect(await sample(metrics, 'sluice_subscriber_takeovers_refused_total{container="c1"}')).toBe(3);
    expect(await sample(metrics, 'sluice_subscriber_takeovers_total{operator="count#1",port="in"}')).toBe(3);
    expect(await sample(metrics, 'sluice_subscriber_takeovers_total{operator="count#0",port="in"}')).toBeUndefined();
  });
});
