import { describe, expect, it } from 'vitest';
import { encode } from './codec.js';
import { scanAuth, scanChallenge, scanWelcome } from './handshake-scan.js';
import { encodedOrNone, generalRead, mutate, rng } from './test-support.js';

const bin = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);
const CHALLENGE = { t: 'challenge', v: 1, nonce: bin(32, 1), service: 'bs-1' };
const AUTH = { t: 'auth', id: bin(150, 2), cnonce: bin(32, 3), proof: bin(32, 4) };
const AUTHS = [
  { ...AUTH, role: 'control' },
  { ...AUTH, role: 'hello', container: 'c1' },
  { ...AUTH, role: 'publish', stream: 'gen.out', window: 7 },
  { ...AUTH, role: 'subscribe', stream: 'gen.out', subscriber: 'count#0', window: 2 ** 40 },
];
const WELCOMES = [
  { t: 'welcome', proof: bin(32, 5) },
  { t: 'welcome', proof: bin(32, 5), from: 12 },
  { t: 'welcome', proof: bin(32, 5), stream: 'gen.out', window: 0 },
];

const SCANS = [
  { type: 'challenge', scan: scanChallenge, shapes: [CHALLENGE, { ...CHALLENGE, v: 2, service: 'x'.repeat(300) }, { ...CHALLENGE, service: '' }] },
  { type: 'auth', scan: scanAuth, shapes: AUTHS },
  { type: 'welcome', scan: scanWelcome, shapes: WELCOMES },
] as const;

describe('the handshake frames read from their bytes in one pass', () => {
  it('reads the everyday challenge, auth (every role) and welcome as the general path does', () => {
    for (const { type, scan, shapes } of SCANS) {
      for (const shape of shapes) {
        const bytes = encode(shape);
        expect(scan(bytes)).toEqual(generalRead(bytes, type));
        expect(scan(bytes)).toEqual(shape);
      }
    }
  });

  it('leaves rarer shapes and encodings to the general path', () => {
    const others: [(b: Uint8Array) => unknown, unknown][] = [
      [scanChallenge, { ...CHALLENGE, service: 'sérvice' }], // UTF-8
      [scanChallenge, { ...CHALLENGE, v: 3 }],
      [scanChallenge, { ...CHALLENGE, nonce: bin(31, 1) }],
      [scanAuth, { ...AUTHS[3], partitions: { mask: 1, keys: [0] } }],
      [scanAuth, { ...AUTH, role: 'toString' }], // a name every object has: not a role
      [scanAuth, { ...AUTH, role: 'publish', stream: 'gen.out' }], // a field short
      [scanAuth, { ...AUTH, role: 'control', stream: 'gen.out' }], // a field over
      [scanAuth, { ...AUTH, role: 'hello', container: '' }],
      [scanWelcome, { ...WELCOMES[0], server: 'extra' }], // a field of the server's own kind
      [scanWelcome, { ...WELCOMES[0], from: -1 }],
      [scanWelcome, { t: 'welcome' }],
      [scanAuth, [AUTHS[0]]],
    ];
    for (const [scan, value] of others) expect(scan(encode(value))).toBeUndefined();
    // Trailing bytes and a key given twice: valid or not, the general path decides.
    const control = encode(AUTHS[0]);
    expect(scanAuth(Buffer.concat([control, Buffer.from([0xc0])]))).toBeUndefined();
    const twice = Buffer.concat([control, Buffer.from([0xa4, ...Buffer.from('role'), 0xa7, ...Buffer.from('control')])]);
    twice[0]! += 1;
    expect(generalRead(twice, 'auth')).toMatchObject({ t: 'auth', role: 'control' });
    expect(scanAuth(twice)).toBeUndefined();
  });

  it('never accepts what the general path refuses, and returns what it returns, for fuzzed frames and bytes', () => {
    const r = rng(29);
    for (const { type, scan, shapes } of SCANS) {
      let accepted = 0;
      let refused = 0;
      for (let i = 0; i < 4_000; i++) {
        const bytes = encodedOrNone(mutate(r, shapes[i % shapes.length]));
        if (!bytes) continue;
        if (r() < 0.3) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
        const fast = scan(bytes);
        const slow = generalRead(bytes, type);
        if (slow instanceof Error) refused++;
        if (fast === undefined) continue;
        accepted++;
        expect(fast, type).toEqual(slow);
      }
      // Both outcomes were reached often, so the comparison above was exercised.
      expect(accepted, type).toBeGreaterThan(300);
      expect(refused, type).toBeGreaterThan(300);
    }
  });
});
