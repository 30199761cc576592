import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { encode } from '@sluice/common';
import { connectPublisher } from '@sluice/buffer-server';
import { commands, emit, now, num, parseArgs, readToken, runRole, serverUrl, str } from '../lib/role-io.js';
import { TupleSource, firstWindowOf, markerOf } from '../lib/tuples.js';

/**
 * Publishes `--batch`-tuple batches of `--size`-byte tuples as fast as the connection takes them,
 * in windows of `--window-tuples`. Connects once, then for every `{"run": {k, durationMs}}` on
 * stdin publishes for that long, ends with run k's marker window and reports the run.
 *   --mode sluice: the product client (connectPublisher: token handshake, corked sends, ready()).
 *   --partitioned: every data frame carries p (the tuple's position in its batch).
 *   --mode raw:    a plain ws client doing the same thing: same frames, same encode(), same
 *                  cork-per-tick and 1 MiB bufferedAmount threshold; no handshake.
 */
interface Sink {
  begin(w: number): void;
  data(w: number, tuples: unknown[], p?: number[]): void;
  end(w: number): void;
  ready(): Promise<void>;
  close(): Promise<void>;
}

const READY_BELOW = 1024 * 1024;
/** Tuples sent between checks of the socket's room and the clock. */
const BURST_TUPLES = 4096;

async function rawSink(url: string, stream: string): Promise<Sink> {
  const ws = new WebSocket(`${url}/pub/${stream}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const raw = (ws as unknown as { _socket: Socket })._socket;
  let corked = false;
  const send = (frame: Buffer): void => {
    if (!corked) {
      corked = true;
      raw.cork();
      process.nextTick(() => {
        corked = false;
        raw.uncork();
      });
    }
    ws.send(frame);
  };
  return {
    begin: (w) => send(encode({ t: 'begin', w })),
    data: (w, tuples, p) => send(encode(p ? { t: 'data', w, tuples, p } : { t: 'data', w, tuples })),
    end: (w) => send(encode({ t: 'end', w })),
    ready: () =>
      ws.bufferedAmount < READY_BELOW
        ? Promise.resolve()
        : new Promise((resolve) => {
            const check = (): void => {
              if (ws.bufferedAmount < READY_BELOW || ws.readyState !== 1) {
                clearInterval(timer);
                raw.off('drain', check);
                resolve();
              }
            };
            const timer = setInterval(check, 10);
            raw.on('drain', check);
          }),
    close: async () => {
      ws.close(1000);
      await new Promise((r) => ws.once('close', r));
    },
  };
}

async function main(): Promise<void> {
  const args = parseArgs();
  const mode = str(args, 'mode');
  const cmds = commands();
  const url = await serverUrl(args, cmds);
  const stream = str(args, 'stream', 'bench');
  const size = num(args, 'size', 100);
  const batch = num(args, 'batch', 100);
  const windowTuples = num(args, 'window-tuples', 100_000);
  // --partitioned: p = the tuple's position in its batch (partitioned subscribers pick by mask).
  const p = args.has('partitioned') ? Array.from({ length: batch }, (_, i) => i) : undefined;
  const sink: Sink =
    mode === 'raw'
      ? await rawSink(url, stream)
      : await connectPublisher({ url, token: readToken(str(args, 'token-file')), stream, window: 1 });
  emit('ready', { mode });
  const src = new TupleSource(size, batch);
  const burst = Math.max(4, Math.ceil(BURST_TUPLES / batch));
  for await (const cmd of cmds) {
    const run = cmd['run'] as { k: number; durationMs: number };
    const seq0 = src.seq;
    const started = now();
    const deadline = started + run.durationMs;
    let w = firstWindowOf(run.k);
    let inWindow = 0;
    sink.begin(w);
    while (now() < deadline) {
      for (let i = 0; i < burst; i++) {
        sink.data(w, src.next(), p);
        inWindow += batch;
        if (inWindow >= windowTuples) {
          sink.end(w);
          w++;
          inWindow = 0;
          sink.begin(w);
        }
      }
      await sink.ready();
      // Let the uncork tick and socket writes run even when the socket always has room.
      await new Promise<void>((r) => setImmediate(r));
    }
    sink.end(w);
    const elapsed = (now() - started) / 1000;
    sink.begin(markerOf(run.k));
    sink.end(markerOf(run.k));
    const tuples = src.seq - seq0;
    emit('result', { k: run.k, tuples, windows: w - firstWindowOf(run.k) + 1, seconds: elapsed, rate: tuples / elapsed, lastSeq: src.seq });
  }
  await sink.ready();
  await sink.close();
}

runRole(main);
