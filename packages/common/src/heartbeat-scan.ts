import { DEFAULT_MAX_FRAME } from './codec.js';
import { NOT_PLAIN, Scan, keyBytes } from './msgpack-scan.js';
import type { HeartbeatMessage } from './umbilical.js';

/**
 * The heartbeat STRAM reads once per container per second, read from its bytes in one pass
 * (docs/protocol.md "Umbilical commands and counters"): the general path walks the bytes for the
 * grammar, has msgpackr build the value, then checks it by hand (plain-messages.ts). Like
 * stream-scan.ts this is a fast path that may only agree with that path: it reads the everyday
 * shape plainHeartbeat accepts — a map of the fields it names, each of its type and within its
 * bounds, in standard MessagePack, ASCII strings — and returns the value the general path returns
 * for those bytes; for anything else (another shape, a rarer encoding such as float32 or a UTF-8
 * string, a repeated key) it returns undefined and the caller takes the general path, which names
 * the fault or accepts it. It never refuses. heartbeat-scan.test.ts fuzzes it against that path.
 */

const STATES = new Set(['starting', 'running', 'stopping']);
const MAX_ID = 256;
const MAX_OPERATORS = 10_000;
const MAX_ERRORS = 20;
const MAX_ERROR_LENGTH = 1000;
const MAX_COUNTERS = 64;
const MAX_COUNTER_KEY = 64;

/** The field names a plain heartbeat and operator may have, as the bytes of their fixstr keys; the index is the field's bit. */
const TOP = ['t', 'container', 'bufferServer', 'state', 'operators', 'errors', 'counters', 'credentialsRevision'] as const;
const OP = ['id', 'window', 'tuplesIn', 'tuplesOut', 'latencyMs', 'checkpoint'] as const;
const TOP_KEYS = keyBytes(TOP);
const OP_KEYS = keyBytes(OP);
const REQUIRED = 0b11111; // t, container, bufferServer, state, operators
const ALL_OP = 0b111111;

type Operator = HeartbeatMessage['operators'][number];

function operator(s: Scan): Operator {
  if (s.mapSize() !== OP.length) throw NOT_PLAIN;
  let seen = 0;
  let id = '';
  let window = 0;
  let tuplesIn = 0;
  let tuplesOut = 0;
  let latencyMs = 0;
  let checkpoint = 0;
  for (let i = 0; i < OP.length; i++) {
    const f = s.field(OP_KEYS);
    if (seen & (1 << f)) throw NOT_PLAIN;
    seen |= 1 << f;
    if (f === 0) id = s.str(MAX_ID);
    else if (f === 1) window = s.uint();
    else if (f === 2) tuplesIn = s.uint();
    else if (f === 3) tuplesOut = s.uint();
    else if (f === 4) latencyMs = s.finiteNonNegative();
    else checkpoint = s.uint();
  }
  if (seen !== ALL_OP || id.length < 1) throw NOT_PLAIN;
  return { id, window, tuplesIn, tuplesOut, latencyMs, checkpoint };
}

function operators(s: Scan): Operator[] {
  const n = s.arraySize();
  if (n > MAX_OPERATORS) throw NOT_PLAIN;
  const ops: Operator[] = [];
  for (let i = 0; i < n; i++) ops.push(operator(s));
  return ops;
}

function errors(s: Scan): string[] {
  const n = s.arraySize();
  if (n > MAX_ERRORS) throw NOT_PLAIN;
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(s.str(MAX_ERROR_LENGTH));
  return out;
}

function counters(s: Scan): Record<string, number> {
  const n = s.mapSize();
  if (n > MAX_COUNTERS) throw NOT_PLAIN;
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const key = s.str(MAX_COUNTER_KEY);
    // msgpackr renames __proto__; an inherited name would need hasOwn to tell apart: both go to the general path.
    if (key.length < 1 || key === '__proto__' || key in out) throw NOT_PLAIN;
    out[key] = s.uint();
  }
  return out;
}

/** The heartbeat in `bytes` when it has the everyday shape (see above); undefined otherwise. */
export function scanHeartbeat(bytes: Uint8Array): HeartbeatMessage | undefined {
  if (bytes.length > DEFAULT_MAX_FRAME) return undefined;
  const s = new Scan(bytes);
  try {
    const n = s.mapSize();
    let seen = 0;
    let container = '';
    let bufferServer: string | null = null;
    let state = '';
    let ops: Operator[] = [];
    let errs: string[] | undefined;
    let counts: Record<string, number> | undefined;
    let revision: number | undefined;
    for (let i = 0; i < n; i++) {
      const f = s.field(TOP_KEYS);
      if (seen & (1 << f)) throw NOT_PLAIN;
      seen |= 1 << f;
      if (f === 0) {
        if (s.str(9) !== 'heartbeat') throw NOT_PLAIN;
      } else if (f === 1) {
        container = s.str(MAX_ID);
        if (container.length < 1) throw NOT_PLAIN;
      } else if (f === 2) {
        const tag = s.byte();
        // Any length: the general path bounds it no more than plainHeartbeat does.
        bufferServer = tag === 0xc0 ? null : s.strAfter(tag, Number.MAX_SAFE_INTEGER);
      } else if (f === 3) {
        state = s.str(8);
        if (!STATES.has(state)) throw NOT_PLAIN;
      } else if (f === 4) ops = operators(s);
      else if (f === 5) errs = errors(s);
      else if (f === 6) counts = counters(s);
      else revision = s.uint();
    }
    if (s.pos !== bytes.length || (seen & REQUIRED) !== REQUIRED) return undefined;
    const hb: HeartbeatMessage = { t: 'heartbeat', container, bufferServer, state: state as HeartbeatMessage['state'], operators: ops };
    if (errs) hb.errors = errs;
    if (counts) hb.counters = counts;
    if (revision !== undefined) hb.credentialsRevision = revision;
    return hb;
  } catch (err) {
    if (err === NOT_PLAIN) return undefined;
    throw err;
  }
}
