import { CERT_RENEW_AT, STRAM_SAN_NAME, certificateExpiry, makeKeyAndCsr, tlsMaterial, type Logger, type TlsMaterial } from '@sluice/common';
import type { CertificateAuthority } from './ca.js';

/**
 * STRAM's own TLS identity (docs/protocol.md "Transport encryption"): the certificate its
 * umbilical serves, issued by the app CA for `sluice://<app>/stram` over a key made here, renewed
 * at 75% of its lifetime and reissued at every root-rotation step (root-rotation.ts), so that it
 * chains to the signing root and trusts every root containers may hold certificates of. Each new
 * certificate goes to `onChange` (the umbilical swaps it in with setSecureContext).
 */
export class StramIdentity {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly listeners: ((m: TlsMaterial) => void)[] = [];

  private constructor(
    private readonly ca: CertificateAuthority,
    private readonly lifetimeMs: number,
    private readonly logger: Logger,
    private current: TlsMaterial,
  ) {}

  static async issue(ca: CertificateAuthority, lifetimeMs: number, logger: Logger): Promise<StramIdentity> {
    const identity = new StramIdentity(ca, lifetimeMs, logger, await StramIdentity.make(ca, lifetimeMs));
    identity.schedule();
    return identity;
  }

  private static async make(ca: CertificateAuthority, lifetimeMs: number): Promise<TlsMaterial> {
    const { keyPem, csr } = await makeKeyAndCsr(STRAM_SAN_NAME);
    const issued = await ca.issue(csr, STRAM_SAN_NAME, lifetimeMs);
    return tlsMaterial(issued.chain, issued.roots, keyPem);
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /** Called with every certificate issued from now on. */
  onChange(listener: (m: TlsMaterial) => void): void {
    this.listeners.push(listener);
  }

  /** A new key and certificate under the CA's signing root, trusting its roots as they are now. */
  async reissue(why: string): Promise<void> {
    if (this.stopped) return;
    try {
      this.current = await StramIdentity.make(this.ca, this.lifetimeMs);
    } catch (err) {
      // The old certificate serves on; the next renewal tries again.
      this.logger.error({ why, err: (err as Error).message }, 'STRAM certificate could not be reissued');
      this.schedule();
      return;
    }
    this.logger.info({ why, roots: this.ca.allRoots().length }, 'STRAM certificate reissued');
    for (const l of this.listeners) l(this.current);
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    // From the certificate's own notAfter (whole seconds, so up to a second short of the lifetime asked for).
    const left = Math.max(certificateExpiry(this.current.cert) - Date.now(), 0);
    this.timer = setTimeout(() => void this.reissue('renewal'), left * CERT_RENEW_AT);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
