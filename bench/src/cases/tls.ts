import { join } from 'node:path';
import { makeKeyAndCsr } from '@sluice/common';
import { CertificateAuthority, createRoot } from '@sluice/stram';
import { profileArgs, startRole } from '../lib/child.js';
import { cliBuilt, startServer } from '../lib/servers.js';
import { startRigs, stopRigs } from '../lib/stream-run.js';
import { sideBySide, type Case, type Ctx } from '../lib/suite.js';

/**
 * What mutual TLS costs (docs/architecture.md "What TLS adds to the token model, and what it
 * costs"): stream throughput with and without it, TLS + v:2 handshakes against bare TLS
 * connections, and the CA's enrolment of one container.
 */

const publishMs = (ctx: Ctx): number => (ctx.quick ? 300 : 2000);
const runs = (ctx: Ctx): number => (ctx.quick ? 3 : 5);
const SHAPES = [
  { label: '100B-x100', size: 100, batch: 100 },
  { label: '1KiB-x100', size: 1024, batch: 100 },
];

export const tlsVsSecure: Case[] = SHAPES.map((shape) => ({
  name: `tls/secure-tls-vs-secure/${shape.label}`,
  skip: cliBuilt,
  runs,
  async open(ctx) {
    const common = { size: shape.size, batch: shape.batch, subscribers: 1, windowTuples: 50_000, runTimeoutMs: publishMs(ctx) * 10 + 30_000, steadyAfterMs: Math.min(500, publishMs(ctx) * 0.2), warmupMs: ctx.quick ? 100 : 500 };
    const rigs = await startRigs(ctx, [
      { ...common, server: 'secure-tls' },
      { ...common, server: 'secure' },
    ]);
    const [withTls, without] = [rigs[0]!, rigs[1]!];
    return {
      run: async (i) => {
        const [a, b] = await sideBySide(i, () => withTls.run(publishMs(ctx)), () => without.run(publishMs(ctx)));
        return [{ name: `tls/secure-tls-vs-secure/${shape.label}`, unit: 'tuples/s', better: 'higher', value: a.subRates[0]!, baseline: b.subRates[0]!, baselineLabel: 'the same server and clients without TLS' }];
      },
      close: () => stopRigs(rigs),
    };
  },
}));

export const tlsHandshakes: Case = {
  name: 'tls/handshakes',
  skip: cliBuilt,
  runs,
  async open(ctx) {
    const clientTlsDir = join(ctx.tmp, 'tls-handshakes-client');
    const server = await startServer(ctx, 'secure-tls', { clientTlsDir });
    const role = (mode: string, extra: string[]) =>
      startRole('handshaker', ['--mode', mode, '--url', server.url, '--tls-dir', clientTlsDir, ...extra], { timeoutMs: 60 * 60_000, nodeArgs: profileArgs(ctx.profileDir, `handshaker-${mode}-tls`) });
    const sluice = role('sluice', ['--token-file', server.token('control', [])]);
    const bare = role('tls', []);
    await Promise.all([sluice.ready, bare.ready]);
    const rate = async (r: typeof sluice): Promise<number> => {
      r.send({ run: { durationMs: ctx.quick ? 500 : 2000, concurrency: 1 } });
      return Number((await r.nextResult())['rate']);
    };
    return {
      run: async (i) => {
        const [a, b] = await sideBySide(i, () => rate(sluice), () => rate(bare));
        return [{ name: 'tls/handshakes/sequential', unit: 'connections/s', better: 'higher', value: a, baseline: b, baselineLabel: 'bare mutual TLS 1.3 connections (no WebSocket, no token)' }];
      },
      close: async () => {
        await Promise.all([sluice.stop(), bare.stop()]);
        await server.stop();
      },
    };
  },
};

export const tlsEnrolment: Case = {
  name: 'tls/enrolment',
  skip: () => null,
  runs,
  async open(ctx) {
    const ca = new CertificateAuthority('bench', [await createRoot('bench')]);
    const n = ctx.quick ? 20 : 100;
    return {
      run: async () => {
        let t = performance.now();
        for (let i = 0; i < n; i++) await makeKeyAndCsr(`c${i}`);
        const keyOnly = (performance.now() - t) / n;
        t = performance.now();
        for (let i = 0; i < n; i++) await ca.issue((await makeKeyAndCsr(`c${i}`)).csr, `c${i}`, 3_600_000);
        const enrol = (performance.now() - t) / n;
        return [{ name: 'tls/enrolment/per-container', unit: 'ms', better: 'lower', value: enrol, baseline: keyOnly, baselineLabel: 'the key pair and CSR alone (what the container does)' }];
      },
      close: async () => undefined,
    };
  },
};
