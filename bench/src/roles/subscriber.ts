import WebSocket from 'ws';
import { decode } from '@sluice/common';
import { connectSubscriber } from '@sluice/buffer-server';
import { commands, emit, now, num, parseArgs, readToken, runRole, serverUrl, str } from '../lib/role-io.js';
import { isMarker, runOf, tupleSeq } from '../lib/tuples.js';

/**
 * Counts the tuples of one stream; at each run's marker window reports that run's steady-state
 * rate: tuples after the first `--warmup-ms` of data, over the time until the run's last data.
 * Reports progress (last ended window, for the runner's purges) every 100 ms. Runs until stopped.
 *   --mode sluice: the product client (connectSubscriber). --mode raw: plain ws + the same decode().
 *   --read-rate N: read at most N tuples/s (holds the socket between windows): a slow reader.
 *   --partition-mask M --partition-key K: (sluice) read only tuples whose p & M is K.
 *   --verify:      check every tuple's sequence number (each once, in order, across runs).
 */
async function main(): Promise<void> {
  const args = parseArgs();
  const mode = str(args, 'mode');
  const url = await serverUrl(args, commands());
  const stream = str(args, 'stream', 'bench');
  const name = str(args, 'name', 'sub');
  const warmupMs = num(args, 'warmup-ms', 500);
  const readRate = num(args, 'read-rate', 0);
  const verify = args.has('verify');
  const partitions = args.has('partition-mask') ? { mask: num(args, 'partition-mask', 0), keys: [num(args, 'partition-key', 0)] } : undefined;

  // Per run.
  let tuples = 0;
  let firstAt = 0;
  let lastAt = 0;
  let warmAt = 0;
  let warmTuples = 0;
  let readStart = 0;
  let stalls = 0;
  let stallMs = 0;
  // Across runs.
  let lastEnded = 0;
  let expected = 0;
  let misordered = 0;

  const onData = (tuplesIn: unknown[]): void => {
    const t = now();
    if (tuples === 0) firstAt = t;
    else if (warmAt === 0 && t - firstAt >= warmupMs) {
      warmAt = t;
      warmTuples = tuples;
    }
    // Stalls: gaps of 20 ms or more between two data messages (a stuck pipeline shows here).
    if (tuples > 0 && t - lastAt >= 20 && readRate <= 0) {
      stalls++;
      stallMs += t - lastAt;
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
  const report = (k: number): void => {
    const steady = warmAt > 0 && lastAt > warmAt ? (tuples - warmTuples) / ((lastAt - warmAt) / 1000) : tuples / Math.max(1e-3, (lastAt - firstAt) / 1000);
    emit('result', {
      k,
      tuples,
      rate: steady,
      seconds: (lastAt - firstAt) / 1000,
      stalls,
      stallMs: Math.round(stallMs),
      misordered,
      received: expected,
      verified: verify ? misordered === 0 : null,
    });
    tuples = firstAt = lastAt = warmAt = warmTuples = readStart = stalls = stallMs = 0;
  };
  /** For --read-rate: how long to hold the socket so that tuples / elapsed stays at the rate. */
  const holdMs = (): number => {
    if (readRate <= 0) return 0;
    if (readStart === 0) readStart = firstAt || now();
    return Math.max(0, (tuples / readRate) * 1000 - (now() - readStart));
  };
  const onEnd = (w: number): void | Promise<void> => {
    lastEnded = w;
    if (isMarker(w)) return report(runOf(w));
    const hold = holdMs();
    if (hold > 1) return new Promise((r) => setTimeout(r, hold));
  };

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
  } else {
    await connectSubscriber({
      url,
      token: readToken(str(args, 'token-file')),
      stream,
      subscriber: name,
      window: 1,
      ...(partitions ? { partitions } : {}),
      onBegin: () => {},
      onData: (_w, t) => onData(t),
      onEnd,
      onClose: (code, reason) => {
        if (code !== 1000 && code !== 1001) emit('error', `subscriber closed ${code} ${reason}`);
      },
    });
  }
  emit('ready', { mode, name });
  setInterval(() => emit('progress', { w: lastEnded }), 100);
  await new Promise<void>((r) => process.once('SIGTERM', r));
}

runRole(main);
