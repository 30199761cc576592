import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { emit, runRole } from '../lib/role-io.js';

/**
 * The baseline: a minimal unauthenticated ws relay. `/pub/<stream>` frames are forwarded as-is
 * (no decode, no retention) to every `/sub/<stream>` socket, corked per tick; the publisher is
 * paused while any subscriber has 1 MiB or more waiting and resumed below half of it.
 * Any other path is a plain connection that is only accepted (auth/handshakes baseline).
 * Runs until SIGTERM.
 */
const HIGH = 1024 * 1024;

interface Topic {
  subs: Set<WebSocket>;
  pubs: Set<WebSocket>;
  paused: boolean;
}

async function main(): Promise<void> {
  const topics = new Map<string, Topic>();
  const topic = (name: string): Topic => {
    let t = topics.get(name);
    if (!t) topics.set(name, (t = { subs: new Set(), pubs: new Set(), paused: false }));
    return t;
  };
  const corked = new Set<Socket>();
  const uncorkAll = (): void => {
    for (const s of corked) s.uncork();
    corked.clear();
  };
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
  // Resume on the subscribers' 'drain' (a fallback timer covers a buffer already below the
  // socket's own mark, where 'drain' never fires).
  const resumeWhenDrained = (t: Topic): void => {
    let timer: NodeJS.Timeout | undefined;
    const raws = [...t.subs].map((s) => (s as unknown as { _socket: Socket })._socket);
    const check = (): void => {
      for (const s of t.subs) if (s.bufferedAmount >= HIGH / 2 && s.readyState === 1) return;
      clearInterval(timer);
      for (const r of raws) r.off('drain', check);
      t.paused = false;
      for (const p of t.pubs) p.resume();
    };
    for (const r of raws) r.on('drain', check);
    timer = setInterval(check, 10);
  };
  wss.on('connection', (ws, req) => {
    const [, role, name] = (req.url ?? '/').split('/');
    if (role === 'pub' && name) {
      const t = topic(name);
      t.pubs.add(ws);
      ws.on('message', (data: Buffer) => {
        let full = false;
        for (const s of t.subs) {
          const raw = (s as unknown as { _socket: Socket })._socket;
          if (!corked.has(raw)) {
            if (corked.size === 0) process.nextTick(uncorkAll);
            corked.add(raw);
            raw.cork();
          }
          s.send(data, { binary: true });
          if (s.bufferedAmount >= HIGH) full = true;
        }
        if (full && !t.paused) {
          t.paused = true;
          for (const p of t.pubs) p.pause();
          resumeWhenDrained(t);
        }
      });
      ws.on('close', () => t.pubs.delete(ws));
    } else if (role === 'sub' && name) {
      const t = topic(name);
      t.subs.add(ws);
      ws.on('close', () => t.subs.delete(ws));
    }
    ws.on('error', () => {});
  });
  await new Promise<void>((r) => wss.once('listening', r));
  const addr = wss.address();
  if (addr === null || typeof addr === 'string') throw new Error('unexpected listen address');
  emit('ready', { url: `ws://127.0.0.1:${addr.port}` });
  await new Promise<void>((r) => process.once('SIGTERM', r));
  for (const c of wss.clients) c.terminate();
  wss.close();
}

runRole(main);
