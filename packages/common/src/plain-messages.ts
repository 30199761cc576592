/**
 * Hand checks of the messages read most often — the sealed envelope and the heartbeat inside it,
 * which STRAM reads once per container per second, and the challenge, auth and welcome of every
 * handshake (docs/protocol.md "Authenticated connection") — for their everyday shape. A check
 * either returns the value unchanged, when it is exactly what the schema accepts (every field the
 * schema requires, of its type and within its bounds, and no field the schema does not name), or
 * returns undefined, and the caller asks the schema, which then names the fault or accepts a
 * rarer shape.
 * So a check can only agree with the schema, never refuse for it (plain-messages.test.ts fuzzes
 * both against each other); the schema stays the definition.
 */

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;
const isId = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 256;

const isBin32 = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.length === 32;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function keyCount(m: Record<string, unknown>): number {
  let n = 0;
  for (const _ in m) n++;
  return n;
}

/** `{t:"msg", seq, body, mac}` with nothing else. */
export function plainSealed(m: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!isPlainObject(m)) return undefined;
  if (keyCount(m) !== 4 || m['t'] !== 'msg' || !isUint(m['seq'])) return undefined;
  const body = m['body'];
  const mac = m['mac'];
  if (!(body instanceof Uint8Array) || !(mac instanceof Uint8Array) || mac.length !== 32) return undefined;
  return m;
}

const HEARTBEAT_KEYS = new Set(['t', 'container', 'bufferServer', 'state', 'operators', 'errors', 'counters', 'credentialsRevision']);
const STATES = new Set(['starting', 'running', 'stopping']);
const OPERATOR_KEYS = 6;

function plainOperator(v: unknown): boolean {
  if (!isPlainObject(v)) return false;
  let n = 0;
  for (const _ in v) n++;
  const latency = v['latencyMs'];
  return (
    n === OPERATOR_KEYS &&
    isId(v['id']) &&
    isUint(v['window']) &&
    isUint(v['tuplesIn']) &&
    isUint(v['tuplesOut']) &&
    typeof latency === 'number' &&
    Number.isFinite(latency) &&
    latency >= 0 &&
    isUint(v['checkpoint'])
  );
}

function plainCounters(v: unknown): boolean {
  if (!isPlainObject(v)) return false;
  let n = 0;
  for (const k in v) {
    if (++n > 64 || k.length < 1 || k.length > 64 || !isUint(v[k])) return false;
  }
  return true;
}

function plainErrors(v: unknown): boolean {
  if (!Array.isArray(v) || v.length > 20) return false;
  for (const e of v) if (typeof e !== 'string' || e.length > 1000) return false;
  return true;
}

/** A heartbeat of the everyday shape: no takeovers, no failures (those go to the schema). */
export function plainHeartbeat(m: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!isPlainObject(m)) return undefined;
  for (const k in m) if (!HEARTBEAT_KEYS.has(k)) return undefined;
  if (m['t'] !== 'heartbeat' || !isId(m['container'])) return undefined;
  const bs = m['bufferServer'];
  if (bs !== null && typeof bs !== 'string') return undefined;
  if (typeof m['state'] !== 'string' || !STATES.has(m['state'])) return undefined;
  const ops = m['operators'];
  if (!Array.isArray(ops) || ops.length > 10_000) return undefined;
  for (const o of ops) if (!plainOperator(o)) return undefined;
  if ('errors' in m && !plainErrors(m['errors'])) return undefined;
  if ('counters' in m && !plainCounters(m['counters'])) return undefined;
  if ('credentialsRevision' in m && !isUint(m['credentialsRevision'])) return undefined;
  return m;
}

/** `{t:"challenge", v:1|2, nonce, service}` with nothing else. */
export function plainChallenge(m: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!isPlainObject(m) || keyCount(m) !== 4 || m['t'] !== 'challenge') return undefined;
  if ((m['v'] !== 1 && m['v'] !== 2) || !isBin32(m['nonce']) || typeof m['service'] !== 'string') return undefined;
  return m;
}

/** How many fields each role's auth has: t, id, cnonce, proof, role, and the role's own (named in plainAuth). */
const AUTH_FIELDS = { control: 5, hello: 6, publish: 7, subscribe: 8 } as const;

/**
 * `{t:"auth", id, cnonce, proof, role, ...}` for a control, hello, publish, or subscribe request
 * without a partition filter, with nothing else. The field count and every field named being
 * present make the set of fields exact.
 */
export function plainAuth(m: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!isPlainObject(m) || m['t'] !== 'auth') return undefined;
  const id = m['id'];
  if (!(id instanceof Uint8Array) || id.length > 4096 || !isBin32(m['cnonce']) || !isBin32(m['proof'])) return undefined;
  const role = m['role'];
  if (role !== 'control' && role !== 'hello' && role !== 'publish' && role !== 'subscribe') return undefined;
  if (keyCount(m) !== AUTH_FIELDS[role]) return undefined;
  if (role === 'hello') return isId(m['container']) ? m : undefined;
  if (role === 'publish') return isId(m['stream']) && isUint(m['window']) ? m : undefined;
  if (role === 'subscribe') return isId(m['stream']) && isId(m['subscriber']) && isUint(m['window']) ? m : undefined;
  return m;
}

/** `{t:"welcome", proof, ...}`: the server's own fields (e.g. `from`) are the caller's to read, as the schema lets them through. */
export function plainWelcome(m: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!isPlainObject(m) || m['t'] !== 'welcome' || !isBin32(m['proof'])) return undefined;
  return m;
}
