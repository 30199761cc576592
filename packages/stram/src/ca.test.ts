import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isSluiceError, makeKeyAndCsr, sanUri, uriNames } from '@sluice/common';
import { CertificateAuthority, createRoot } from './ca.js';
import { caFile, loadOrCreateCa, promoteRoot, retireOldRoots, rotateRoot } from './ca-store.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-ca-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const HOUR = 3600_000;

describe('certificate authority', () => {
  it('names the container of the requesting token, never the one the CSR asks for', async () => {
    const ca = new CertificateAuthority('app-1', [await createRoot('app-1')]);
    const { csr } = await makeKeyAndCsr('B', sanUri('app-1', 'B'));
    const issued = await ca.issue(csr, 'A', HOUR);
    const leaf = new X509Certificate(issued.chain[0]!);
    expect(uriNames(leaf.subjectAltName)).toEqual([sanUri('app-1', 'A')]);
    expect(leaf.subject).not.toContain('B');
    const root = new X509Certificate(issued.roots[0]!);
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(Date.parse(leaf.validTo)).toBeLessThanOrEqual(Date.now() + HOUR);
  });

  it('refuses a CSR that is not DER PKCS#10 or whose signature does not verify, with BAD_CSR', async () => {
    const ca = new CertificateAuthority('app-1', [await createRoot('app-1')]);
    await expect(ca.issue(Buffer.from('not a csr'), 'A', HOUR)).rejects.toSatisfy((e) => isSluiceError(e, 'BAD_CSR'));
    const { csr } = await makeKeyAndCsr('A');
    const tampered = Buffer.from(csr);
    tampered[tampered.length - 5] = tampered[tampered.length - 5]! ^ 0xff; // inside the signature
    await expect(ca.issue(tampered, 'A', HOUR)).rejects.toSatisfy((e) => isSluiceError(e, 'BAD_CSR'));
  });

  it('keeps its root 0600 in the app directory and signs with the same root after a reload', async () => {
    const path = caFile(tempDir());
    const first = await loadOrCreateCa(path, 'app-1');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateCa(path, 'app-1');
    expect(again.rootsDer()).toEqual(first.rootsDer());
    const issued = await again.issue((await makeKeyAndCsr('A')).csr, 'A', HOUR);
    expect(new X509Certificate(issued.chain[0]!).checkIssued(new X509Certificate(first.rootsDer()[0]!))).toBe(true);
  });

  it('refuses a CA file others may read, and one that is not its format, with STATE_CORRUPT', async () => {
    const path = caFile(tempDir());
    writeFileSync(path, '{"v":1,"roots":[]}', { mode: 0o644 });
    await expect(loadOrCreateCa(path, 'app-1')).rejects.toSatisfy((e) => isSluiceError(e, 'STATE_CORRUPT') && (e as Error).message.includes('chmod 600'));
    rmSync(path);
    writeFileSync(path, 'garbage', { mode: 0o600 });
    await expect(loadOrCreateCa(path, 'app-1')).rejects.toSatisfy((e) => isSluiceError(e, 'STATE_CORRUPT'));
  });

  it('rotates: the new root is trusted first, then signs while both are trusted, then the old one is retired (each step survives a reload)', async () => {
    const path = caFile(tempDir());
    const ca = await loadOrCreateCa(path, 'app-1');
    const [oldRoot] = ca.rootsDer();
    await rotateRoot(path, ca);
    expect(ca.rootsDer()).toHaveLength(2);
    const trusted = await (await loadOrCreateCa(path, 'app-1')).issue((await makeKeyAndCsr('A')).csr, 'A', HOUR);
    expect(trusted.roots).toHaveLength(2);
    expect(new X509Certificate(trusted.chain[0]!).checkIssued(new X509Certificate(oldRoot!))).toBe(true);
    await promoteRoot(path, ca);
    const issued = await (await loadOrCreateCa(path, 'app-1')).issue((await makeKeyAndCsr('A')).csr, 'A', HOUR);
    expect(issued.roots).toHaveLength(2);
    const leaf = new X509Certificate(issued.chain[0]!);
    expect(leaf.checkIssued(new X509Certificate(oldRoot!))).toBe(false);
    expect(leaf.checkIssued(new X509Certificate(issued.roots[1]!))).toBe(true);
    await retireOldRoots(path, ca);
    const reloaded = await loadOrCreateCa(path, 'app-1');
    expect(reloaded.rootsDer()).toEqual([issued.roots[1]]);
  });
});
