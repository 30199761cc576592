import { X509Certificate } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { SluiceError } from './errors.js';

/**
 * What both ends of a TLS link agree on (docs/protocol.md "Transport encryption"): the name a
 * certificate carries, the channel-binding value the handshake proofs append, and PEM from the
 * DER the umbilical carries. No sockets are made here.
 */

export const CHANNEL_BINDING_LABEL = 'EXPORTER-sluice-channel-binding';
export const CHANNEL_BINDING_LENGTH = 32;
export const TLS_MIN_VERSION = 'TLSv1.3';

/** The SAN URI of a container's certificate, or STRAM's own (`containerId` = "stram"). */
export function sanUri(appId: string, containerId: string): string {
  return `sluice://${appId}/${containerId}`;
}

export const STRAM_SAN_NAME = 'stram';

/** Every holder of an app certificate (a container, STRAM) renews it at this fraction of its lifetime. */
export const CERT_RENEW_AT = 0.75;

/** The 32-byte exporter value of this TLS session (RFC 5705 / RFC 8446 section 7.5). */
export function channelBinding(socket: TLSSocket): Buffer {
  // TLS 1.3 treats an absent and an empty context alike (RFC 8446 section 7.5).
  return socket.exportKeyingMaterial(CHANNEL_BINDING_LENGTH, CHANNEL_BINDING_LABEL, Buffer.alloc(0));
}

/** The URI names of a certificate's subjectAltName, as Node prints them (`URI:sluice://a/b, ...`). */
export function uriNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .filter((n) => n.startsWith('URI:'))
    .map((n) => n.slice(4));
}

/**
 * A `checkServerIdentity` that accepts only a server whose certificate names `expected` (a
 * sluice:// URI): a client reaches the container it meant to, not any holder of an app certificate.
 */
export function expectSan(expected: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const names = uriNames(cert.subjectaltname);
    if (names.includes(expected)) return undefined;
    return new SluiceError('CERT_WRONG_NAME', `server certificate names ${names.join(', ') || 'nothing'}, not ${expected}; not the server meant`);
  };
}

export function derToPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export function pemToDer(pem: string): Buffer[] {
  const blocks = pem.match(/-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/g) ?? [];
  return blocks.map((b) => Buffer.from(b.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
}

/** The material a TLS endpoint serves and trusts, as PEM strings for `tls.createSecureContext`. */
export interface TlsMaterial {
  /** Leaf first, then any intermediates. */
  cert: string;
  key: string;
  /** The roots a peer's certificate must chain to (old and new together during a rotation). */
  ca: string;
}

/** PEM material from the DER an enrolment returns and the private key the holder made. */
export function tlsMaterial(chain: readonly Uint8Array[], roots: readonly Uint8Array[], keyPem: string): TlsMaterial {
  return { cert: chain.map((c) => derToPem(c)).join(''), key: keyPem, ca: roots.map((r) => derToPem(r)).join('') };
}

/** When a certificate (DER or PEM) stops being valid, ms since the epoch. */
export function certificateExpiry(cert: Uint8Array | string): number {
  return Date.parse(new X509Certificate(cert).validTo);
}
