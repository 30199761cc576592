import type WebSocket from 'ws';
import { SluiceError, connectAuthenticated, encode, parseFrame, statsOfAck, toBuffer, type AckMessage, type ClientTls, type Token } from '@sluice/common';
import { ClientSocket } from './client-socket.js';
import type { BufferServerStats } from './stats.js';

export interface ControlOptions {
  url: string;
  /** A token of access "control" for this buffer server (held by STRAM or the hosting container). */
  token: Token;
  onClose?(code: number, reason: string): void;
  /** Mutual TLS to a wss:// server, and the SAN it must carry (docs/protocol.md "Transport encryption"). */
  tls?: ClientTls | undefined;
}

export type Ack = AckMessage;

/** docs/protocol.md "Control": purge, reset, revoke, stats; each request is answered by one ack, in order. */
export interface Control {
  purge(stream: string, w: number): Promise<Ack>;
  reset(stream: string): Promise<Ack>;
  revoke(seqs: number[]): Promise<Ack>;
  stats(): Promise<BufferServerStats>;
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

const ACK = ['ack'] as const;

export async function connectControl(o: ControlOptions): Promise<Control> {
  const pending: { resolve(a: Ack): void; reject(e: Error): void }[] = [];
  let failed: Error | null = null;
  const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    const waiter = pending.shift();
    try {
      const ack = parseFrame(toBuffer(data), isBinary, ACK);
      waiter?.resolve(ack);
    } catch (err) {
      waiter?.reject(err as Error);
    }
  };
  const conn = await connectAuthenticated(o.url, o.token, { role: 'control' }, { onMessage, tls: o.tls });
  const cs = new ClientSocket(conn.socket, (code, reason) => {
    failed = new SluiceError('CONNECTION_CLOSED', `control connection closed with ${code}${reason ? `: ${reason}` : ''}`);
    for (const p of pending.splice(0)) p.reject(failed);
    o.onClose?.(code, reason);
  });
  const request = (m: Record<string, unknown>): Promise<Ack> =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      pending.push({ resolve, reject });
      try {
        cs.send(encode(m));
      } catch (err) {
        pending.pop();
        reject(err as Error);
      }
    });
  return {
    purge: (stream, w) => request({ t: 'purge', stream, w }),
    reset: (stream) => request({ t: 'reset', stream }),
    revoke: (seqs) => request({ t: 'revoke', seqs }),
    stats: async () => statsOfAck(await request({ t: 'stats' })),
    closed: cs.closed,
    close: () => cs.close(),
  };
}
