import { describe, expect, it } from 'vitest';
import { plainAuth, plainChallenge, plainHeartbeat, plainSealed, plainWelcome } from './plain-messages.js';
import { authSchema, challengeSchema, sealedSchema, welcomeSchema } from './protocol.js';
import { HEARTBEAT, mutate, rng } from './test-support.js';
import { heartbeatSchema } from './umbilical.js';

const SEALED = { t: 'msg', seq: 7, body: Buffer.alloc(40, 1), mac: Buffer.alloc(32, 2) };

const CHALLENGE = { t: 'challenge', v: 1, nonce: Buffer.alloc(32, 3), service: 'bs-1' };
const AUTH_BASE = { t: 'auth', id: Buffer.alloc(90, 4), cnonce: Buffer.alloc(32, 5), proof: Buffer.alloc(32, 6) };
const AUTHS = [
  { ...AUTH_BASE, role: 'control' },
  { ...AUTH_BASE, role: 'hello', container: 'c1' },
  { ...AUTH_BASE, role: 'publish', stream: 'words', window: 12 },
  { ...AUTH_BASE, role: 'subscribe', stream: 'words', subscriber: 'count#0', window: 0 },
  { ...AUTH_BASE, role: 'subscribe', stream: 'words', subscriber: 'count#0', window: 3, partitions: { mask: 1, keys: [0] } },
];
const WELCOME = { t: 'welcome', proof: Buffer.alloc(32, 7), from: 4 };

describe('hand checks of the heartbeat and the sealed envelope', () => {
  it('accept the everyday shapes', () => {
    expect(plainHeartbeat(HEARTBEAT)).toBe(HEARTBEAT);
    expect(plainHeartbeat({ ...HEARTBEAT, bufferServer: null, errors: undefined, counters: undefined, credentialsRevision: undefined })).toBeUndefined();
    const { errors: _e, counters: _c, credentialsRevision: _r, ...bare } = HEARTBEAT;
    expect(plainHeartbeat({ ...bare, bufferServer: null, operators: [] })).toBeDefined();
    expect(plainSealed(SEALED)).toBe(SEALED);
  });

  it('never accept what the schema refuses, and return what the schema returns, for fuzzed messages', () => {
    const r = rng(7);
    let accepted = 0;
    let refusedBySchema = 0;
    for (let i = 0; i < 20_000; i++) {
      const hb = mutate(r, HEARTBEAT) as Record<string, unknown>;
      const fast = typeof hb === 'object' && hb !== null ? plainHeartbeat(hb) : undefined;
      const full = heartbeatSchema.safeParse(hb);
      if (!full.success) refusedBySchema++;
      if (fast !== undefined) {
        accepted++;
        expect(full.success).toBe(true);
        expect(fast).toEqual(full.data);
      }
      const sealed = mutate(r, SEALED) as Record<string, unknown>;
      const fastSealed = typeof sealed === 'object' && sealed !== null ? plainSealed(sealed) : undefined;
      if (fastSealed !== undefined) {
        const fullSealed = sealedSchema.safeParse(sealed);
        expect(fullSealed.success).toBe(true);
        expect(fastSealed).toEqual(fullSealed.data);
      }
    }
    // Both outcomes were reached often, so the comparisons above were exercised.
    expect(accepted).toBeGreaterThan(1000);
    expect(refusedBySchema).toBeGreaterThan(1000);
  });
});

/**
 * zod throws rather than refuses on a few objects MessagePack never decodes to (a map whose
 * prototype is a Buffer): parseFrame turns the throw into a 4400 (asFrameError), a refusal too.
 */
function safely(parse: () => { success: boolean; data?: unknown }): { success: boolean; data?: unknown } {
  try {
    return parse();
  } catch {
    return { success: false };
  }
}

/** Fuzzes `check` against `schema` from mutations of `bases`: the check accepts only what the schema accepts, and returns what it returns. */
function agreesWithSchema(
  seed: number,
  bases: Record<string, unknown>[],
  check: (m: Record<string, unknown>) => Record<string, unknown> | undefined,
  schema: { safeParse(v: unknown): { success: boolean; data?: unknown } },
): void {
  const r = rng(seed);
  let accepted = 0;
  let refusedBySchema = 0;
  for (let i = 0; i < 10_000; i++) {
    const m = mutate(r, bases[i % bases.length]) as Record<string, unknown>;
    const fast = typeof m === 'object' && m !== null ? check(m) : undefined;
    const full = safely(() => schema.safeParse(m));
    if (!full.success) refusedBySchema++;
    if (fast !== undefined) {
      accepted++;
      expect(full.success).toBe(true);
      expect(fast).toEqual(full.data);
    }
  }
  expect(accepted).toBeGreaterThan(1000);
  expect(refusedBySchema).toBeGreaterThan(1000);
}

describe('hand checks of the handshake messages', () => {
  it('accept the everyday shapes and leave a partition filter to the schema', () => {
    expect(plainChallenge(CHALLENGE)).toBe(CHALLENGE);
    expect(plainChallenge({ ...CHALLENGE, v: 2 })).toBeDefined();
    for (const auth of AUTHS.slice(0, 4)) expect(plainAuth(auth)).toBe(auth);
    expect(plainAuth(AUTHS[4]!)).toBeUndefined();
    expect(plainWelcome(WELCOME)).toBe(WELCOME);
  });

  it('never accept what the schema refuses, and return what the schema returns, for fuzzed challenges, auths and welcomes', () => {
    agreesWithSchema(11, [CHALLENGE], plainChallenge, challengeSchema);
    agreesWithSchema(12, AUTHS, plainAuth, authSchema);
    agreesWithSchema(13, [WELCOME], plainWelcome, welcomeSchema);
  });
});
