import { describe, expect, it } from 'vitest';
import { ManualClock } from '@sluice/common';
import { CertificateHealth } from './cert-health.js';

/** What the status says of a container's certificate as it is issued, renewed, refused and left to age. */
describe('certificate health', () => {
  it('is healthy after each issue, failing after a refused CSR until the next certificate, and failing once 90% of the lifetime passed without one', () => {
    const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
    const h = new CertificateHealth(clock);
    expect(h.statusOf('c1')).toBeNull();
    h.issued('c1', { notAfter: clock.now() + 4_000, serial: '01' });
    expect(h.statusOf('c1')).toEqual({ notAfter: '2030-01-01T00:00:04Z', serial: '01', lastRenewal: '2030-01-01T00:00:00Z', issued: 1, consecutiveFailures: 0, lastError: null, failing: false });
    clock.advance(3_000);
    h.refused('c1', 'csr signature does not verify');
    expect(h.statusOf('c1')).toMatchObject({ serial: '01', consecutiveFailures: 1, lastError: 'csr signature does not verify', failing: true });
    h.issued('c1', { notAfter: clock.now() + 4_000, serial: '02' });
    expect(h.statusOf('c1')).toMatchObject({ notAfter: '2030-01-01T00:00:07Z', serial: '02', issued: 2, consecutiveFailures: 0, failing: false });
    clock.advance(3_500);
    expect(h.statusOf('c1')?.failing).toBe(false);
    clock.advance(200);
    expect(h.statusOf('c1')).toMatchObject({ consecutiveFailures: 0, failing: true });
  });

  it('reports a container whose only CSR was refused, with no certificate yet', () => {
    const h = new CertificateHealth(new ManualClock(0));
    h.refused('c2', 'csr is not a DER PKCS#10 request');
    expect(h.statusOf('c2')).toEqual({ notAfter: null, serial: null, lastRenewal: null, issued: 0, consecutiveFailures: 1, lastError: 'csr is not a DER PKCS#10 request', failing: true });
  });
});
