import { makeKeyAndCsr, sanUri, tlsMaterial, type ClientTls, type TlsMaterial } from '@sluice/common';
import { CertificateAuthority, createRoot, exportRoot } from '@sluice/stram';

/** Certificates the way an app's CA issues them, for tests that drive TLS endpoints directly. */

export async function appCa(appId: string): Promise<CertificateAuthority> {
  return new CertificateAuthority(appId, [await createRoot(appId)]);
}

/** A leaf for `container`, issued by `ca` (valid from `now`, for `lifetimeMs`). */
export async function leafFor(ca: CertificateAuthority, container: string, o: { lifetimeMs?: number; now?: number } = {}): Promise<TlsMaterial> {
  const { keyPem, csr } = await makeKeyAndCsr(container);
  const issued = await ca.issue(csr, container, o.lifetimeMs ?? 3600_000, o.now ?? Date.now());
  return tlsMaterial(issued.chain, issued.roots, keyPem);
}

/** A client of `ca`'s app that expects the server to be `server` (a container id). */
export function clientOf(material: TlsMaterial, appId: string, server: string): ClientTls {
  return { ...material, server: sanUri(appId, server) };
}

/** A certificate nobody issued: self-signed, trusting `ca`'s roots so only the server side can object. */
export async function selfSigned(appId: string, trusting: TlsMaterial): Promise<TlsMaterial> {
  const root = await exportRoot(await createRoot(appId));
  return { cert: root.cert, key: root.key, ca: trusting.ca };
}
