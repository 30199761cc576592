import { describe, expect, it } from 'vitest';
import { renderStatus } from './status.js';

/** `sluice status` says whether the app's links run over mutual TLS (docs/architecture.md "Transport encryption"). */
describe('sluice status: TLS', () => {
  const app = { id: 'wc-1', name: 'wordcount', state: 'running', secure: true, uptimeMs: 5_000, committedWindow: 3 };
  const first = (extra: Record<string, unknown>) => renderStatus({ app: { ...app, ...extra }, containers: [], operators: [] }).split('\n')[0];

  it('says TLS on for an app launched with --tls on, and off otherwise (an older STRAM that does not say is off)', () => {
    expect(first({ tls: true })).toBe('app wc-1 (wordcount): running, secure, TLS on, up 5s, committed window 3');
    expect(first({ tls: false })).toContain(', TLS off,');
    expect(first({})).toContain(', TLS off,');
  });
});
