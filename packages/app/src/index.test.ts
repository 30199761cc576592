import { describe, expect, it } from 'vitest';
import * as common from '@sluice/common';
import * as app from './index.js';

describe('@sluice/app', () => {
  it('exports the application API and nothing of the runtime', () => {
    expect(Object.keys(app).sort()).toEqual(['InputPort', 'Operator', 'OutputPort', 'PostgresWindowSink', 'defineApp', 'hashString', 'writeFileAtomic', 'z']);
  });

  it("is common's own API, so an app built against it runs in containers and in runLocal", () => {
    expect(app.Operator).toBe(common.Operator);
    expect(app.defineApp).toBe(common.defineApp);
    expect(app.z).toBe(common.z);
    class Numbers extends app.Operator {
      out = this.output<number>();
      emitTuples(w: number): void {
        this.out.emit(w);
      }
    }
    const def = app.defineApp({ name: 'one', operators: { numbers: { create: () => new Numbers() } }, streams: {} });
    expect(common.validateApp(def).operators).toEqual([{ name: 'numbers', partitions: 1, inputs: [], outputs: ['out'] }]);
  });
});
