import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Operator, createLogger, defineApp, deployFor, planApp, validateApp, type Token } from '@sluice/common';
import type { Publisher, PublisherOptions, Subscriber, SubscriberOptions } from '@sluice/buffer-server';
import { FileCheckpointStore } from './checkpoint-store.js';
import { deployOperators, undeploy, type Deployed } from './wiring.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

class Gen extends Operator {
  out = this.output<number>();
  emitTuples(w: number): void {
    this.out.emit(w);
    this.out.emit(w + 1000);
  }
}
class Double extends Operator {
  out = this.output<number>();
  in = this.input<number>((n) => this.out.emit(n * 2));
}
class Sink extends Operator {
  in = this.input<number>(() => undefined, { partitionKey: (n) => n });
}

const app = defineApp({
  name: 'wired',
  operators: { gen: { create: () => new Gen() }, double: { create: () => new Double() }, sink: { create: () => new Sink(), partitions: 2 } },
  streams: {
    raw: { from: 'gen.out', to: ['double.in'], locality: 'container' },
    doubled: { from: 'double.out', to: ['sink.in'] },
  },
});

describe('deployOperators', () => {
  it('joins container-local operators in-process and publishes only remote streams, tagged for partitioned sinks', async () => {
    const plan = planApp(validateApp(app));
    expect(plan.containers[0]!.operators).toEqual(['gen#0', 'double#0']);
    const appDir = mkdtempSync(join(tmpdir(), 'sluice-wiring-'));
    dirs.push(appDir);
    const published: { stream: string; window: number; frames: string[] }[] = [];
    const connectPublisher = async (o: PublisherOptions): Promise<Publisher> => {
      const rec = { stream: o.stream, window: o.window, frames: [] as string[] };
      published.push(rec);
      return {
        begin: (w) => rec.frames.push(`B${w}`),
        data: (w, t, p) => rec.frames.push(`D${w}:${t.join(',')}${p ? `:p=${p.join(',')}` : ''}`),
        end: (w) => rec.frames.push(`E${w}`),
        ready: async () => undefined,
        closed: Promise.resolve(),
        close: async () => undefined,
      };
    };
    const connectSubscriber = (_o: SubscriberOptions): Promise<Subscriber> => Promise.reject(new Error('no upstreams here'));
    const fakeToken = {} as Token;
    const deployed = new Map<string, Deployed>();
    const entries = await deployOperators(
      {
        app,
        config: {},
        appDir,
        logger,
        checkpoints: new FileCheckpointStore(appDir),
        checkpointWindows: 1000,
        windowMs: 1,
        ownServerUrl: 'ws://127.0.0.1:1',
        publishToken: () => fakeToken,
        subscribeToken: () => fakeToken,
        clients: { connectPublisher, connectSubscriber },
        onError: (err) => {
          throw err;
        },
      },
      deployFor(plan, 'c1', new Map()),
      deployed,
    );
    const doubled = entries.find((e) => e.runner.id === 'double#0')!;
    while (doubled.runner.stats().window < 2) await new Promise((r) => setTimeout(r, 5));
    await undeploy(entries);
    expect(published.map((p) => [p.stream, p.window])).toEqual([['doubled', 1]]);
    expect(published[0]!.frames.slice(0, 6)).toEqual(['B1', 'D1:2,2002:p=2,2002', 'E1', 'B2', 'D2:4,2004:p=4,2004', 'E2']);
    expect(doubled.runner.stats()).toMatchObject({ tuplesIn: expect.any(Number), tuplesOut: expect.any(Number) });
  });
});
