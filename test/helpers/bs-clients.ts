import { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { ClientHandshake, channelBinding, decode, encode, expectSan, toBuffer, type AuthRequest, type ClientTls, type Token } from '@sluice/common';
import { connectSubscriber, type Subscriber } from '@sluice/buffer-server';

/** What a subscriber saw, in order, as compact events; and a way to wait for a window's end. */
export interface Recording {
  events: string[];
  tuples: unknown[];
  ends: number[];
  sub: Subscriber;
  closed: { code: number; reason: string } | null;
  untilEnd(w: number): Promise<void>;
}

export async function record(o: {
  url: string;
  token: Token;
  stream: string;
  subscriber: string;
  window: number;
  partitions?: { mask: number; keys: number[] };
  onEnd?: (w: number) => void | Promise<void>;
  tls?: ClientTls;
}): Promise<Recording> {
  const waiters = new Map<number, () => void>();
  const rec = { events: [] as string[], tuples: [] as unknown[], ends: [] as number[], closed: null as { code: number; reason: string } | null } as Recording;
  rec.sub = await connectSubscriber({
    url: o.url,
    token: o.token,
    stream: o.stream,
    subscriber: o.subscriber,
    window: o.window,
    ...(o.partitions ? { partitions: o.partitions } : {}),
    tls: o.tls,
    onBegin: (w) => rec.events.push(`b${w}`),
    onData: (w, tuples) => {
      rec.events.push(`d${w}`);
      for (const t of tuples) rec.tuples.push(t);
    },
    onEnd: (w) => {
      rec.events.push(`e${w}`);
      rec.ends.push(w);
      waiters.get(w)?.();
      return o.onEnd?.(w);
    },
    onClose: (code, reason) => {
      rec.closed = { code, reason };
    },
  });
  rec.untilEnd = (w) =>
    rec.ends.includes(w)
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          waiters.set(w, resolve);
        });
  return rec;
}

/** A raw socket: every frame it got (decoded) and how it closed. For refusal tests. */
export interface RawConn {
  ws: WebSocket;
  frames: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves with the next frame (or rejects on close). */
  next(): Promise<Record<string, unknown>>;
  /** The TLS exporter value of this connection (wss:// only). */
  binding: Buffer | undefined;
}

export function rawConnect(url: string, o: { maxPayload?: number; tls?: ClientTls } = {}): Promise<RawConn> {
  const tls = o.tls ? { cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, checkServerIdentity: expectSan(o.tls.server) } : {};
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: o.maxPayload ?? 64 * 1024 * 1024, ...(tls as object) });
  ws.once('upgrade', (res) => {
    if (res.socket instanceof TLSSocket) conn.binding = channelBinding(res.socket);
  });
  const frames: Record<string, unknown>[] = [];
  const waiting: ((f: Record<string, unknown>) => void)[] = [];
  ws.on('message', (data) => {
    const f = decode(toBuffer(data)) as Record<string, unknown>;
    frames.push(f);
    waiting.shift()?.(f);
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
  let seen = 0;
  const conn: RawConn = {
    ws,
    frames,
    binding: undefined,
    closed,
    next: () => {
      if (seen < frames.length) return Promise.resolve(frames[seen++]!);
      return Promise.race([
        new Promise<Record<string, unknown>>((resolve) => waiting.push((f) => (seen++, resolve(f)))),
        closed.then((c) => Promise.reject(new Error(`closed ${c.code} ${c.reason}`))),
      ]);
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(conn));
    ws.once('error', reject);
  });
}

/** Connects and answers the challenge with a real proof for `request`; returns the conn after sending auth (the challenge already read: `next()` gives the reply). */
export async function rawAuth(url: string, token: Token, request: AuthRequest, mutate?: (auth: Record<string, unknown>) => Record<string, unknown>): Promise<RawConn & { authFrame: Buffer }> {
  const conn = await rawConnect(url);
  const challenge = await conn.next();
  const hs = new ClientHandshake(token, request);
  let auth = hs.answer(encode(challenge), true);
  if (mutate) auth = encode(mutate(decode(auth) as Record<string, unknown>));
  conn.ws.send(auth);
  return Object.assign(conn, { authFrame: auth });
}
