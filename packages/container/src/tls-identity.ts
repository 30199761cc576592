import {
  CERT_RENEW_AT,
  STRAM_SAN_NAME,
  SluiceError,
  certificateExpiry,
  containerOfBufferServer,
  makeKeyAndCsr,
  sanUri,
  tlsMaterial,
  type CertMessage,
  type ClientTls,
  type Logger,
  type TlsMaterial,
} from '@sluice/common';

/**
 * This container's TLS identity (docs/protocol.md "Transport encryption"): a key pair made here,
 * a certificate STRAM signs over the umbilical, renewed at 75% of its lifetime with a fresh key.
 * The private key never leaves this process's memory. Holds the material every new TLS link of
 * the container uses: its buffer server (swapped live through `onRenewed`) and its clients.
 */

export const RENEW_AT = CERT_RENEW_AT;

export interface TlsIdentityOptions {
  app: string;
  container: string;
  logger: Logger;
  /** PEM roots from the credentials file: STRAM's certificate is checked against them until a certificate brings the current ones. */
  initialRoots: string[];
  /** Asks the umbilical to send `csr()` now (it also does after every welcome). */
  request(): void;
  /** A renewed certificate: serve it from now on. */
  onRenewed(material: TlsMaterial): void;
  now?: () => number;
}

export class TlsIdentity {
  private pending: { keyPem: string; csr: Buffer } | null = null;
  private current: TlsMaterial | null = null;
  /** When the current certificate expires (ms since the epoch). */
  private validUntil = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private resolveReady!: (m: TlsMaterial) => void;
  /** Settles with the first certificate. */
  readonly ready = new Promise<TlsMaterial>((r) => (this.resolveReady = r));
  private readonly now: () => number;

  constructor(private readonly o: TlsIdentityOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Makes a key pair and its CSR, then asks for a certificate. */
  async enrol(): Promise<void> {
    this.pending = await makeKeyAndCsr(this.o.container);
    this.o.request();
  }

  /** What the umbilical sends after a welcome: the CSR awaiting its certificate, if any. */
  csr(): Buffer | undefined {
    return this.pending?.csr;
  }

  onCert(cert: CertMessage): void {
    const pending = this.pending;
    if (!pending) {
      this.o.logger.warn('a certificate arrived that was not asked for; ignored');
      return;
    }
    this.pending = null;
    const material = tlsMaterial(cert.chain, cert.roots, pending.keyPem);
    const first = this.current === null;
    this.current = material;
    const notAfter = certificateExpiry(cert.chain[0]!);
    this.validUntil = notAfter;
    const lifetime = Math.max(notAfter - this.now(), 0);
    this.o.logger.info({ validUntil: new Date(notAfter).toISOString(), roots: cert.roots.length }, first ? 'certificate received' : 'certificate renewed');
    if (first) this.resolveReady(material);
    else this.o.onRenewed(material);
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => void this.enrol().catch((err: unknown) => this.o.logger.error({ err: (err as Error).message }, 'certificate renewal failed')), lifetime * RENEW_AT);
    this.renewTimer.unref();
  }

  /** The material of this container's server side (its buffer server). */
  get material(): TlsMaterial {
    if (!this.current) throw new SluiceError('BAD_CONFIG', 'no certificate yet; the container has not enrolled');
    return this.current;
  }

  /**
   * Client TLS to STRAM's umbilical: its certificate must name `sluice://<app>/stram` and chain to
   * the roots this container knows; this container's own certificate is presented once it has one,
   * while it is valid. One that expired (its renewal fell due while STRAM was down) would be
   * refused (CERT_EXPIRED) before any umbilical byte, every retry, until the container gave STRAM
   * up: without it the token alone lets the container in, as before its first certificate, and
   * the CSR its renewal left pending goes with that connection.
   */
  umbilicalTls(): ClientTls {
    const server = sanUri(this.o.app, STRAM_SAN_NAME);
    if (!this.current) return { ca: this.o.initialRoots.join(''), server };
    if (this.now() >= this.validUntil) return { ca: this.current.ca, server };
    return { ...this.current, server };
  }

  /** Client TLS to the buffer server `bufferServer` (its token's service): it must carry its container's name. */
  clientFor(bufferServer: string): ClientTls {
    const container = containerOfBufferServer(bufferServer);
    if (!container) throw new SluiceError('BAD_CONFIG', `buffer server "${bufferServer}" is not a container's; no certificate name to expect`);
    return { ...this.material, server: sanUri(this.o.app, container) };
  }

  stop(): void {
    clearTimeout(this.renewTimer);
  }
}
