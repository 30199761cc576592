import { describe, expect, it } from 'vitest';
import { ManualClock } from '@sluice/common';
import { HeartbeatMonitor } from './heartbeat-monitor.js';

const S = 1_000;

function monitor() {
  const clock = new ManualClock();
  return { clock, m: new HeartbeatMonitor({ clock, heartbeatTimeoutMs: 3 * S, launchTimeoutMs: 10 * S }) };
}

describe('heartbeat monitor', () => {
  it('gives a launched process the launch timeout for its first heartbeat, then the heartbeat timeout', () => {
    const { clock, m } = monitor();
    m.launched('c1');
    clock.advance(10 * S);
    expect(m.overdue()).toEqual([]);
    m.heard('c1');
    clock.advance(3 * S);
    expect(m.overdue()).toEqual([]);
    clock.advance(1);
    expect(m.overdue()).toEqual([{ id: 'c1', silentMs: 3 * S + 1 }]);
  });

  it('reports a silent container once, then no more until it is watched again', () => {
    const { clock, m } = monitor();
    m.launched('c1');
    clock.advance(10 * S + 1);
    expect(m.overdue().map((s) => s.id)).toEqual(['c1']);
    clock.advance(60 * S);
    expect(m.overdue()).toEqual([]);
    m.heard('c1'); // a late heartbeat from the process being replaced does not re-arm it
    clock.advance(60 * S);
    expect(m.overdue()).toEqual([]);
  });

  it('gives a container adopted after a STRAM restart the heartbeat timeout only', () => {
    const { clock, m } = monitor();
    m.adopted('c2');
    m.launched('c3');
    clock.advance(3 * S + 1);
    expect(m.overdue()).toEqual([{ id: 'c2', silentMs: 3 * S + 1 }]);
  });

  it('forgets a container whose process exited', () => {
    const { clock, m } = monitor();
    m.launched('c1');
    m.unwatch('c1');
    clock.advance(60 * S);
    expect(m.overdue()).toEqual([]);
  });
});
