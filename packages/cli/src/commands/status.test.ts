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

/** The store credential line (docs/stores.md): its expiry and renewal health, never its secret. */
describe('sluice status: store credentials', () => {
  const app = { id: 'wc-1', name: 'wordcount', state: 'running', secure: true, uptimeMs: 5_000, committedWindow: 3 };
  const store = { system: 'postgres', generation: 3, expiry: '2026-12-02T08:00:00Z', renewals: 7, reissues: 2, failures: 0, consecutiveFailures: 0, lastError: null };
  const render = (s: Record<string, unknown>): string[] => renderStatus({ app: { ...app, stores: [s] }, containers: [], operators: [] }).split('\n');

  it('shows each credential with its expiry and counts', () => {
    expect(render(store)).toContain('store postgres: credential #3 valid until 2026-12-02T08:00:00Z, 7 renewals, 2 reissues, 0 failures');
  });

  it('says when renewal is failing, with the last error', () => {
    const line = render({ ...store, failures: 2, consecutiveFailures: 2, lastError: 'renew failed: role no longer exists' }).find((l) => l.startsWith('store postgres'));
    expect(line).toContain('RENEWAL FAILING (2): renew failed: role no longer exists');
  });
});
