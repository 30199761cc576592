import 'reflect-metadata';
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import { SluiceError, pemToDer, readPrivateFile } from '@sluice/common';
import { CertificateAuthority, EC_ALGORITHM } from './ca.js';

/**
 * An intermediate CA the operator supplies (`sluice launch --ca-cert F --ca-key F [--ca-chain F]`;
 * docs/architecture.md "Transport encryption"): signed by the operator's own root, it issues the
 * app's leaves in place of a root of the app's own. Leaves go out with the chain above them, and
 * peers trust the operator's root. The key is read where the operator keeps it (0600, the
 * operator's own), never copied into the app directory; a recovered STRAM reads it again from the
 * same paths.
 */

export interface OperatorCaFiles {
  /** PEM of the intermediate CA certificate. */
  cert: string;
  /** PEM of its private key (PKCS#8 or SEC1, ECDSA P-256), mode 0600. */
  key: string;
  /** PEM of the certificates above it up to and with the operator's root; absent when `cert` is itself a root. */
  chain?: string | undefined;
}

function certificates(path: string, what: string): X509Certificate[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SluiceError('BAD_CONFIG', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}`, { cause: err });
  }
  const ders = pemToDer(text);
  if (ders.length === 0) throw new SluiceError('BAD_CONFIG', `${what} ${path} holds no PEM certificate`);
  try {
    return ders.map((d) => new X509Certificate(d));
  } catch (err) {
    throw new SluiceError('BAD_CONFIG', `${what} ${path} holds a certificate that does not parse (${(err as Error).message.slice(0, 60)})`, { cause: err });
  }
}

const selfSigned = (c: X509Certificate): boolean => c.checkIssued(c) && c.verify(c.publicKey);

export async function loadOperatorCa(appId: string, files: OperatorCaFiles): Promise<CertificateAuthority> {
  const [cert] = certificates(files.cert, '--ca-cert');
  if (!cert!.ca) throw new SluiceError('BAD_CONFIG', `--ca-cert ${files.cert} is not a CA certificate (basicConstraints CA:TRUE); give the intermediate that is to sign the app's certificates`);
  const keyPem = readPrivateFile(files.key, { what: '--ca-key file', code: 'BAD_CONFIG' });
  let key: webcrypto.CryptoKey;
  try {
    const keyObject = createPrivateKey(keyPem);
    if (!cert!.checkPrivateKey(keyObject)) throw new SluiceError('BAD_CONFIG', `--ca-key ${files.key} is not the key of --ca-cert ${files.cert}`);
    key = await webcrypto.subtle.importKey('pkcs8', keyObject.export({ type: 'pkcs8', format: 'der' }), EC_ALGORITHM, true, ['sign']);
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw new SluiceError('BAD_CONFIG', `--ca-key ${files.key} is not an ECDSA P-256 private key in PEM (${(err as Error).message.slice(0, 60)})`, { cause: err });
  }
  const above = files.chain ? certificates(files.chain, '--ca-chain') : [];
  const roots = [cert!, ...above].filter(selfSigned);
  if (roots.length === 0) throw new SluiceError('BAD_CONFIG', `--ca-cert ${files.cert} is not a root: give --ca-chain with the certificates above it up to the operator's root`);
  // Each certificate is signed by the next one up: a chain a peer will accept.
  const path = [cert!, ...above];
  for (let i = 0; i + 1 < path.length && !selfSigned(path[i]!); i++) {
    if (!(path[i]!.checkIssued(path[i + 1]!) && path[i]!.verify(path[i + 1]!.publicKey))) {
      throw new SluiceError('BAD_CONFIG', `--ca-chain ${files.chain}: ${path[i]!.subject.replace(/\n/g, ', ')} is not signed by the certificate after it; order the chain from the intermediate's issuer up to the root`);
    }
  }
  const intermediates = path.filter((c) => !selfSigned(c)).map((c) => Buffer.from(c.raw));
  return new CertificateAuthority(appId, [{ cert: new x509.X509Certificate(cert!.raw), key }], 0, { intermediates, roots: roots.map((r) => Buffer.from(r.raw)) });
}
