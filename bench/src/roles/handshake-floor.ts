import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { clientProof, computePassword, decode, decodeIdentifier, encode, safeEqual, serverProof } from '@sluice/common';
import { emit, parseArgs, runRole, str } from '../lib/role-io.js';

/**
 * auth/handshakes' contract floor: a ws server doing only what the wire contract asks of any
 * server that accepts a token (docs/protocol.md "Authenticated connection") and nothing else —
 * a challenge with a fresh 32-byte nonce (sent with the 101 in one write, as Sluice does), the
 * auth frame decoded, the token identifier decoded and its expiry checked, password =
 * HMAC(secret, identifier), the client's proof checked, the welcome with the server's proof.
 * No scope rules, no revocation list, no logging, no registry, no expiry timer. With the same
 * client as Sluice's side, its connections/s against plain ws bound what any server of this
 * contract can reach here: one more round trip and three HMACs per connection.
 *   --secret-file F   the buffer-server secret (hex) tokens are minted from
 *   --id ID           the service name in the challenge
 */
async function main(): Promise<void> {
  const args = parseArgs();
  const secret = Buffer.from(readFileSync(str(args, 'secret-file'), 'utf8').trim(), 'hex');
  const service = str(args, 'id');
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false });
  // Upgrades corked for a tick, so the 101 and the challenge leave in one write.
  http.prependListener('upgrade', (_req: IncomingMessage, socket: Duplex) => {
    socket.cork();
    process.nextTick(() => socket.uncork());
  });
  wss.on('connection', (ws: WebSocket) => {
    const nonce = randomBytes(32);
    ws.send(encode({ t: 'challenge', v: 1, nonce, service }));
    ws.once('message', (data: Buffer) => {
      try {
        const m = decode(data) as { id: Uint8Array; cnonce: Uint8Array; proof: Uint8Array };
        const identifier = decodeIdentifier(m.id);
        if (identifier.maxDate < Date.now()) return ws.close(4401, 'expired');
        const password = computePassword(secret, m.id);
        if (!safeEqual(clientProof(password, nonce, m.cnonce, service), m.proof)) return ws.close(4401, 'bad proof');
        ws.send(encode({ t: 'welcome', proof: serverProof(password, m.cnonce, nonce) }));
      } catch {
        ws.close(4400, 'malformed');
      }
    });
    ws.on('error', () => {});
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const addr = http.address();
  if (addr === null || typeof addr === 'string') throw new Error('unexpected listen address');
  emit('ready', { url: `ws://127.0.0.1:${addr.port}` });
  await new Promise<void>((r) => process.once('SIGTERM', r));
  wss.close();
  http.close();
}

runRole(main);
