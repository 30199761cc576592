import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { SluiceError, sanUri } from '@sluice/common';

/**
 * The app's certificate authority (docs/architecture.md "Transport encryption"). It signs the
 * CSR a container sends over its authenticated umbilical, and sets the SAN from the token that
 * container authenticated with, never from the CSR: a token of container A gets a certificate
 * naming A whatever the CSR asks for. Roots rotate in three steps, each one a certificate
 * lifetime apart so that every container has renewed in between (containers learn the roots with
 * each certificate): a new root is trusted (`addRoot`), then signs (`promote`), then the old one
 * is dropped (`retireOldRoots`).
 */

x509.cryptoProvider.set(webcrypto as never);

export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** How long an app CA root is valid; root-rotation.ts rotates it well before (`rotationPeriod`). */
export const ROOT_LIFETIME_MS = 365 * 24 * 3600_000;
/** Leaves are valid from a little before issue, so a peer's clock a few seconds behind accepts them. */
const BACKDATE_MS = 60_000;

export interface CaRoot {
  cert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
}

export interface IssuedCertificate {
  /** DER, leaf first. */
  chain: Buffer[];
  /** DER of every root to trust now. */
  roots: Buffer[];
  notAfter: number;
  serial: string;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // a positive INTEGER
  return b.toString('hex');
}

export async function createRoot(appId: string, now = Date.now(), lifetimeMs = ROOT_LIFETIME_MS): Promise<CaRoot> {
  const keys = (await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Sluice app CA ${appId} ${new Date(now).toISOString()}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + lifetimeMs),
    signingAlgorithm: EC_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey };
}

/** Above an operator's intermediate (operator-ca.ts): what leaves are sent with, and what peers trust. */
export interface CaAnchor {
  /** DER, from the intermediate that signs up to (not with) the root. */
  intermediates: Buffer[];
  /** DER of the operator's root(s). */
  roots: Buffer[];
}

export class CertificateAuthority {
  /** Oldest first. */
  private roots: CaRoot[];
  /** Index in `roots` of the one that signs. */
  private signingIndex: number;

  constructor(
    readonly appId: string,
    roots: CaRoot[],
    /** Default the newest. */
    signingIndex = roots.length - 1,
    /** Set when the one "root" is an operator's intermediate: its chain and the roots peers trust. */
    readonly anchor?: CaAnchor,
  ) {
    if (roots.length === 0) throw new SluiceError('BAD_CONFIG', 'a certificate authority needs a root');
    if (!(signingIndex >= 0 && signingIndex < roots.length)) throw new SluiceError('BAD_CONFIG', `signing root ${signingIndex} is not one of the ${roots.length} roots`);
    this.roots = [...roots];
    this.signingIndex = signingIndex;
  }

  get signing(): CaRoot {
    return this.roots[this.signingIndex]!;
  }

  get signingRoot(): number {
    return this.signingIndex;
  }

  allRoots(): readonly CaRoot[] {
    return this.roots;
  }

  /** DER of every trusted root, oldest first (the operator's, above an intermediate). */
  rootsDer(): Buffer[] {
    return this.anchor ? this.anchor.roots : this.roots.map((r) => Buffer.from(r.cert.rawData));
  }

  /** Starts a rotation: the new root is trusted (handed out with every certificate) but does not sign yet. */
  addRoot(root: CaRoot): void {
    this.roots.push(root);
  }

  /** The newest root signs from now on; the others stay trusted. */
  promote(): void {
    this.signingIndex = this.roots.length - 1;
  }

  /** Ends a rotation: only the signing root stays trusted. */
  retireOldRoots(): void {
    this.roots = [this.signing];
    this.signingIndex = 0;
  }

  /**
   * Signs a certificate for `containerId` (the one the requesting token is scoped to) over the
   * CSR's public key. The CSR must be well formed, self-signed and a P-256 key; its names are ignored.
   */
  async issue(csrDer: Uint8Array, containerId: string, lifetimeMs: number, now = Date.now()): Promise<IssuedCertificate> {
    const publicKey = await csrPublicKey(csrDer);
    const { cert: issuer, key } = this.signing;
    // Never past the issuer: a leaf that outlived it would stop verifying before its own expiry, unrenewed.
    const notAfter = Math.min(now + lifetimeMs, issuer.notAfter.getTime());
    const number = serial();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: number,
      subject: `CN=${containerId}`,
      issuer: issuer.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(notAfter),
      signingAlgorithm: EC_ALGORITHM,
      publicKey,
      signingKey: key,
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: sanUri(this.appId, containerId) }], true),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(issuer),
      ],
    });
    return { chain: [Buffer.from(leaf.rawData), ...(this.anchor?.intermediates ?? [])], roots: this.rootsDer(), notAfter, serial: number };
  }
}

/** The CSR's public key once its own signature checks out; anything else is a BAD_CSR refusal. */
async function csrPublicKey(csrDer: Uint8Array): Promise<webcrypto.CryptoKey> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(Buffer.from(csrDer));
  } catch (err) {
    throw new SluiceError('BAD_CSR', `csr is not a DER PKCS#10 request (${(err as Error).message.slice(0, 60)})`, { cause: err });
  }
  let ok = false;
  let key: webcrypto.CryptoKey;
  try {
    ok = await csr.verify();
    key = await csr.publicKey.export(EC_ALGORITHM, ['verify']);
  } catch (err) {
    throw new SluiceError('BAD_CSR', `csr key is not an ECDSA P-256 key (${(err as Error).message.slice(0, 60)})`, { cause: err });
  }
  if (!ok) throw new SluiceError('BAD_CSR', 'csr signature does not verify; the request was not made with its own key');
  return key;
}

/**
 * The umbilical's answer to a csr: a certificate for the container the session's token names
 * (never a name from the CSR), and the roots to trust. `health` hears of each certificate issued
 * and each CSR refused (cert-health.ts).
 */
export function signer(ca: CertificateAuthority, lifetimeMs: number, health?: { issued(container: string, cert: IssuedCertificate): void; refused(container: string, reason: string): void }): (conn: { container: string }, csr: Uint8Array) => Promise<{ chain: Buffer[]; roots: Buffer[] }> {
  return async (conn, csr) => {
    let issued: IssuedCertificate;
    try {
      issued = await ca.issue(csr, conn.container, lifetimeMs);
    } catch (err) {
      health?.refused(conn.container, (err as Error).message);
      throw err;
    }
    health?.issued(conn.container, issued);
    return { chain: issued.chain, roots: issued.roots };
  };
}
