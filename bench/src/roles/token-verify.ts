import { createHmac } from 'node:crypto';
import { bufferTokenPassword, checkBufferTokenLive, generateSecret, mintBufferToken, safeEqual } from '@sluice/common';
import { emit, now, num, parseArgs, runRole, str } from '../lib/role-io.js';

/**
 * token/verify in its own process: full buffer-server token verifications/s (parse the
 * identifier, check kind and scope, recompute the password with HMAC-SHA256, compare in constant
 * time, check expiry and revocation) against a bare HMAC-SHA256 of the same identifier bytes.
 */
async function main(): Promise<void> {
  const args = parseArgs();
  const what = str(args, 'what');
  const durationMs = num(args, 'duration-ms', 1000);
  const secret = generateSecret();
  const token = mintBufferToken({ secret, bs: 'bench-bs-1', streams: ['bench'], access: 'subscribe', owner: 'bench', now: Date.now(), ttlMs: 3_600_000 });
  const id = token.identifier;
  const revoked = new Set<number>([1, 2, 3]);
  let sink = 0;
  const verify = (): void => {
    const v = bufferTokenPassword(secret, id);
    if (!safeEqual(v.password, token.password)) throw new Error('verification failed');
    checkBufferTokenLive(v.identifier, Date.now(), revoked);
    sink++;
  };
  const bare = (): void => {
    sink += createHmac('sha256', secret).update(id).digest()[0]!;
  };
  const op = what === 'verify' ? verify : bare;
  emit('ready', { what, identifierBytes: id.length });
  // Warm up the JIT, then count in blocks of 256 between clock reads.
  for (let i = 0; i < 20_000; i++) op();
  let n = 0;
  const started = now();
  const deadline = started + durationMs;
  while (now() < deadline) {
    for (let i = 0; i < 256; i++) op();
    n += 256;
  }
  const seconds = (now() - started) / 1000;
  emit('result', { ops: n, seconds, rate: n / seconds, sink });
}

runRole(main);
