import { describe, expect, it } from 'vitest';
import { Operator } from './operator.js';
import { defaultPartitionKey, matchesPartition, partitionFilter, partitionValue } from './partition.js';
import { boundNamesAt, deployFor, planApp, publicationsOf, subscriptionsOf } from './plan.js';
import type { AppDefinition } from './types.js';
import { validateApp } from './validate.js';

class Gen extends Operator {
  words = this.output<string>();
  emitTuples(): void {
    this.words.emit('a');
  }
}
class Count extends Operator {
  counts = this.output<Record<string, number>>();
  words = this.input<string>(() => undefined);
}
class Out extends Operator {
  counts = this.input<Record<string, number>>(() => undefined);
}
class Tag extends Operator {
  out = this.output<string>();
  in = this.input<string>((t) => this.out.emit(t));
}

// The word-count demo's shape.
const demo: AppDefinition = {
  name: 'wordcount',
  operators: { gen: { create: () => new Gen() }, count: { create: () => new Count(), partitions: 2 }, out: { create: () => new Out() } },
  streams: { words: { from: 'gen.words', to: ['count.words'] }, counts: { from: 'count.counts', to: ['out.counts'] } },
};

const urls = new Map([
  ['c1', 'ws://127.0.0.1:1'],
  ['c2', 'ws://127.0.0.1:2'],
  ['c3', 'ws://127.0.0.1:3'],
  ['c4', 'ws://127.0.0.1:4'],
]);

describe('planApp', () => {
  it('puts each partition of the demo DAG in its own container, in topological order', () => {
    const plan = planApp(validateApp(demo));
    expect(plan.containers).toEqual([
      { id: 'c1', operators: ['gen#0'], bufferServer: 'bs-c1' },
      { id: 'c2', operators: ['count#0'], bufferServer: 'bs-c2' },
      { id: 'c3', operators: ['count#1'], bufferServer: 'bs-c3' },
      { id: 'c4', operators: ['out#0'], bufferServer: 'bs-c4' },
    ]);
    expect(plan.operators.map((o) => `${o.id}@${o.container}`)).toEqual(['gen#0@c1', 'count#0@c2', 'count#1@c3', 'out#0@c4']);
  });

  it('shares a container between operators joined by container locality, partition i with partition i', () => {
    const app: AppDefinition = {
      ...demo,
      operators: { ...demo.operators, tag: { create: () => new Tag(), partitions: 2 } },
      streams: {
        words: { from: 'gen.words', to: ['tag.in'] },
        tagged: { from: 'tag.out', to: ['count.words'], locality: 'container' },
        counts: demo.streams['counts']!,
      },
    };
    const plan = planApp(validateApp(app));
    expect(plan.containers.map((c) => c.operators)).toEqual([['gen#0'], ['tag#0', 'count#0'], ['tag#1', 'count#1'], ['out#0']]);
    const [tag1, count1] = deployFor(plan, 'c3', urls);
    expect(count1!.inputs).toEqual([{ port: 'words', stream: 'tagged', upstreams: [], local: ['tag#1'] }]);
    expect(tag1!.outputs).toEqual([{ port: 'out', stream: 'tagged', partitioned: false }]);
    expect(publicationsOf(plan, 'c3')).toEqual(['counts']);
  });

  it('deploys upstreams with their buffer servers and a partition filter per downstream partition', () => {
    const plan = planApp(validateApp(demo));
    expect(deployFor(plan, 'c1', urls)).toEqual([
      { id: 'gen#0', operator: 'gen', partition: 0, partitions: 1, inputs: [], outputs: [{ port: 'words', stream: 'words', partitioned: true }], restoreWindow: 0 },
    ]);
    const [count1] = deployFor(plan, 'c3', urls, new Map([['count#1', 120]]));
    expect(count1).toMatchObject({ id: 'count#1', restoreWindow: 120, outputs: [{ port: 'counts', stream: 'counts', partitioned: false }] });
    expect(count1!.inputs).toEqual([
      { port: 'words', stream: 'words', local: [], upstreams: [{ operator: 'gen#0', bufferServer: 'bs-c1', url: 'ws://127.0.0.1:1', partitions: { mask: 1, keys: [1] } }] },
    ]);
    const [out] = deployFor(plan, 'c4', urls);
    expect(out!.inputs[0]!.upstreams.map((u) => [u.operator, u.bufferServer, 'partitions' in u])).toEqual([
      ['count#0', 'bs-c2', false],
      ['count#1', 'bs-c3', false],
    ]);
  });

  it('refuses to deploy before the upstream buffer server URL is known', () => {
    const plan = planApp(validateApp(demo));
    expect(() => deployFor(plan, 'c2', new Map())).toThrow(/no buffer server URL known for container "c1"/);
    expect(() => deployFor(plan, 'c9', urls)).toThrow(/not in the plan/);
  });

  it('lists the streams each container subscribes to, per upstream buffer server', () => {
    const plan = planApp(validateApp(demo));
    expect(subscriptionsOf(plan, 'c1')).toEqual(new Map());
    expect(subscriptionsOf(plan, 'c2')).toEqual(new Map([['bs-c1', ['words']]]));
    expect(subscriptionsOf(plan, 'c4')).toEqual(
      new Map([
        ['bs-c2', ['counts']],
        ['bs-c3', ['counts']],
      ]),
    );
  });

  it('binds, at each buffer server, the subscriber names its downstream inputs use to their containers', () => {
    const plan = planApp(validateApp(demo));
    expect(boundNamesAt(plan, 'c1')).toEqual({ words: { 'count#0.words': 'c2', 'count#1.words': 'c3' } });
    // Every partition of `count` publishes `counts` on its own server; `out` subscribes at each.
    expect(boundNamesAt(plan, 'c2')).toEqual({ counts: { 'out#0.counts': 'c4' } });
    expect(boundNamesAt(plan, 'c3')).toEqual({ counts: { 'out#0.counts': 'c4' } });
    expect(boundNamesAt(plan, 'c4')).toEqual({});
    // The names are those the inputs are deployed with: `<operator id>.<port>` of each remote input.
    const [count1] = deployFor(plan, 'c3', urls);
    expect(Object.keys(boundNamesAt(plan, 'c1')['words']!)).toContain(`${count1!.id}.${count1!.inputs[0]!.port}`);
  });

  it('binds no names for container-locality streams (they never reach a buffer server)', () => {
    const app: AppDefinition = {
      ...demo,
      operators: { ...demo.operators, tag: { create: () => new Tag(), partitions: 2 } },
      streams: {
        words: { from: 'gen.words', to: ['tag.in'] },
        tagged: { from: 'tag.out', to: ['count.words'], locality: 'container' },
        counts: demo.streams['counts']!,
      },
    };
    const plan = planApp(validateApp(app));
    expect(boundNamesAt(plan, 'c1')).toEqual({ words: { 'tag#0.in': 'c2', 'tag#1.in': 'c3' } });
    expect(boundNamesAt(plan, 'c2')).toEqual({ counts: { 'out#0.counts': 'c4' } });
  });
});

describe('partition filters', () => {
  it.each([1, 2, 3, 4, 5, 7, 8, 13])('cover every key exactly once for %i partitions', (partitions) => {
    const filters = Array.from({ length: partitions }, (_, i) => partitionFilter(i, partitions));
    const mask = filters[0]!.mask;
    expect(mask + 1).toBeGreaterThanOrEqual(partitions);
    expect((mask + 1) & mask).toBe(0); // a power of two minus one
    for (let k = 0; k <= mask; k++) expect(filters.filter((f) => f.keys.includes(k))).toHaveLength(1);
    for (let p = 0; p < 1000; p++) {
      const v = partitionValue(`word-${p}`);
      expect(filters.filter((f) => matchesPartition(v, f))).toHaveLength(1);
    }
  });

  it('partition values are non-negative 31-bit integers and the default key is stable', () => {
    expect(partitionValue('x', () => -1)).toBe(0x7fffffff);
    expect(partitionValue({ a: 1 })).toBe(defaultPartitionKey({ a: 1 }) & 0x7fffffff);
    expect(defaultPartitionKey('hello')).toBe(defaultPartitionKey('hello'));
    expect(defaultPartitionKey('hello')).not.toBe(defaultPartitionKey('hellp'));
  });
});
