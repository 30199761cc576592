import { createConnection, createServer, type Server } from 'node:net';

/** A TCP relay on 127.0.0.1 to `port` that keeps every byte it forwards, both ways: what an on-path observer sees. */
export interface TcpRelay {
  readonly port: number;
  /** Everything that crossed so far, in order of arrival. */
  bytes(): Buffer;
  close(): Promise<void>;
}

export async function tcpRelay(port: number): Promise<TcpRelay> {
  const seen: Buffer[] = [];
  const relay: Server = createServer((inbound) => {
    const out = createConnection({ host: '127.0.0.1', port });
    inbound.on('data', (d: Buffer) => (seen.push(d), out.write(d)));
    out.on('data', (d: Buffer) => (seen.push(d), inbound.write(d)));
    inbound.on('error', () => out.destroy());
    out.on('error', () => inbound.destroy());
    inbound.on('close', () => out.destroy());
    out.on('close', () => inbound.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  return {
    port: (relay.address() as { port: number }).port,
    bytes: () => Buffer.concat(seen),
    close: () => new Promise<void>((r) => relay.close(() => r())),
  };
}
