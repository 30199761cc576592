import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SluiceError } from '../errors.js';
import { defineApp } from './define.js';
import { Operator } from './operator.js';
import type { AppDefinition } from './types.js';
import { instantiateOperator, validateApp } from './validate.js';

class Source extends Operator.withConfig(z.object({ rate: z.number().int().positive().default(10), label: z.string().default('none') })) {
  out = this.output<string>();
  emitTuples(): void {
    for (let i = 0; i < this.config.rate; i++) this.out.emit(this.config.label);
  }
}
class Sink extends Operator.withConfig(z.object({ label: z.string(), limit: z.number().optional() })) {
  in = this.input<string>(() => undefined);
}
class Plain extends Operator {
  in = this.input<string>(() => undefined);
}

const app: AppDefinition = defineApp({
  name: 'cfg',
  operators: { src: { create: () => new Source() }, sink: { create: () => new Sink() }, plain: { create: () => new Plain() } },
  streams: { s: { from: 'src.out', to: ['sink.in', 'plain.in'] } },
});

function refusal(fn: () => unknown, code = 'BAD_CONFIG'): SluiceError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    expect((err as SluiceError).code).toBe(code);
    return err as SluiceError;
  }
  throw new Error(`expected ${code}`);
}

describe('app config', () => {
  it('gives an app-wide key to every operator that declares it, and an operator.key to that operator alone, typed', () => {
    const config = { label: 'all', 'src.label': 'mine', 'src.rate': 3 };
    validateApp(app, config);
    const src = instantiateOperator(app, 'src', config) as Source;
    const sink = instantiateOperator(app, 'sink', config) as Sink;
    expect(src.config).toEqual({ rate: 3, label: 'mine' });
    expect(sink.config).toEqual({ label: 'all' });
    const rate: number = src.config.rate; // typed by the schema
    expect(rate).toBe(3);
  });

  it('applies the schema defaults when no entry is given', () => {
    const src = instantiateOperator(app, 'src', { label: 'x' }) as Source;
    expect(src.config).toEqual({ rate: 10, label: 'x' });
  });

  it('refuses a key no operator declares, listing the known keys in one line', () => {
    const err = refusal(() => validateApp(app, { label: 'x', lable: 'typo' }));
    expect(err.message).toContain('"lable"');
    expect(err.message).toContain('known keys: rate, label, limit; per operator: src.rate, src.label, sink.label, sink.limit');
    expect(err.message).not.toContain('\n');
  });

  it('refuses an operator.key the operator does not declare, and one naming no operator', () => {
    expect(refusal(() => validateApp(app, { label: 'x', 'src.limit': 3 })).message).toContain('"src.limit" is not declared by operator "src"');
    expect(refusal(() => validateApp(app, { label: 'x', 'plain.label': 'y' })).message).toContain('"plain.label" is not declared by operator "plain"');
    expect(refusal(() => validateApp(app, { label: 'x', 'nosuch.label': 'y' })).message).toContain('"nosuch.label" names no operator');
  });

  it('refuses a value its schema refuses, naming the key and the operator', () => {
    const err = refusal(() => validateApp(app, { label: 'x', 'src.rate': 'fast' }));
    expect(err.message).toMatch(/^config key "rate" of operator "src": "fast" is refused \(.*number.*\)$/);
  });

  it('refuses a missing required key, saying how to give it', () => {
    expect(refusal(() => validateApp(app, {})).message).toBe('config key "label" of operator "sink" is required (give label=... or sink.label=...)');
  });

  it('refuses a static config that is not a zod object schema (INVALID_DAG)', () => {
    class Odd extends Operator {
      static config = { rate: 1 };
      in = this.input<string>(() => undefined);
    }
    const odd = defineApp({ ...app, operators: { ...app.operators, plain: { create: () => new Odd() } } });
    expect(refusal(() => validateApp(odd, { label: 'x' }), 'INVALID_DAG').message).toContain('operator "plain": static config must be a zod object schema');
  });

  it('says when this.config is read before the runtime binds it', () => {
    expect(refusal(() => new Source().config).message).toContain('read it in setup() or later');
  });
});
