import { readFileSync } from 'node:fs';
import { negotiateHeader } from '@sluice/gateway';
import { commands, emit, now, parseArgs, runRole } from '../lib/role-io.js';

/**
 * HTTP calls/s for the gateway case: for every `{"run": {url, method, auth, durationMs,
 * concurrency}}` on stdin, `concurrency` workers send the request back to back for that long (one
 * fetch per call, keep-alive) and it reports the calls answered 200 per second. `auth`:
 *   `bearer:<file>` — `Authorization: Bearer` with the token in that 0600 file (read once per run);
 *   `negotiate:<gateway url>` — a fresh Kerberos token for that gateway per call (the client's
 *   GSSAPI step from KRB5CCNAME; a token is good for one request only).
 */

interface Run {
  url: string;
  method: string;
  auth: string;
  durationMs: number;
  concurrency: number;
}

function authorizer(auth: string): () => Promise<string> {
  const colon = auth.indexOf(':');
  const [kind, arg] = [auth.slice(0, colon), auth.slice(colon + 1)];
  if (kind === 'bearer') {
    const header = `Bearer ${readFileSync(arg, 'utf8').trim()}`;
    return () => Promise.resolve(header);
  }
  if (kind === 'negotiate') return () => negotiateHeader(arg);
  throw new Error(`unknown auth ${JSON.stringify(kind)}: give bearer:<file> or negotiate:<url>`);
}

async function callsPerSecond(r: Run): Promise<Record<string, number>> {
  const authorization = authorizer(r.auth);
  let done = 0;
  let failed = 0;
  let lastFailure = '';
  const once = async (): Promise<void> => {
    const res = await fetch(r.url, { method: r.method, headers: { authorization: await authorization() } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${r.method} ${new URL(r.url).pathname}: ${res.status} ${body.slice(0, 200)}`);
  };
  const started = now();
  const deadline = started + r.durationMs;
  const worker = async (): Promise<void> => {
    while (now() < deadline) {
      try {
        await once();
        done++;
      } catch (err) {
        lastFailure = (err as Error).message;
        if (++failed > 20) throw new Error(`more than 20 failed calls; last: ${lastFailure}`);
      }
    }
  };
  await Promise.all(Array.from({ length: r.concurrency }, worker));
  const seconds = (now() - started) / 1000;
  return { calls: done, failed, seconds, rate: done / seconds };
}

async function main(): Promise<void> {
  parseArgs();
  emit('ready', {});
  for await (const cmd of commands()) {
    const r = cmd['run'] as Run;
    // A few calls first (JIT, connection pool, ticket cache) so the clock measures the steady state.
    const warmup = await callsPerSecond({ ...r, durationMs: 150, concurrency: 1 });
    emit('result', { ...(await callsPerSecond(r)), warmupCalls: warmup['calls'] });
  }
}

runRole(main);
