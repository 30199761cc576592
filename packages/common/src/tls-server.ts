import { X509Certificate } from 'node:crypto';
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import { SluiceError } from './errors.js';
import { TLS_MIN_VERSION, channelBinding, uriNames, type TlsMaterial } from './tls.js';

/**
 * The HTTP(S) server a WebSocket endpoint listens with (buffer server, umbilical). Under TLS it
 * asks every client for a certificate and checks it against the app's roots itself (not
 * `rejectUnauthorized`, which ends the handshake with no reason on the server's side), so each
 * refusal has a code for the log and the metrics; the socket is destroyed before a byte of
 * HTTP is read.
 */

export type WsHttpServer = HttpServer | HttpsServer;

/** Why a TLS client was refused, from OpenSSL's verification result. */
export function peerRefusal(socket: TLSSocket): SluiceError | undefined {
  if (socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return new SluiceError('CLIENT_CERT_MISSING', 'no client certificate; this server requires one from the app CA');
  const why = String(socket.authorizationError ?? 'unknown');
  if (why === 'CERT_HAS_EXPIRED') return new SluiceError('CERT_EXPIRED', `client certificate expired at ${cert.valid_to}`);
  const x509 = new X509Certificate(cert.raw);
  if (x509.checkIssued(x509)) return new SluiceError('CERT_SELF_SIGNED', 'client certificate is self-signed, not issued by the app CA');
  return new SluiceError('CERT_UNTRUSTED', `client certificate is not from this app's CA (${why})`);
}

export interface WsHttpServerOptions {
  tls?: TlsMaterial | undefined;
  /** Default none: whoever serves the server attaches its own 'request' listener. */
  onRequest?: RequestListener;
  /** Called for each TLS client refused for its certificate, after its socket is destroyed. */
  onTlsRefused?: (err: SluiceError, peer: string) => void;
  /**
   * `required` (default): a client without a certificate is refused. `optional` (the umbilical,
   * which a container reaches before it holds one): a client may present none, but one it
   * presents must chain to the roots.
   */
  clientCert?: 'required' | 'optional';
}

/** Whether the client of this TLS socket presented a certificate at all. */
function presentedCertificate(socket: TLSSocket): boolean {
  const cert = socket.getPeerCertificate();
  return !!cert && Object.keys(cert).length > 0;
}

export function createWsHttpServer(o: WsHttpServerOptions): WsHttpServer {
  if (!o.tls) return o.onRequest ? createHttpServer(o.onRequest) : createHttpServer();
  const options: ServerOptions = { ...o.tls, minVersion: TLS_MIN_VERSION, requestCert: true, rejectUnauthorized: false };
  const server = o.onRequest ? createHttpsServer(options, o.onRequest) : createHttpsServer(options);
  // Before the HTTP layer's own listener: a refused client never reaches it.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    if (o.clientCert === 'optional' && !presentedCertificate(socket)) return;
    const err = peerRefusal(socket);
    if (!err) return;
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    socket.destroy();
    o.onTlsRefused?.(err, peer);
  });
  // A client that breaks off the TLS handshake itself (it refused our certificate) costs nothing more.
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  return server;
}

/**
 * Under TLS, a token that names a container is only good on a connection whose client
 * certificate names that container too (the app CA names each container's certificate after it):
 * a stolen token does not work with another container's certificate. Undefined when it matches,
 * when there is no TLS or when the token names no container.
 */
export function peerNameRefusal(req: IncomingMessage, container: string | null | undefined, o: { certOptional?: boolean } = {}): SluiceError | undefined {
  if (!(req.socket instanceof TLSSocket) || !container) return undefined;
  // Where a certificate is optional (the umbilical before enrolment), only one presented is checked.
  if (o.certOptional && !presentedCertificate(req.socket)) return undefined;
  const names = uriNames(req.socket.getPeerCertificate().subjectaltname);
  if (names.some((n) => n.endsWith(`/${container}`))) return undefined;
  return new SluiceError('CERT_WRONG_NAME', `token is container ${container}'s but the client certificate names ${names.join(', ') || 'nothing'}`);
}

/** The channel-binding value of the connection a WebSocket upgrade came on; undefined without TLS. */
export function bindingOf(req: IncomingMessage): Buffer | undefined {
  return req.socket instanceof TLSSocket ? channelBinding(req.socket) : undefined;
}
