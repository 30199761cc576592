#!/usr/bin/env node
import { randomInt } from 'node:crypto';
import WebSocket from 'ws';
import {
  ClientHandshake,
  TokenKind,
  computePassword,
  decode,
  encodeIdentifier,
  generateSecret,
  mintBufferToken,
  toBuffer,
  type AuthRequest,
  type Token,
} from '@sluice/common';

/**
 * The rogue of the Docker tests: runs in a container on the app's Docker network with no credentials
 * mounted, so it has network position and nothing else. It forges what it can — tokens under a
 * random key and under the well-known all-zero key of insecure mode — and tries to subscribe to
 * every stream of every buffer server, to reach the umbilical as a container, and to read the REST
 * API without a token. Prints one JSON line per attempt, then `ROGUE-DONE`.
 *   node docker-rogue.js '{"buffers":[{"url","bs","streams"}],"umbilical":{"url","app","container"},"rest":"http://..."}'
 */

interface Plan {
  buffers: { url: string; bs: string; streams: string[] }[];
  umbilical: { url: string; app: string; container: string };
  rest: string;
}

const ZERO_KEY = Buffer.alloc(32);

function stramToken(key: Buffer, app: string, container: string): Token {
  const now = Date.now();
  const identifier = encodeIdentifier({
    version: 1,
    kind: TokenKind.stram,
    owner: 'sluice',
    renewer: 'stram',
    realUser: '',
    issueDate: now,
    maxDate: now + 3_600_000,
    sequenceNumber: randomInt(1, 2 ** 47),
    keyId: 1,
    scope: { app, container },
  });
  return { identifier, password: computePassword(key, identifier), kind: TokenKind.stram, service: `stram:${app}` };
}

/** One authenticated attempt: what came back (frame types) and how the server closed. */
function attempt(url: string, token: Token, request: AuthRequest): Promise<{ frames: string[]; code: number; reason: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const frames: string[] = [];
    const hs = new ClientHandshake(token, request);
    ws.on('message', (data, isBinary) => {
      const buf = toBuffer(data);
      frames.push(String((decode(buf) as { t?: unknown }).t));
      if (frames.length === 1) ws.send(hs.answer(buf, isBinary));
    });
    ws.on('error', (err) => resolve({ frames, code: -1, reason: err.message }));
    ws.on('close', (code, reason) => resolve({ frames, code, reason: reason.toString('utf8') }));
  });
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan;
const report = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);

for (const b of plan.buffers) {
  for (const stream of b.streams) {
    for (const [forgery, secret] of [['random-key', generateSecret()], ['zero-key', ZERO_KEY]] as const) {
      const token = mintBufferToken({ secret, bs: b.bs, streams: [stream], access: 'subscribe', owner: 'rogue', now: Date.now(), ttlMs: 3_600_000 });
      const r = await attempt(b.url, token, { role: 'subscribe', stream, subscriber: 'rogue', window: 0 });
      report({ target: 'buffer-server', bs: b.bs, stream, forgery, ...r });
    }
  }
}
for (const [forgery, key] of [['random-key', generateSecret()], ['zero-key', ZERO_KEY]] as const) {
  const u = plan.umbilical;
  const r = await attempt(u.url, stramToken(key, u.app, u.container), { role: 'hello', container: u.container });
  report({ target: 'umbilical', container: u.container, forgery, ...r });
}
try {
  const res = await fetch(`${plan.rest}/ws/v1/app`);
  report({ target: 'rest', status: res.status });
} catch (err) {
  report({ target: 'rest', status: -1, error: (err as Error).message });
}
process.stdout.write('ROGUE-DONE\n');
