import { describe, expect, it } from 'vitest';
import { renderStatus } from './status.js';

/** The line of `sluice status` that says who an app runs as (docs/architecture.md "Who an app runs as"). */
describe('sluice status: the owner line', () => {
  const app = { id: 'wc-1', name: 'wordcount', state: 'running', secure: true, uptimeMs: 5_000, committedWindow: 3 };
  const lines = (extra: Record<string, unknown>) => renderStatus({ app: { ...app, ...extra }, containers: [], operators: [] }).split('\n');

  it('names the owner and, when someone launched for them, who did', () => {
    expect(lines({ owner: 'alice@EXAMPLE.TEST', realUser: 'HTTP/localhost@EXAMPLE.TEST' })[1]).toBe('owner alice@EXAMPLE.TEST (via HTTP/localhost@EXAMPLE.TEST)');
  });

  it('names only the owner when the owner launched it', () => {
    expect(lines({ owner: 'alice', realUser: '' })[1]).toBe('owner alice');
  });
});
