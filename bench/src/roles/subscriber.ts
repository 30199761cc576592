import WebSocket from 'ws';
import { decode } from '@sluice/common';
import { connectSubscriber } from '@sluice/buffer-server';
import { emit, now, num, parseArgs, readToken, runRole, str } from '../lib/role-io.js';
import { FINAL_WINDOW, tupleSeq } from '../lib/tuples.js';

/**
 * Counts the tuples of one stream until the publisher's final window ends. Reports progress
 * (last ended window, for the runner's purges) every 100 ms and the steady-state rate: tuples
 * after the first `--warmup-ms` of data, over the time until the last data.
 *   --mode sluice: the product client (connectSubscriber). --mode raw: plain ws + the same decode().
 *   --read-rate N: read at most N tuples/s (pauses the socket between windows), for slow readers.
 *   --verify:      check every tuple's sequence number (each once, in order).
 */
async function main(): Promise<void> {
  const args = parseArgs();
  const mode = str(args, 'mode');
  const url = str(args, 'url');
  const stream = str(args, 'stream', 'bench');
  const name = str(args, 'name', 'sub');
  const warmupMs = num(args, 'warmup-ms', 500);
  const readRate = num(args, 'read-rate', 0);
  const verify = args.has('verify');
  const timeoutMs = num(args, 'timeout-ms', 120_000);

  let tuples = 0;
  let firstAt = 0;
  let lastAt = 0;
  let warmAt = 0;
  let warmTuples = 0;
  let lastEnded = 0;
  let expected = 0;
  let misordered = 0;
  let readStart = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));

  const onData = (tuplesIn: unknown[]): void => {
    const t = now();
    if (tuples === 0) firstAt = t;
    else if (warmAt === 0 && t - firstAt >= warmupMs) {
      warmAt = t;
      warmTuples = tuples;
    }
    tuples += tuplesIn.length;
    lastAt = t;
    if (verify) {
      for (const tu of tuplesIn) {
        if (tupleSeq(tu) !== expected) misordered++;
        expected++;
      }
    }
  };
  /** For --read-rate: how long to hold the socket so that tuples / elapsed stays at the rate. */
  const holdMs = (): number => {
    if (readRate <= 0) return 0;
    if (readStart === 0) readStart = now();
    return Math.max(0, (tuples / readRate) * 1000 - (now() - readStart));
  };
  const onEnd = (w: number): void | Promise<void> => {
    lastEnded = w;
    if (w === FINAL_WINDOW) {
      finish();
      return;
    }
    const hold = holdMs();
    if (hold > 1) return new Promise((r) => setTimeout(r, hold));
  };

  let close: () => Promise<void>;
  if (mode === 'raw') {
    const ws = new WebSocket(`${url}/sub/${stream}`, { perMessageDeflate: false });
    ws.on('message', (data: Buffer) => {
      const m = decode(data) as { t: string; w: number; tuples?: unknown[] };
      if (m.t === 'data') onData(m.tuples!);
      else if (m.t === 'end') {
        const r = onEnd(m.w);
        if (r) {
          ws.pause();
          void r.then(() => ws.resume());
        }
      }
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    close = async () => {
      ws.close(1000);
      await new Promise((r) => ws.once('close', r));
    };
  } else {
    const sub = await connectSubscriber({
      url,
      token: readToken(str(args, 'token-file')),
      stream,
      subscriber: name,
      window: 1,
      onBegin: () => {},
      onData: (_w, t) => onData(t),
      onEnd,
      onClose: (code, reason) => {
        if (code !== 1000) emit('error', `subscriber closed ${code} ${reason}`);
      },
    });
    close = () => sub.close();
  }
  emit('ready', { mode, name });
  const progress = setInterval(() => emit('progress', { w: lastEnded, tuples }), 100);
  const timeout = setTimeout(() => emit('error', `no final window within ${timeoutMs} ms (got ${tuples} tuples, last window ${lastEnded})`), timeoutMs);
  await finished;
  clearInterval(progress);
  clearTimeout(timeout);
  const steady = warmAt > 0 && lastAt > warmAt ? (tuples - warmTuples) / ((lastAt - warmAt) / 1000) : tuples / Math.max(1e-3, (lastAt - firstAt) / 1000);
  emit('result', { tuples, rate: steady, seconds: (lastAt - firstAt) / 1000, misordered, verified: verify ? misordered === 0 && expected === tuples : null });
  await close();
}

runRole(main);
