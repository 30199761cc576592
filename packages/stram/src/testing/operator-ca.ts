import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { derToPem } from '@sluice/common';
import { EC_ALGORITHM } from '../ca.js';

/**
 * What an operator brings to `sluice launch --ca-cert --ca-key --ca-chain` (operator-ca.ts): a
 * root of its own and an intermediate that root signed, as PEM, made with @peculiar/x509.
 */
export interface OperatorCa {
  rootPem: string;
  intermediatePem: string;
  /** PKCS#8 PEM of the intermediate's key. */
  intermediateKeyPem: string;
}

export async function makeOperatorCa(name = 'Example Operator'): Promise<OperatorCa> {
  const now = Date.now();
  const rootKeys = (await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  // pathLen 1: one intermediate below the root (an app's own root, createRoot, allows none).
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name} root`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 24 * 3600_000),
    signingAlgorithm: EC_ALGORITHM,
    keys: rootKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(rootKeys.publicKey),
    ],
  });
  const root = { cert: rootCert, key: rootKeys.privateKey };
  const keys = (await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const intermediate = await x509.X509CertificateGenerator.create({
    serialNumber: '0a1b2c3d',
    subject: `CN=${name} issuing CA`,
    issuer: root.cert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * 24 * 3600_000),
    signingAlgorithm: EC_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: root.key,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(root.cert),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { rootPem: root.cert.toString('pem'), intermediatePem: intermediate.toString('pem'), intermediateKeyPem: derToPem(new Uint8Array(pkcs8), 'PRIVATE KEY') };
}
