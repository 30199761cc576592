import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { TLS_MIN_VERSION, connectAuthenticated, expectSan, type ClientTls } from '@sluice/common';
import { commands, emit, now, parseArgs, readTls, readToken, runRole, str } from '../lib/role-io.js';

/**
 * For every `{"run": {durationMs, concurrency}}` on stdin: opens and closes connections for that
 * long, `concurrency` at a time, and reports completed connections/s. A connection counts once it is open and usable (then it is closed):
 *   --mode sluice: challenge → auth (proof) → welcome (server proof checked), as a control client;
 *   --mode plain:  a plain ws upgrade.
 *   --mode tls:    a mutual TLS 1.3 connection alone (no WebSocket, no token), with --tls-dir's certificate.
 * With --tls-dir, sluice mode runs over mutual TLS (challenge v:2).
 */

/** One mutual TLS connection, open once the handshake (both certificates checked) is done. */
function tlsOnce(url: string, tls: ClientTls): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: hostname, port: Number(port), cert: tls.cert, key: tls.key, ca: tls.ca, minVersion: TLS_MIN_VERSION, checkServerIdentity: expectSan(tls.server) }, () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', reject);
  });
}
async function main(): Promise<void> {
  const args = parseArgs();
  const mode = str(args, 'mode');
  const url = str(args, 'url');
  const token = mode === 'sluice' ? readToken(str(args, 'token-file')) : null;
  const tls = readTls(args);

  const once = async (): Promise<void> => {
    let ws: WebSocket;
    if (mode === 'tls') {
      if (!tls) throw new Error('--mode tls needs --tls-dir');
      return tlsOnce(url, tls);
    }
    if (token) {
      ws = (await connectAuthenticated(url, token, { role: 'control' }, { tls })).socket;
    } else {
      ws = new WebSocket(`${url}/plain`, { perMessageDeflate: false });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
    }
    // Counted once usable; the close handshake then runs in the background (awaiting it would
    // measure ws's closing dance, the same on both sides, rather than connection set-up).
    ws.on('error', () => {});
    ws.close(1000);
  };

  emit('ready', { mode });
  // A few warm-up connections (JIT, first-connection costs) before the clock starts.
  for (let i = 0; i < 20; i++) await once();
  for await (const cmd of commands()) {
    const { durationMs, concurrency } = cmd['run'] as { durationMs: number; concurrency: number };
    let done = 0;
    let failed = 0;
    const started = now();
    const deadline = started + durationMs;
    const worker = async (): Promise<void> => {
      while (now() < deadline) {
        try {
          await once();
          done++;
        } catch {
          failed++;
          if (failed > 100) throw new Error(`more than 100 failed connections (mode ${mode})`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (now() - started) / 1000;
    emit('result', { connections: done, failed, seconds, rate: done / seconds });
  }
}

runRole(main);
