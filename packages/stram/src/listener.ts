import type { AddressInfo } from 'node:net';
import type { Server as HttpsServer } from 'node:https';
import { SluiceError, createWsHttpServer, type TlsMaterial, type WsHttpServer } from '@sluice/common';

/**
 * A bound, not yet serving, HTTP listener. STRAM binds its ports first, because what it builds
 * next needs their addresses (every credentials file names the umbilical's URL), and attaches
 * the umbilical and REST handlers once everything they serve exists. A request that arrives in
 * between finds no handler and its socket is closed.
 */
export interface Listener {
  readonly server: WsHttpServer;
  readonly host: string;
  readonly port: number;
  /** Serves TLS 1.3 (`wss://`): a client may present a certificate of the app CA, and one it presents must be (the umbilical's rule). */
  readonly tls: boolean;
  /** Hears of each TLS client refused for its certificate, once whoever serves the listener attaches. */
  onTlsRefused?: (err: SluiceError, peer: string) => void;
}

/** The certificate a TLS listener serves, and each one replacing it (stram-identity.ts). */
export interface ServedIdentity {
  readonly material: TlsMaterial;
  onChange(listener: (m: TlsMaterial) => void): void;
}

/**
 * `tls`: the certificate to serve and the roots a client's certificate must chain to; each new
 * one (a renewal, a root-rotation step) serves the next connections, open ones stay.
 */
export async function bind(host: string, port = 0, tls?: ServedIdentity): Promise<Listener> {
  const holder: { listener?: Listener } = {};
  const server = createWsHttpServer({ tls: tls?.material, clientCert: 'optional', onTlsRefused: (err, peer) => holder.listener?.onTlsRefused?.(err, peer) });
  tls?.onChange((material) => (server as HttpsServer).setSecureContext(material));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  holder.listener = { server, host, port: (server.address() as AddressInfo).port, tls: tls !== undefined };
  return holder.listener;
}

/**
 * A listener on the port the user chose (`--rest-port`), or any free one: a port in use is the
 * user's to fix, so it is refused (LISTEN_FAILED) naming the option rather than thrown as a socket error.
 */
export async function bindChosen(host: string, port: number | undefined, option: string): Promise<Listener> {
  try {
    return await bind(host, port ?? 0);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the port is already in use' : (err as Error).message;
    throw new SluiceError('LISTEN_FAILED', `${option} ${port ?? 0}: cannot listen on ${host}: ${why}`, { cause: err });
  }
}

/** Stops accepting, ends every open connection and resolves once the server is closed. */
export function closeListener(l: Listener): Promise<void> {
  return new Promise<void>((resolve) => {
    l.server.close(() => resolve());
    l.server.closeAllConnections();
  });
}
