import { isoTime, type Clock } from '@sluice/common';

/**
 * Each container's certificate as STRAM last issued it, and whether its renewal keeps up
 * (docs/architecture.md "Transport encryption"): shown in the REST status next to the token
 * renewal, and as a warning on the console's app page. A container renews at 75% of its
 * certificate's lifetime; renewal is failing when STRAM refused its last CSR, or when 90% of the
 * lifetime has passed without a new certificate (the container did not ask, or could not).
 */

/** Past this share of its lifetime without a renewal, a certificate's renewal counts as failing. */
export const OVERDUE_AT = 0.9;

/** `certificate` in a container's REST status (null until its first certificate). */
export interface CertificateStatus {
  /** When the latest certificate expires, and its serial (hex); null while none was issued (its CSRs were refused). */
  notAfter: string | null;
  serial: string | null;
  /** When STRAM issued it: the first enrolment, or the latest renewal. */
  lastRenewal: string | null;
  /** Certificates issued to the container (its first and every renewal). */
  issued: number;
  /** CSRs refused since the last certificate, and why the latest was. */
  consecutiveFailures: number;
  lastError: string | null;
  failing: boolean;
}

interface Held {
  notAfter: number;
  serial: string;
  issuedAt: number;
  lifetimeMs: number;
  issued: number;
  failures: number;
  lastError: string | null;
}

export class CertificateHealth {
  private readonly held = new Map<string, Held>();

  constructor(private readonly clock: Clock) {}

  /** STRAM signed a certificate for `container` (ca.ts `issue`). */
  issued(container: string, cert: { notAfter: number; serial: string }): void {
    const now = this.clock.now();
    const before = this.held.get(container);
    this.held.set(container, { notAfter: cert.notAfter, serial: cert.serial, issuedAt: now, lifetimeMs: cert.notAfter - now, issued: (before?.issued ?? 0) + 1, failures: 0, lastError: null });
  }

  /** STRAM refused a CSR of `container`, for `reason`. */
  refused(container: string, reason: string): void {
    const h = this.held.get(container);
    if (h) {
      h.failures++;
      h.lastError = reason;
    } else this.held.set(container, { notAfter: 0, serial: '', issuedAt: 0, lifetimeMs: 0, issued: 0, failures: 1, lastError: reason });
  }

  statusOf(container: string): CertificateStatus | null {
    const h = this.held.get(container);
    if (!h) return null;
    const overdue = h.issued > 0 && this.clock.now() >= h.issuedAt + h.lifetimeMs * OVERDUE_AT;
    return {
      notAfter: h.issued > 0 ? isoTime(h.notAfter) : null,
      serial: h.issued > 0 ? h.serial : null,
      lastRenewal: h.issued > 0 ? isoTime(h.issuedAt) : null,
      issued: h.issued,
      consecutiveFailures: h.failures,
      lastError: h.lastError,
      failing: h.failures > 0 || overdue,
    };
  }
}
