import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecret, mintBufferToken, tokenToText } from '@sluice/common';
import { cpuSeconds, profileArgs, startRole, type Role } from '../lib/child.js';
import { cliBuilt, startServer, type RunningServer, type ServerMode } from '../lib/servers.js';
import { sideBySide, type Case, type Ctx } from '../lib/suite.js';

/** auth/handshakes and token/verify. */

const RUNS = 3;

interface Side {
  server: Pick<RunningServer, 'role' | 'stop'>;
  client: Role;
}

async function side(ctx: Ctx, mode: ServerMode): Promise<Side> {
  const server = await startServer(ctx, mode);
  const args = ['--mode', mode === 'raw' ? 'plain' : 'sluice', '--url', server.url];
  if (mode !== 'raw') args.push('--token-file', server.token('control', []));
  const client = startRole('handshaker', args, { timeoutMs: 60 * 60_000, nodeArgs: profileArgs(ctx.profileDir, `handshaker-${mode}`) });
  try {
    await client.ready;
  } catch (err) {
    await client.stop();
    await server.stop();
    throw err;
  }
  return { server, client };
}

/**
 * The contract floor (roles/handshake-floor.ts): only the contract's own work, with the client
 * Sluice's side uses. Shaped as a Side so `rate` measures it the same way.
 */
async function floorSide(ctx: Ctx): Promise<Side> {
  const dir = join(ctx.tmp, 'handshake-floor');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const secret = generateSecret();
  const id = 'bench-floor';
  const secretFile = join(dir, 'secret');
  writeFileSync(secretFile, `${secret.toString('hex')}\n`, { mode: 0o600 });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, tokenToText(mintBufferToken({ secret, bs: id, streams: [], access: 'control', owner: 'bench', now: Date.now(), ttlMs: 3_600_000 })), { mode: 0o600 });
  const role = startRole('handshake-floor', ['--secret-file', secretFile, '--id', id], { timeoutMs: 60 * 60_000, nodeArgs: profileArgs(ctx.profileDir, 'handshake-floor') });
  const url = String((await role.ready)['url']);
  const client = startRole('handshaker', ['--mode', 'sluice', '--url', url, '--token-file', tokenFile], { timeoutMs: 60 * 60_000, nodeArgs: profileArgs(ctx.profileDir, 'handshaker-floor') });
  try {
    await client.ready;
  } catch (err) {
    await Promise.all([client.stop(), role.stop()]);
    throw err;
  }
  return { server: { role, stop: () => role.stop() }, client };
}

/** Connections/s, and the server's CPU (user + system) per connection in µs over the same span. */
async function rate(s: Side, durationMs: number, concurrency: number): Promise<{ rate: number; cpuUs: number }> {
  const cpu0 = cpuSeconds(s.server.role.pid);
  s.client.send({ run: { durationMs, concurrency } });
  const r = await s.client.nextResult();
  const cpu = cpuSeconds(s.server.role.pid) - cpu0;
  return { rate: Number(r['rate']), cpuUs: Math.round((cpu / Math.max(1, Number(r['connections']))) * 1e7) / 10 };
}

/** 1 and 50 carry the targets; 10 and 200 make the curve of handshakes/s against concurrency (full runs). */
const LEVELS = [
  { label: 'sequential', concurrency: 1, quick: true },
  { label: 'concurrent-10', concurrency: 10, quick: false },
  { label: 'concurrent-50', concurrency: 50, quick: true },
  { label: 'concurrent-200', concurrency: 200, quick: false },
] as const;

/** One case, both concurrency levels: the servers and clients start once. */
export const handshakes: Case = {
  name: 'auth/handshakes',
  skip: cliBuilt,
  // Full: 5 runs of 1.5 s per level, so a busy moment of the shared CPU moves the median less.
  runs: (ctx) => (ctx.quick ? RUNS : 5),
  async open(ctx) {
    const [secure, plain, floor] = await Promise.all([side(ctx, 'secure'), side(ctx, 'raw'), floorSide(ctx)]);
    const ms = ctx.quick ? 250 : 1500;
    return {
      async run(i) {
        const figures = [];
        for (const { label, concurrency, quick } of LEVELS) {
          if (ctx.quick && !quick) continue;
          const [s, p] = await sideBySide(
            i,
            () => rate(secure, ms, concurrency),
            () => rate(plain, ms, concurrency),
          );
          // After both, so the target pair stays measured back to back.
          const f = await rate(floor, ms, concurrency);
          figures.push(
            {
              name: `auth/handshakes/${label}`,
              unit: 'connections/s',
              better: 'higher' as const,
              value: s.rate,
              baseline: p.rate,
              baselineLabel: 'plain ws connections (open + close) to the bench relay',
            },
            {
              // The server's CPU per connection moves far less with the shared CPU's load than a rate.
              name: `auth/handshakes/${label}/server-cpu`,
              unit: 'µs CPU per connection',
              better: 'lower' as const,
              value: s.cpuUs,
              baseline: p.cpuUs,
              baselineLabel: 'plain ws connections (open + close) to the bench relay',
            },
            {
              // What the wire contract alone costs: the most any server of it could reach here.
              name: `auth/handshakes/${label}/contract-floor`,
              unit: 'connections/s',
              better: 'higher' as const,
              value: f.rate,
              baseline: p.rate,
              baselineLabel: 'plain ws connections (open + close) to the bench relay',
            },
          );
        }
        return figures;
      },
      async close() {
        await Promise.all([secure.client.stop(), plain.client.stop(), floor.client.stop()]);
        await Promise.all([secure.server.stop(), plain.server.stop(), floor.server.stop()]);
      },
    };
  },
};

export const tokenVerify: Case = {
  name: 'token/verify',
  skip: () => null,
  runs: () => RUNS,
  async open(ctx) {
    const role = startRole('token-verify', [], { timeoutMs: 60 * 60_000, nodeArgs: profileArgs(ctx.profileDir, 'token-verify') });
    await role.ready;
    return {
      async run(i) {
        role.send({ run: { durationMs: ctx.quick ? 200 : 1500, first: i % 2 ? 'hmac' : 'verify' } });
        const r = await role.nextResult();
        return [
          {
            name: 'token/verify',
            unit: 'verifications/s',
            better: 'higher',
            value: Number(r['verify']),
            baseline: Number(r['hmac']),
            baselineLabel: 'bare HMAC-SHA256 of the identifier',
          },
        ];
      },
      close: () => role.stop(),
    };
  },
};
