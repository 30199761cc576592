import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { derToPem } from './tls.js';

/**
 * A TLS identity made where it is used (docs/protocol.md "Transport encryption"): an ECDSA P-256
 * key pair in memory and a PKCS#10 request over it. The private key leaves this process only as
 * the PEM its own holder passes to `tls` (or writes to its own 0600 file); STRAM sees the CSR.
 */

/**
 * @peculiar/x509 (and the reflect-metadata it needs) is loaded on first use, not with this
 * package: it is ~0.4 s of CPU at every process start, and only a process that runs TLS makes a
 * key (every container imports common; without TLS none of them needs it).
 */
let x509Loaded: Promise<typeof X509> | undefined;
function loadX509(): Promise<typeof X509> {
  x509Loaded ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as never);
    return x509;
  })();
  return x509Loaded;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyAndCsr {
  /** PKCS#8 PEM of the private key. */
  keyPem: string;
  /** DER PKCS#10, for `{t:"csr"}`. */
  csr: Buffer;
}

/**
 * A fresh key pair and a CSR naming `commonName`. STRAM ignores the names and sets its own; `askFor`
 * puts a SAN URI in the request anyway (what a dishonest container would send, for tests).
 */
export async function makeKeyAndCsr(commonName: string, askFor?: string): Promise<KeyAndCsr> {
  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const extensions = askFor ? [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: askFor }])] : [];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName}`, keys, signingAlgorithm: EC, extensions });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keyPem: derToPem(new Uint8Array(pkcs8), 'PRIVATE KEY'), csr: Buffer.from(csr.rawData) };
}
