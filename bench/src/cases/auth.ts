import { startRole } from '../lib/child.js';
import { cliBuilt, startServer, type ServerMode } from '../lib/servers.js';
import { sideBySide, type Case, type Ctx, type Figure } from '../lib/suite.js';

/** auth/handshakes and token/verify (issue 7). */

const RUNS = 3;

async function connectionsPerSecond(ctx: Ctx, server: ServerMode, concurrency: number): Promise<number> {
  const s = await startServer(ctx, server);
  try {
    const args = ['--mode', server === 'raw' ? 'plain' : 'sluice', '--url', s.url, '--concurrency', String(concurrency), '--duration-ms', String(ctx.quick ? 600 : 2500)];
    if (server !== 'raw') args.push('--token-file', s.token('control', []));
    const client = startRole('handshaker', args, { timeoutMs: 60_000 });
    try {
      return Number((await client.result)['rate']);
    } finally {
      await client.stop();
    }
  } finally {
    await s.stop();
  }
}

export const handshakes: Case[] = [
  { label: 'sequential', concurrency: 1 },
  { label: 'concurrent-50', concurrency: 50 },
].map(({ label, concurrency }) => ({
  name: `auth/handshakes/${label}`,
  skip: cliBuilt,
  runs: () => RUNS,
  async run(ctx, i): Promise<Figure[]> {
    const [secure, plain] = await sideBySide(
      i,
      () => connectionsPerSecond(ctx, 'secure', concurrency),
      () => connectionsPerSecond(ctx, 'raw', concurrency),
    );
    return [
      {
        name: `auth/handshakes/${label}`,
        unit: 'connections/s',
        better: 'higher',
        value: secure,
        baseline: plain,
        baselineLabel: 'plain ws connections (open + close) to the bench relay',
      },
    ];
  },
}));

async function opsPerSecond(ctx: Ctx, what: 'verify' | 'hmac'): Promise<number> {
  const r = startRole('token-verify', ['--what', what, '--duration-ms', String(ctx.quick ? 400 : 1500)], { timeoutMs: 30_000 });
  try {
    return Number((await r.result)['rate']);
  } finally {
    await r.stop();
  }
}

export const tokenVerify: Case = {
  name: 'token/verify',
  skip: () => null,
  runs: () => RUNS,
  async run(ctx, i) {
    const [verify, hmac] = await sideBySide(
      i,
      () => opsPerSecond(ctx, 'verify'),
      () => opsPerSecond(ctx, 'hmac'),
    );
    return [
      {
        name: 'token/verify',
        unit: 'verifications/s',
        better: 'higher',
        value: verify,
        baseline: hmac,
        baselineLabel: 'bare HMAC-SHA256 of the identifier',
      },
    ];
  },
};
