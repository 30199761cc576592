import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Operator, createLogger, type DeployOperator } from '@sluice/common';
import { FileCheckpointStore } from './checkpoint-store.js';
import { OutputEmitter, type OutputSink } from './emitter.js';
import { OperatorRunner } from './operator-runner.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function deploy(id: string, restoreWindow = 0): DeployOperator {
  const [operator, partition] = id.split('#') as [string, string];
  return { id, operator, partition: Number(partition), partitions: 1, inputs: [], outputs: [], restoreWindow };
}

function runner(instance: object, id: string, restoreWindow = 0): { r: OperatorRunner; store: FileCheckpointStore; errors: Error[] } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-runner-'));
  dirs.push(dir);
  const store = new FileCheckpointStore(dir);
  const errors: Error[] = [];
  const r = new OperatorRunner({ deploy: deploy(id, restoreWindow), instance, appDir: dir, logger, checkpoints: store, checkpointWindows: 2, windowMs: 1, onError: (e) => errors.push(e) });
  return { r, store, errors };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

class Recorder extends Operator {
  log: string[] = [];
  total = 0;
  in = this.input<number>((n) => {
    this.log.push(`t${n}`);
    this.total += n;
  });
  beginWindow(w: number): void {
    this.log.push(`B${w}`);
  }
  async endWindow(w: number): Promise<void> {
    await tick();
    this.log.push(`E${w}`);
  }
  checkpoint(): unknown {
    return this.total;
  }
  restore(state: unknown): void {
    this.total = state as number;
  }
}

describe('OperatorRunner', () => {
  it('processes events that arrive one at a time while idle, in window order', async () => {
    const op = new Recorder();
    const { r, store } = runner(op, 'rec#0');
    r.setSources([{ id: 'in|up#0', port: 'in' }]);
    await r.setup({ appDir: '', logger });
    for (const w of [1, 2]) {
      r.deliver('in|up#0', { t: 'begin', w });
      await tick();
      r.deliver('in|up#0', { t: 'data', w, tuples: [w * 10] });
      await tick();
      r.deliver('in|up#0', { t: 'end', w });
      await tick();
      await tick();
    }
    expect(op.log).toEqual(['B1', 't10', 'E1', 'B2', 't20', 'E2']);
    expect(r.stats()).toMatchObject({ window: 2, tuplesIn: 2, checkpoint: 2 });
    expect(await store.load('rec#0', 2)).toBe(30);
    await r.stop();
  });

  it('restores state from its checkpoint and drops windows up to it', async () => {
    const first = runner(new Recorder(), 'rec#0');
    await first.store.save('rec#0', 4, 99);
    const op = new Recorder();
    const r = new OperatorRunner({ deploy: deploy('rec#0', 4), instance: op, appDir: '', logger, checkpoints: first.store, checkpointWindows: 100, windowMs: 1, onError: () => undefined });
    r.setSources([{ id: 's', port: 'in' }]);
    await r.setup({ appDir: '', logger });
    expect(op.total).toBe(99);
    r.deliver('s', { t: 'begin', w: 4 });
    r.deliver('s', { t: 'begin', w: 5 });
    r.deliver('s', { t: 'data', w: 5, tuples: [1] });
    r.deliver('s', { t: 'end', w: 5 });
    await tick();
    await tick();
    expect(op.log).toEqual(['B5', 't1', 'E5']);
    await r.stop();
  });

  it('drives an input operator through windows 1, 2, 3… and batches its tuples', async () => {
    class Source extends Operator {
      out = this.output<number>();
      emitTuples(w: number): void {
        for (let i = 0; i < 3; i++) this.out.emit(w);
      }
    }
    const seen: string[] = [];
    const sink: OutputSink = {
      begin: (w) => seen.push(`B${w}`),
      data: (w, t, p) => seen.push(`D${w}:${t.join(',')}:${p ? 'p' : ''}`),
      end: (w) => seen.push(`E${w}`),
      ready: async () => undefined,
    };
    const { r } = runner(new Source(), 'src#0');
    r.setOutput('out', new OutputEmitter([sink], undefined, 2));
    await r.setup({ appDir: '', logger });
    r.startWindows();
    while (r.stats().window < 3) await tick();
    await r.stop();
    expect(seen.slice(0, 8)).toEqual(['B1', 'D1:1,1:p', 'D1:1:p', 'E1', 'B2', 'D2:2,2:p', 'D2:2:p', 'E2']);
    expect(r.stats().tuplesOut).toBeGreaterThanOrEqual(9);
  });

  it('reports a throwing hook once and stops', async () => {
    class Bad extends Operator {
      in = this.input<number>(() => {
        throw new Error('boom');
      });
    }
    const { r, errors } = runner(new Bad(), 'bad#0');
    r.setSources([{ id: 's', port: 'in' }]);
    await r.setup({ appDir: '', logger });
    r.deliver('s', { t: 'begin', w: 1 });
    r.deliver('s', { t: 'data', w: 1, tuples: [1, 2] });
    await tick();
    r.deliver('s', { t: 'data', w: 1, tuples: [3] });
    await tick();
    expect(errors.map((e) => e.message)).toEqual(['boom']);
    await r.stop();
  });
});
