import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A bound, not yet serving, HTTP listener. STRAM binds its ports first, because what it builds
 * next needs their addresses (every credentials file names the umbilical's URL), and attaches
 * the umbilical and REST handlers once everything they serve exists. A request that arrives in
 * between finds no handler and its socket is closed.
 */
export interface Listener {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
}

export async function bind(host: string, port = 0): Promise<Listener> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, host, port: (server.address() as AddressInfo).port };
}

/** Stops accepting, ends every open connection and resolves once the server is closed. */
export function closeListener(l: Listener): Promise<void> {
  return new Promise<void>((resolve) => {
    l.server.close(() => resolve());
    l.server.closeAllConnections();
  });
}
