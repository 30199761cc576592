import { WebSocketServer } from 'ws';
import { emit, runRole } from '../lib/role-io.js';

/** stram/heartbeats-1000 baseline: an idle ws server that sends every message straight back. */
async function main(): Promise<void> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary) => ws.send(data, { binary: isBinary }));
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
