import { NOT_PLAIN, Scan, keyBytes } from './msgpack-scan.js';
import type { AuthMessage, ChallengeMessage, WelcomeMessage } from './protocol.js';

/**
 * The three frames of every handshake (docs/protocol.md "Authenticated connection") read from
 * their bytes in one pass, as heartbeat-scan.ts reads the heartbeat: the general path walks the
 * bytes for the grammar, has msgpackr build the value, then checks it (plain-messages.ts). Each
 * scan reads the everyday shape — the exact fields plainChallenge / plainAuth / plainWelcome
 * accept, standard MessagePack, ASCII strings, no key twice — and returns the value the general
 * path returns for those bytes; anything else (an auth with a partition filter, a UTF-8 service
 * name, a welcome with fields of its own kind) is undefined, and the caller takes the general
 * path, which names the fault or accepts it. A scan never refuses. handshake-scan.test.ts fuzzes
 * each against that path.
 */

const MAX_NAME = 256;
const MAX_IDENTIFIER = 4096;
const BIN32 = 32;

/** Runs `read` over `bytes`: its value when it read every byte of a plain frame, else undefined. */
function scan<T>(bytes: Uint8Array, read: (s: Scan) => T): T | undefined {
  const s = new Scan(bytes);
  try {
    const value = read(s);
    return s.atEnd ? value : undefined;
  } catch (err) {
    if (err === NOT_PLAIN) return undefined;
    throw err;
  }
}

/** Marks field `f` as read; a key seen twice is for the general path (msgpackr keeps the last). */
function once(seen: number, f: number): number {
  if (seen & (1 << f)) throw NOT_PLAIN;
  return seen | (1 << f);
}

function name(s: Scan): string {
  const v = s.str(MAX_NAME);
  if (v.length < 1) throw NOT_PLAIN;
  return v;
}

const CHALLENGE = ['t', 'v', 'nonce', 'service'] as const;
const CHALLENGE_KEYS = keyBytes(CHALLENGE);

/** `{t:"challenge", v:1|2, nonce, service}` (the client reads it once per connection). */
export function scanChallenge(bytes: Uint8Array): ChallengeMessage | undefined {
  return scan(bytes, (s) => {
    if (s.mapSize() !== CHALLENGE.length) throw NOT_PLAIN;
    let seen = 0;
    let v = 0;
    let nonce: Buffer | undefined;
    let service = '';
    for (let i = 0; i < CHALLENGE.length; i++) {
      const f = s.field(CHALLENGE_KEYS);
      seen = once(seen, f);
      if (f === 0) {
        if (s.str(9) !== 'challenge') throw NOT_PLAIN;
      } else if (f === 1) {
        v = s.uint();
        if (v !== 1 && v !== 2) throw NOT_PLAIN;
      } else if (f === 2) nonce = s.bin(BIN32, BIN32);
      else service = s.str(Number.MAX_SAFE_INTEGER);
    }
    return { t: 'challenge', v: v as 1 | 2, nonce: nonce!, service };
  });
}

/** The auth fields; those after `role` belong to one role or another. */
const AUTH = ['t', 'id', 'cnonce', 'proof', 'role', 'container', 'stream', 'subscriber', 'window'] as const;
const AUTH_KEYS = keyBytes(AUTH);
const BASE = 0b11111;
const F_CONTAINER = 1 << 5;
const F_STREAM = 1 << 6;
const F_SUBSCRIBER = 1 << 7;
const F_WINDOW = 1 << 8;
/** The fields each role's request has, besides t, id, cnonce, proof and role. */
const ROLE_FIELDS = new Map<string, number>([
  ['control', 0],
  ['hello', F_CONTAINER],
  ['publish', F_STREAM | F_WINDOW],
  ['subscribe', F_STREAM | F_SUBSCRIBER | F_WINDOW],
]);

/** `{t:"auth", id, cnonce, proof, role, ...}` for a control, hello, publish, or subscribe request without a partition filter. */
export function scanAuth(bytes: Uint8Array): AuthMessage | undefined {
  return scan(bytes, (s) => {
    const n = s.mapSize();
    if (n < 5 || n > 8) throw NOT_PLAIN;
    const m: Record<string, unknown> = {};
    let seen = 0;
    for (let i = 0; i < n; i++) {
      const f = s.field(AUTH_KEYS);
      seen = once(seen, f);
      if (f === 0) {
        if (s.str(4) !== 'auth') throw NOT_PLAIN;
        m['t'] = 'auth';
      } else if (f === 1) m['id'] = s.bin(0, MAX_IDENTIFIER);
      else if (f === 2) m['cnonce'] = s.bin(BIN32, BIN32);
      else if (f === 3) m['proof'] = s.bin(BIN32, BIN32);
      else if (f === 4) m['role'] = s.str(9);
      else if (f === 8) m['window'] = s.uint();
      else m[AUTH[f]!] = name(s);
    }
    const fields = ROLE_FIELDS.get(m['role'] as string);
    if (fields === undefined || seen !== (BASE | fields)) throw NOT_PLAIN;
    return m as AuthMessage;
  });
}

/**
 * The welcome fields: `proof`, and the buffer server's own (`stream` and `window` for a
 * publisher, `from` for a subscriber). The schema lets any other field through to the caller;
 * a welcome carrying one is for the general path.
 */
const WELCOME = ['t', 'proof', 'stream', 'window', 'from'] as const;
const WELCOME_KEYS = keyBytes(WELCOME);

export function scanWelcome(bytes: Uint8Array): WelcomeMessage | undefined {
  return scan(bytes, (s) => {
    const n = s.mapSize();
    if (n < 2 || n > WELCOME.length) throw NOT_PLAIN;
    const m: Record<string, unknown> = {};
    let seen = 0;
    for (let i = 0; i < n; i++) {
      const f = s.field(WELCOME_KEYS);
      seen = once(seen, f);
      if (f === 0) {
        if (s.str(7) !== 'welcome') throw NOT_PLAIN;
        m['t'] = 'welcome';
      } else if (f === 1) m['proof'] = s.bin(BIN32, BIN32);
      else if (f === 2) m['stream'] = s.str(MAX_NAME);
      else m[WELCOME[f]!] = s.uint();
    }
    if ((seen & 0b11) !== 0b11) throw NOT_PLAIN;
    return m as WelcomeMessage;
  });
}
