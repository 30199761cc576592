import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SluiceError } from '../errors.js';
import { defineApp } from './define.js';
import { Operator } from './operator.js';
import type { AppDefinition, StreamDefinition } from './types.js';
import { validateApp } from './validate.js';

class Source extends Operator {
  out = this.output<string>();
  emitTuples(w: number): void {
    this.out.emit(`w${w}`);
  }
}
/** A source that declares the config key `seed` (app/config.ts: undeclared keys are refused). */
class SeededSource extends Operator.withConfig(z.object({ seed: z.number() })) {
  out = this.output<string>();
  emitTuples(w: number): void {
    this.out.emit(`w${w}`);
  }
}
class Relay extends Operator {
  out = this.output<string>();
  in = this.input<string>((t) => this.out.emit(t));
}
class Sink extends Operator {
  seen: string[] = [];
  in = this.input<string>((t) => this.seen.push(t));
}
class Join extends Operator {
  left = this.input<string>(() => undefined);
  right = this.input<string>(() => undefined);
  out = this.output<string>();
}

function app(streams: Record<string, StreamDefinition>, extra: AppDefinition['operators'] = {}): AppDefinition {
  return defineApp({
    name: 'test',
    operators: {
      src: { create: () => new Source() },
      relay: { create: () => new Relay(), partitions: 2 },
      sink: { create: () => new Sink() },
      ...extra,
    },
    streams,
  });
}

function refusal(fn: () => unknown): SluiceError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe('INVALID_DAG');
    return err as SluiceError;
  }
  throw new Error('expected INVALID_DAG');
}

const linear = { a: { from: 'src.out', to: ['relay.in'] }, b: { from: 'relay.out', to: ['sink.in'] } };

describe('validateApp', () => {
  it('discovers ports from instance fields and sorts operators topologically', () => {
    const plan = validateApp(app({ b: linear.b, a: linear.a }));
    expect(plan.order).toEqual(['src', 'relay', 'sink']);
    expect(plan.operators.find((o) => o.name === 'relay')).toEqual({ name: 'relay', partitions: 2, inputs: ['in'], outputs: ['out'] });
    expect(plan.streams.find((s) => s.name === 'a')).toEqual({ name: 'a', from: { operator: 'src', port: 'out' }, to: [{ operator: 'relay', port: 'in' }], locality: 'separate' });
  });

  it('keeps the external stores an operator uses, and refuses one it does not know', () => {
    const uses = (u: unknown): AppDefinition => app(linear, { sink: { create: () => new Sink(), uses: u as string[] } });
    expect(validateApp(uses(['postgres', 'postgres'])).operators.find((o) => o.name === 'sink')).toMatchObject({ uses: ['postgres'] });
    expect(validateApp(uses(undefined)).operators.find((o) => o.name === 'sink')).not.toHaveProperty('uses');
    expect(refusal(() => validateApp(uses(['hdfs']))).message).toMatch(/operator "sink": uses must list external stores among postgres/);
    refusal(() => validateApp(uses('postgres')));
  });

  it('passes the launch config to create', () => {
    let seen: unknown;
    validateApp(app(linear, { src: { create: (c) => ((seen = c), new SeededSource()) } }), { seed: 7 });
    expect(seen).toEqual({ seed: 7 });
  });

  it('refuses a cycle and names its path', () => {
    const err = refusal(() =>
      validateApp(
        app(
          { a: linear.a, b: { from: 'relay.out', to: ['j.left'] }, c: { from: 'j.out', to: ['relay2.in'] }, d: { from: 'relay2.out', to: ['j.right'] }, e: { from: 'src2.out', to: ['sink.in'] } },
          { j: { create: () => new Join() }, relay2: { create: () => new Relay() }, src2: { create: () => new Source() } },
        ),
      ),
    );
    expect(err.message).toMatch(/cycle: (j -> relay2 -> j|relay2 -> j -> relay2)/);
  });

  it('refuses an unconnected input port, naming it', () => {
    const err = refusal(() => validateApp(app({ a: linear.a })));
    expect(err.message).toContain('"sink.in"');
    expect(err.message).toContain('not connected');
  });

  it('refuses a stream naming an unknown operator or port', () => {
    expect(refusal(() => validateApp(app({ ...linear, c: { from: 'nope.out', to: ['sink.in'] } }))).message).toContain('unknown operator "nope"');
    expect(refusal(() => validateApp(app({ a: { from: 'src.missing', to: ['relay.in'] }, b: linear.b }))).message).toContain('no output port "missing"');
    expect(refusal(() => validateApp(app({ a: { from: 'src.out', to: ['relay.out'] }, b: linear.b }))).message).toContain('no input port "out" (it is an output port)');
    expect(refusal(() => validateApp(app({ a: { from: 'src', to: ['relay.in'] }, b: linear.b }))).message).toContain('stream "a"');
  });

  it('refuses a port joined to two streams, naming the port and both streams', () => {
    const err = refusal(() => validateApp(app({ ...linear, c: { from: 'src.out', to: ['sink2.in'] } }, { sink2: { create: () => new Sink() } })));
    expect(err.message).toContain('port "src.out" is joined to two streams: "a" and "c"');
    const err2 = refusal(() => validateApp(app({ ...linear, c: { from: 'src2.out', to: ['sink.in'] } }, { src2: { create: () => new Source() } })));
    expect(err2.message).toContain('port "sink.in" is joined to two streams');
  });

  it('refuses duplicate names (case-insensitive) and invalid names', () => {
    expect(refusal(() => validateApp(app(linear, { SRC: { create: () => new Source() } }))).message).toContain('duplicate operator name "SRC"');
    expect(refusal(() => validateApp(app({ ...linear, A: { from: 'src2.out', to: ['sink2.in'] } }))).message).toContain('duplicate stream name "A"');
    expect(refusal(() => validateApp(app(linear, { 'bad#name': { create: () => new Source() } }))).message).toContain('"bad#name"');
  });

  it('refuses partitions below 1', () => {
    expect(refusal(() => validateApp(app(linear, { relay: { create: () => new Relay(), partitions: 0 } }))).message).toContain('operator "relay": partitions');
  });

  it('refuses container locality between operators with different partition counts', () => {
    const err = refusal(() => validateApp(app({ a: { ...linear.a, locality: 'container' }, b: linear.b })));
    expect(err.message).toContain('stream "a" has container locality');
    expect(err.message).toContain('"relay" has 2');
  });

  it('refuses an input operator without emitTuples and a failing create', () => {
    class Mute extends Operator {
      out = this.output<string>();
    }
    expect(refusal(() => validateApp(app(linear, { src: { create: () => new Mute() } }))).message).toContain('operator "src" has no input ports and no emitTuples');
    expect(
      refusal(() =>
        validateApp(
          app(linear, {
            src: {
              create: () => {
                throw new Error('boom');
              },
            },
          }),
        ),
      ).message,
    ).toContain('operator "src": create(config) failed: boom');
  });
});
