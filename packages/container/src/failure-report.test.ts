import { describe, expect, it } from 'vitest';
import { FAILURE_LIMITS, failureReportSchema } from '@sluice/common';
import { failureReport } from './failure-report.js';

describe('failure reports', () => {
  it('carry the name, message and stack of an Error, and the operator', () => {
    const err = new TypeError('x is not a function');
    expect(failureReport(err, 1_000.7, 'count#1')).toEqual({ operator: 'count#1', message: 'TypeError: x is not a function', stack: err.stack, at: 1_000 });
  });

  it('say what was thrown when it is not an Error, with no stack', () => {
    expect(failureReport('oops', 5)).toEqual({ message: 'thrown: oops', at: 5 });
  });

  it('cut a huge message and stack to what the heartbeat schema accepts', () => {
    const err = new Error('m'.repeat(5_000));
    err.stack = `Error: ${'s'.repeat(10)}\n${'    at frame (file.js:1:1)\n'.repeat(2_000)}`;
    const r = failureReport(err, 1, 'op#0');
    expect(r.message.length).toBe(FAILURE_LIMITS.message);
    expect(r.stack!.length).toBe(FAILURE_LIMITS.stack);
    expect(failureReportSchema.safeParse(r).success).toBe(true);
  });
});
