import { createHmac } from 'node:crypto';
import { bufferTokenPassword, checkBufferTokenLive, generateSecret, mintBufferToken, safeEqual } from '@sluice/common';
import { commands, emit, now, runRole } from '../lib/role-io.js';

/**
 * token/verify: full buffer-server token verifications/s (parse the identifier, check kind and
 * scope, recompute the password with HMAC-SHA256, compare in constant time, check expiry and
 * revocation) against a bare HMAC-SHA256 of the same identifier bytes. Both in this one process,
 * one after the other for every `{"run": {durationMs, first}}` on stdin.
 */
async function main(): Promise<void> {
  const secret = generateSecret();
  const token = mintBufferToken({ secret, bs: 'bench-bs-1', streams: ['bench'], access: 'subscribe', owner: 'bench', now: Date.now(), ttlMs: 3_600_000 });
  const id = token.identifier;
  const revoked = new Set<number>([1, 2, 3]);
  let sink = 0;
  const ops = {
    verify: (): void => {
      const v = bufferTokenPassword(secret, id);
      if (!safeEqual(v.password, token.password)) throw new Error('verification failed');
      checkBufferTokenLive(v.identifier, Date.now(), revoked);
      sink++;
    },
    hmac: (): void => {
      sink += createHmac('sha256', secret).update(id).digest()[0]!;
    },
  };
  const measure = (op: () => void, durationMs: number): number => {
    let n = 0;
    const started = now();
    const deadline = started + durationMs;
    while (now() < deadline) {
      for (let i = 0; i < 256; i++) op();
      n += 256;
    }
    return n / ((now() - started) / 1000);
  };
  // Warm up the JIT on both before any clock runs.
  for (let i = 0; i < 20_000; i++) (ops.verify(), ops.hmac());
  emit('ready', { identifierBytes: id.length });
  for await (const cmd of commands()) {
    const { durationMs, first } = cmd['run'] as { durationMs: number; first: 'verify' | 'hmac' };
    const order = first === 'verify' ? (['verify', 'hmac'] as const) : (['hmac', 'verify'] as const);
    const rates: Record<string, number> = {};
    for (const what of order) rates[what] = measure(ops[what], durationMs);
    emit('result', { ...rates, sink });
  }
}

runRole(main);
