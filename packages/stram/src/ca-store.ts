import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { SluiceError, derToPem, pemToDer, readPrivateFile, writeFileAtomic, z } from '@sluice/common';
import { CertificateAuthority, EC_ALGORITHM, createRoot, type CaRoot } from './ca.js';

/**
 * The CA's roots on disk: `<app dir>/stram/ca`, 0600, JSON of every trusted root (certificate
 * and PKCS#8 key, PEM), oldest first. Written whenever the roots change, read on `--recover`,
 * so a recovered STRAM signs with the root its containers already trust.
 */

/** `changedAt`: when the roots last changed (made, or a rotation step), ms since the epoch; a rotation resumed by a recovered STRAM counts its next step from it. */
const fileSchema = z.object({ v: z.literal(1), roots: z.array(z.object({ cert: z.string(), key: z.string() })).min(1), signing: z.number().int().min(0).optional(), changedAt: z.number().int().min(0).optional() });

export function caFile(stramDir: string): string {
  return join(stramDir, 'ca');
}

export async function exportRoot(root: CaRoot): Promise<{ cert: string; key: string }> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', root.key);
  return { cert: root.cert.toString('pem'), key: derToPem(new Uint8Array(pkcs8), 'PRIVATE KEY') };
}

async function importRoot(entry: { cert: string; key: string }): Promise<CaRoot> {
  const [der] = pemToDer(entry.key);
  if (!der) throw new Error('no PEM key');
  const key = await webcrypto.subtle.importKey('pkcs8', der, EC_ALGORITHM, true, ['sign']);
  return { cert: new x509.X509Certificate(entry.cert), key };
}

export async function saveCa(path: string, ca: CertificateAuthority, changedAt = Date.now()): Promise<void> {
  const roots = await Promise.all(ca.allRoots().map(exportRoot));
  writeFileAtomic(path, `${JSON.stringify({ v: 1, roots, signing: ca.signingRoot, changedAt })}\n`, 0o600);
}

/** When the CA file's roots last changed (undefined: no file, or one from before this was kept). */
export function caChangedAt(path: string): number | undefined {
  const text = readPrivateFile(path, { what: 'CA file', code: 'STATE_CORRUPT', missingOk: true });
  if (text === undefined) return undefined;
  const parsed = fileSchema.safeParse(JSON.parse(text.toString('utf8')));
  return parsed.success ? parsed.data.changedAt : undefined;
}

/** The CA of the app: the one on disk when there is one, else a new root (saved before it is used). */
export async function loadOrCreateCa(path: string, appId: string): Promise<CertificateAuthority> {
  const text = readPrivateFile(path, { what: 'CA file', code: 'STATE_CORRUPT', missingOk: true });
  if (text === undefined) {
    const ca = new CertificateAuthority(appId, [await createRoot(appId)]);
    await saveCa(path, ca);
    return ca;
  }
  try {
    const file = fileSchema.parse(JSON.parse(text.toString('utf8')));
    return new CertificateAuthority(appId, await Promise.all(file.roots.map(importRoot)), file.signing);
  } catch (err) {
    throw new SluiceError('STATE_CORRUPT', `CA file ${path} cannot be read (${(err as Error).message.slice(0, 80)}); restore it from a backup or relaunch the app`, { cause: err });
  }
}

/**
 * Where the CA is in a root rotation, from its roots alone (so the file says it too): `idle` one
 * root; `trusting` a new root trusted, an older one signing; `signing` the newest signs, older
 * ones still trusted.
 */
export type RotationPhase = 'idle' | 'trusting' | 'signing';

export function rotationPhase(ca: CertificateAuthority): RotationPhase {
  const n = ca.allRoots().length;
  if (n === 1) return 'idle';
  return ca.signingRoot === n - 1 ? 'signing' : 'trusting';
}

/**
 * The three steps, each saved at `at`. A step already done in memory is only saved again: a step
 * whose save failed is retried without adding another root.
 */

/** Starts a root rotation and saves it: a new root is trusted alongside, not signing yet. */
export async function rotateRoot(path: string, ca: CertificateAuthority, at = Date.now()): Promise<void> {
  if (rotationPhase(ca) === 'idle') ca.addRoot(await createRoot(ca.appId, at));
  await saveCa(path, ca, at);
}

/** The second step: the new root signs, the old ones are still trusted. */
export async function promoteRoot(path: string, ca: CertificateAuthority, at = Date.now()): Promise<void> {
  if (rotationPhase(ca) === 'trusting') ca.promote();
  await saveCa(path, ca, at);
}

/** Ends a rotation once every leaf is reissued: only the newest root stays. */
export async function retireOldRoots(path: string, ca: CertificateAuthority, at = Date.now()): Promise<void> {
  if (rotationPhase(ca) === 'signing') ca.retireOldRoots();
  await saveCa(path, ca, at);
}
