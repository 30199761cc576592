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

  it('sums up the certificates: how many are held, the next to expire, how many were issued, and whose renewal is failing', () => {
    const cert = (notAfter: string | null, issued: number, failing = false, lastError: string | null = null) => ({ notAfter, serial: 'ab', lastRenewal: null, issued, consecutiveFailures: failing ? 1 : 0, lastError, failing });
    const container = (id: string, certificate: unknown) => ({ id, certificate, operators: [], restarts: 0, heartbeats: 0, lastHeartbeat: null, state: 'running' });
    const lines = (containers: unknown[]) => renderStatus({ app: { ...app, tls: true }, containers, operators: [] } as never).split('\n');
    const line = (containers: unknown[]) => lines(containers).find((l) => l.startsWith('certificates:'));
    expect(line([container('c1', cert('2026-12-02T15:00:00.000Z', 3)), container('c2', cert('2026-12-02T14:00:00.000Z', 2))])).toBe('certificates: 2 held, next expiry 2026-12-02T14:00:00.000Z (c2), 5 issued');
    expect(line([container('c1', cert('2026-12-02T15:00:00.000Z', 1)), container('c2', cert(null, 0, true, 'CSR_SUBJECT'))])).toBe('certificates: 1 held, next expiry 2026-12-02T15:00:00.000Z (c1), 1 issued, RENEWAL FAILING for c2 (CSR_SUBJECT)');
    // Without TLS no container holds a certificate, and the line is left out.
    expect(line([container('c1', null)])).toBeUndefined();
  });

  it('counts the restarts someone asked for apart from the ones the restart strategy made', () => {
    const row = renderStatus({ app, containers: [{ id: 'c2', state: 'running', pid: 7, operators: [], restarts: 3, requestedRestarts: 2, heartbeats: 0, lastHeartbeat: null }], operators: [] } as never)
      .split('\n')
      .find((l) => l.includes('c2'));
    expect(row).toContain('3 (2 asked)');
  });
});
