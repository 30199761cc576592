import { describe, expect, it } from 'vitest';
import { encode } from './codec.js';
import { scanHeartbeat } from './heartbeat-scan.js';
import { HEARTBEAT, OPERATOR, encodedOrNone, generalRead, mutate, rng } from './test-support.js';

describe('the heartbeat read from its bytes in one pass', () => {
  it('reads the everyday shapes as the general path does', () => {
    const { errors: _e, counters: _c, credentialsRevision: _r, ...bare } = HEARTBEAT;
    const shapes = [
      HEARTBEAT,
      { ...bare, bufferServer: null, operators: [] },
      { ...HEARTBEAT, operators: [{ ...OPERATOR, latencyMs: 0 }, { ...OPERATOR, id: 'x', window: 2 ** 40, tuplesIn: 2 ** 53 - 1, latencyMs: 1e-9 }] },
      { ...HEARTBEAT, state: 'starting', counters: {}, errors: [] },
    ];
    for (const hb of shapes) {
      const bytes = encode(hb);
      expect(scanHeartbeat(bytes)).toEqual(generalRead(bytes, 'heartbeat'));
      expect(scanHeartbeat(bytes)).toEqual(hb);
    }
  });

  it('leaves rarer encodings and shapes to the general path', () => {
    const others = [
      { ...HEARTBEAT, container: 'ç1' }, // UTF-8
      { ...HEARTBEAT, counters: JSON.parse('{"__proto__": 1}') as Record<string, number> }, // msgpackr renames this key
      { ...HEARTBEAT, takeovers: { refused: 0, takenOver: [] } },
      { ...HEARTBEAT, failures: [] },
      { ...HEARTBEAT, operators: [{ ...OPERATOR, latencyMs: -1 }] },
      { ...HEARTBEAT, operators: [{ ...OPERATOR, window: -1 }] },
      { ...HEARTBEAT, t: 'csr' },
      [HEARTBEAT],
    ];
    for (const hb of others) expect(scanHeartbeat(encode(hb))).toBeUndefined();
    // float32, a key repeated, trailing bytes: valid or not, the general path decides.
    const bytes = encode({ ...HEARTBEAT, operators: [{ ...OPERATOR, latencyMs: 1.5 }] });
    const at = bytes.indexOf(0xcb);
    const float32 = Buffer.concat([bytes.subarray(0, at), Buffer.from([0xca, 0x3f, 0xc0, 0, 0]), bytes.subarray(at + 9)]);
    expect(generalRead(float32, 'heartbeat')).toMatchObject({ t: 'heartbeat' });
    expect(scanHeartbeat(float32)).toBeUndefined();
    expect(scanHeartbeat(Buffer.concat([bytes, Buffer.from([0xc0])]))).toBeUndefined();
    const twice = encode({ t: 'heartbeat', container: 'c1', bufferServer: null, state: 'running', operators: [] });
    twice[0]! += 1;
    expect(scanHeartbeat(Buffer.concat([twice, Buffer.from([0xa5, ...Buffer.from('state'), 0xa7, ...Buffer.from('running')])]))).toBeUndefined();
  });

  it('never accepts what the general path refuses, and returns what it returns, for fuzzed heartbeats and bytes', () => {
    const r = rng(13);
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 5_000; i++) {
      const bytes = encodedOrNone(mutate(r, HEARTBEAT));
      if (!bytes) continue;
      if (r() < 0.3) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const fast = scanHeartbeat(bytes);
      const slow = generalRead(bytes, 'heartbeat');
      if (slow instanceof Error) refused++;
      if (fast === undefined) continue;
      accepted++;
      expect(fast).toEqual(slow);
    }
    // Both outcomes were reached often, so the comparison above was exercised.
    expect(accepted).toBeGreaterThan(250);
    expect(refused).toBeGreaterThan(250);
  });
});
