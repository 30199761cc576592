import { join } from 'node:path';
import { Operator, defineApp, writeFileAtomic, z, type OperatorContext } from '@sluice/common';

/**
 * An app whose two operators declare the same config keys (docs/guide.md "Config"), for
 * test/runtime-config.test.ts: each writes the config it was given, and the JavaScript type of
 * each value, to `<app dir>/output/<operator>.json` once set up in its container.
 */
const schema = z.object({ n: z.number().int(), label: z.string().default('none') });

function report(ctx: OperatorContext, config: Record<string, unknown>): void {
  const types = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v]));
  writeFileAtomic(join(ctx.appDir, 'output', `${ctx.name}.json`), JSON.stringify({ config, types }));
}

class Source extends Operator.withConfig(schema) {
  out = this.output<number>();
  setup(ctx: OperatorContext): void {
    report(ctx, this.config);
  }
  emitTuples(w: number): void {
    this.out.emit(w * this.config.n);
  }
}

class Sink extends Operator.withConfig(schema) {
  in = this.input<number>(() => undefined);
  setup(ctx: OperatorContext): void {
    report(ctx, this.config);
  }
}

export default defineApp({
  name: 'configured',
  operators: { source: { create: () => new Source() }, sink: { create: () => new Sink() } },
  streams: { numbers: { from: 'source.out', to: ['sink.in'] } },
});
