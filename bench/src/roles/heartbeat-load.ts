import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { Session, SessionSide, openSealed } from '@sluice/common';
import { FakeContainer } from '@sluice/stram/testing';
import { commands, emit, now, parseArgs, runRole, str, num } from '../lib/role-io.js';

/**
 * stram/heartbeats-1000, load side: one process holding many containers' connections, each
 * heartbeating once a second (phases spread over the second), over real sockets.
 *   --mode stram: one FakeContainer per credentials file in `--credentials-list` (a JSON array),
 *                 each with its own token: handshake, sealed heartbeats, sealed acks.
 *   --mode echo:  `--containers` plain ws connections to the echo server, each sealing its
 *                 heartbeats and opening the echoes as a FakeContainer does its acks (same client
 *                 work, same frame size).
 * For every `{"run": {durationMs}}` on stdin it reports the round trips of that span (p50, p99).
 * `--only-in-runs`: heartbeats only during a run (the case takes turns between sides, and an idle
 * side's load must not take the other's CPU).
 */
interface Beater {
  beat(): Promise<unknown>;
}

const OPERATOR = { id: 'sink#0', window: 1234, tuplesIn: 5_000_000, tuplesOut: 0, latencyMs: 1.5, checkpoint: 1200 };

interface Planned {
  path: string;
  operators: string[];
}

async function stramBeaters(list: Planned[]): Promise<Beater[]> {
  const out: Beater[] = [];
  // A few at a time: a real app's containers do not all start in the same millisecond either.
  for (let i = 0; i < list.length; i += 50) {
    const slice = list.slice(i, i + 50);
    const batch = await Promise.all(slice.map((c) => FakeContainer.fromCredentials(c.path)));
    batch.forEach((fake, j) => {
      // Stats of the operators STRAM deployed to this container (it refuses any other, 4403).
      const fields = { operators: slice[j]!.operators.map((id) => ({ ...OPERATOR, id })) };
      out.push({ beat: () => fake.heartbeat(fields) });
    });
  }
  return out;
}

async function echoBeaters(url: string, n: number): Promise<Beater[]> {
  // The same client work per heartbeat as a FakeContainer's, so only the server differs between
  // the sides (on 2 cores the load's own CPU moves the server's): each heartbeat is sealed afresh
  // (encode, its own sequence number and MAC) and each echo opened like an ack (envelope, MAC and
  // sequence checked, body read). The echo server sends the frame back unchanged, so both
  // directions use one key here.
  const key = Buffer.alloc(32, 7);
  const heartbeat = { t: 'heartbeat', container: 'c1000', bufferServer: null, state: 'running', operators: [OPERATOR], credentialsRevision: 0 } as const;
  const out: Beater[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const session = new Session({ clientToServer: key, serverToClient: key }, SessionSide.client);
        const ws = new WebSocket(url, { perMessageDeflate: false });
        await new Promise<void>((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        const waiters: (() => void)[] = [];
        ws.on('message', (data: Buffer, isBinary) => {
          openSealed(session, data, isBinary, ['heartbeat']);
          waiters.shift()?.();
        });
        return {
          beat: () =>
            new Promise<void>((resolve) => {
              waiters.push(resolve);
              ws.send(session.seal(heartbeat));
            }),
        };
      }),
    );
    out.push(...batch);
  }
  return out;
}

const pct = (sorted: number[], p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]! : NaN);

async function main(): Promise<void> {
  const args = parseArgs();
  const mode = str(args, 'mode');
  const beaters =
    mode === 'stram'
      ? await stramBeaters(JSON.parse(readFileSync(str(args, 'credentials-list'), 'utf8')) as Planned[])
      : await echoBeaters(str(args, 'url'), num(args, 'containers', 1000));
  let recording: number[] | null = null;
  const onlyInRuns = args.get('only-in-runs') === 'true';
  let errors = 0;
  let lastError = '';
  // Every beater heartbeats at 1 Hz from a random phase; never two of its own in flight (kafkajs-style).
  const intervalMs = 1000;
  const timers = beaters.map((b) => {
    let busy = false;
    const tick = (): void => {
      if (busy || (onlyInRuns && recording === null)) return;
      busy = true;
      const t0 = now();
      b.beat().then(
        () => {
          busy = false;
          recording?.push(now() - t0);
        },
        (err: unknown) => {
          busy = false;
          errors++;
          lastError = err instanceof Error ? err.message : String(err);
        },
      );
    };
    let interval: NodeJS.Timeout | undefined;
    const start = setTimeout(() => {
      tick();
      interval = setInterval(tick, intervalMs);
    }, Math.random() * intervalMs);
    return () => (clearTimeout(start), clearInterval(interval));
  });
  emit('ready', { connections: beaters.length });
  for await (const cmd of commands()) {
    const { durationMs } = cmd['run'] as { durationMs: number };
    const rtts: number[] = (recording = []);
    const errors0 = errors;
    await new Promise((r) => setTimeout(r, durationMs));
    recording = null;
    rtts.sort((a, b) => a - b);
    emit('result', { heartbeats: rtts.length, perSecond: rtts.length / (durationMs / 1000), p50: pct(rtts, 0.5), p99: pct(rtts, 0.99), max: rtts[rtts.length - 1] ?? NaN, errors: errors - errors0, lastError });
  }
  for (const stop of timers) stop();
}

runRole(main);
