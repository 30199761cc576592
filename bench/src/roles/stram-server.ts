import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '@sluice/common';
import { Stram } from '@sluice/stram';
import { NoopLauncher } from '@sluice/stram/testing';
import { emit, num, parseArgs, runRole, str } from '../lib/role-io.js';

/**
 * stram/heartbeats-1000, server side: a real STRAM in this process for an app of `--containers`
 * containers (a source and `--containers - 1` partitions of a sink, one container each), launched
 * with a launcher that starts nothing: the load generator connects a fake container for each
 * credentials file STRAM wrote. Runs until SIGTERM.
 *   --handler none  STRAM's own heartbeat handling (agents, deploys, metrics, health, persistence)
 *                   is replaced by an empty answer: what is left is the umbilical layer alone (the
 *                   handshake, each heartbeat's envelope MAC and sequence checked and read, the ack
 *                   sealed and sent). stram/umbilical-only-1000 and -10000 measure it. Nothing is deployed, so
 *                   the fake containers' heartbeats carry no operator figures.
 */
const APP = (partitions: number): string => `
const BRAND = Symbol.for('sluice.port');
const output = () => ({ [BRAND]: 'output', sink: undefined, emit(t) { this.sink?.(t); }, connect(s) { this.sink = s; } });
const input = (process) => ({ [BRAND]: 'input', process, partitionKey: undefined });
export default {
  name: 'heartbeats',
  operators: {
    src: { create: () => ({ out: output(), emitTuples() {} }) },
    sink: { partitions: ${partitions}, create: () => ({ in: input(() => {}) }) },
  },
  streams: { s: { from: 'src.out', to: ['sink.in'] } },
};
`;

async function main(): Promise<void> {
  const args = parseArgs();
  const containers = num(args, 'containers', 1000);
  const dir = str(args, 'dir');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const appModule = join(dir, 'heartbeats.mjs');
  writeFileSync(appModule, APP(containers - 1));
  const stram = await Stram.launch({
    appModule,
    appDir: join(dir, 'app'),
    launcher: new NoopLauncher(),
    logger: createLogger({ name: 'stram', level: 'warn' }),
    // The fake containers stay up for the whole case; nothing should time out under load.
    heartbeatTimeoutMs: 120_000,
  });
  if (str(args, 'handler', 'stram') === 'none') {
    // A bench-only substitution of a private method: checked, so a rename fails loudly here.
    const s = stram as unknown as { onHeartbeat?: unknown };
    if (typeof s.onHeartbeat !== 'function') throw new Error('Stram has no onHeartbeat to replace; update --handler none');
    const none: never[] = [];
    s.onHeartbeat = () => none;
  }
  emit('ready', { containers: stram.plan.containers.length, credentials: stram.plan.containers.map((c) => ({ path: stram.dir.credentials(c.id), operators: c.operators })) });
  await new Promise<void>((r) => process.once('SIGTERM', r));
  await Promise.race([stram.shutdown('bench done'), new Promise((r) => setTimeout(r, 3000))]);
}

runRole(main);
