import WebSocket from 'ws';
import { connectAuthenticated } from '@sluice/common';
import { emit, now, num, parseArgs, readToken, runRole, str } from '../lib/role-io.js';

/**
 * Opens and closes connections for `--duration-ms`, `--concurrency` at a time, and reports
 * completed connections/s. A connection counts once it is open and usable and has closed again:
 *   --mode sluice: challenge → auth (proof) → welcome (server proof checked), as a control client;
 *   --mode plain:  a plain ws upgrade.
 */
async function main(): Promise<void> {
  const args = parseArgs();
  const mode = str(args, 'mode');
  const url = str(args, 'url');
  const concurrency = num(args, 'concurrency', 1);
  const durationMs = num(args, 'duration-ms', 2000);
  const token = mode === 'sluice' ? readToken(str(args, 'token-file')) : null;

  const once = async (): Promise<void> => {
    let ws: WebSocket;
    if (token) {
      ws = (await connectAuthenticated(url, token, { role: 'control' })).socket;
    } else {
      ws = new WebSocket(`${url}/plain`, { perMessageDeflate: false });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
    }
    const closed = new Promise((r) => ws.once('close', r));
    ws.close(1000);
    await closed;
  };

  emit('ready', { mode });
  // A few warm-up connections (JIT, first-connection costs) before the clock starts.
  for (let i = 0; i < 20; i++) await once();
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
        if (failed > 100) throw new Error(`more than 100 failed connections (last mode ${mode})`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (now() - started) / 1000;
  emit('result', { connections: done, failed, seconds, rate: done / seconds });
}

runRole(main);
