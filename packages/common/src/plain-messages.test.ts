import { describe, expect, it } from 'vitest';
import { plainHeartbeat, plainSealed } from './plain-messages.js';
import { sealedSchema } from './protocol.js';
import { HEARTBEAT, mutate, rng } from './test-support.js';
import { heartbeatSchema } from './umbilical.js';

const SEALED = { t: 'msg', seq: 7, body: Buffer.alloc(40, 1), mac: Buffer.alloc(32, 2) };

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
