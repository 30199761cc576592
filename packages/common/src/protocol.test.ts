import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encode } from './codec.js';
import { SluiceError } from './errors.js';
import { asFrameError, parseFrame, statsOfAck } from './protocol.js';
import { Session, SessionSide, deriveSessionKeys, openSealed } from './session.js';
import { codeOf } from './test-support.js';

const heartbeat = { t: 'heartbeat', container: 'c1', bufferServer: null, state: 'running', operators: [] } as const;

function session() {
  const keys = deriveSessionKeys(randomBytes(32), randomBytes(32), randomBytes(32));
  return { client: new Session(keys, SessionSide.client), server: new Session(keys, SessionSide.server) };
}

describe('parseFrame: one of the types the caller allows, or a 4400 naming the fault', () => {
  it('returns the message typed by its t', () => {
    const m = parseFrame(encode({ t: 'purge', stream: 's', w: 3 }), true, ['purge', 'reset']);
    expect(m).toEqual({ t: 'purge', stream: 's', w: 3 });
    if (m.t === 'purge') expect(m.w + 1).toBe(4); // narrowed: `w` is a number here
  });

  it('tells a type no Sluice message has from one not allowed here', () => {
    expect(codeOf(() => parseFrame(encode({ t: 'hack' }), true, ['purge']))).toBe('UNKNOWN_MESSAGE');
    expect(codeOf(() => parseFrame(encode({ t: 'constructor' }), true, ['purge']))).toBe('UNKNOWN_MESSAGE');
    expect(codeOf(() => parseFrame(encode({ t: 'reset', stream: 's' }), true, ['purge']))).toBe('UNEXPECTED_MESSAGE');
    expect(codeOf(() => parseFrame(encode({ t: 'purge', stream: 's' }), true, ['purge']))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => parseFrame(encode({ t: 'purge', stream: 's', w: 1 }), false, ['purge']))).toBe('MALFORMED_FRAME');
  });

  it('checks stream messages by hand and keeps only their fields', () => {
    expect(parseFrame(encode({ t: 'data', w: 1, tuples: [1, 2], p: [0, 5], extra: true }), true, ['data'])).toEqual({ t: 'data', w: 1, tuples: [1, 2], p: [0, 5] });
    expect(codeOf(() => parseFrame(encode({ t: 'data', w: 1, tuples: [1], p: [2 ** 31] }), true, ['data']))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => parseFrame(encode({ t: 'end', w: -1 }), true, ['end']))).toBe('INVALID_MESSAGE');
  });
});

describe('openSealed: envelope, then MAC and sequence, then the inner message', () => {
  it('opens what the peer sealed as the allowed inner type', () => {
    const { client, server } = session();
    expect(openSealed(server, client.seal(heartbeat), true, ['heartbeat'])).toEqual(heartbeat);
  });

  it('refuses in the documented order: 4400 envelope, 4401 MAC, 4400 inner message', () => {
    const { client, server } = session();
    expect(codeOf(() => openSealed(server, encode(heartbeat), true, ['heartbeat']))).toBe('UNEXPECTED_MESSAGE');
    // An inner message that is not allowed, under a bad MAC: the MAC decides.
    const forged = encode({ t: 'msg', seq: 1, body: encode({ t: 'hack' }), mac: randomBytes(32) });
    expect(codeOf(() => openSealed(server, forged, true, ['heartbeat']))).toBe('BAD_MAC');
    expect(codeOf(() => openSealed(server, client.seal({ t: 'heartbeat-ack', commands: [] }), true, ['heartbeat']))).toBe('UNEXPECTED_MESSAGE');
    expect(codeOf(() => openSealed(server, server.seal(heartbeat), true, ['heartbeat']))).toBe('BAD_MAC');
  });
});

describe('asFrameError', () => {
  it('keeps a SluiceError and turns anything else into MALFORMED_FRAME (4400)', () => {
    const own = new SluiceError('BAD_MAC', 'x');
    expect(asFrameError(own, 'frame')).toBe(own);
    const cause = new TypeError('boom');
    expect(asFrameError(cause, 'frame')).toMatchObject({ code: 'MALFORMED_FRAME', closeCode: 4400, cause });
    expect(asFrameError('thrown string', 'frame').code).toBe('MALFORMED_FRAME');
  });
});

describe('statsOfAck', () => {
  const figures = { memoryBytes: 1, peakMemoryBytes: 2, memoryLimit: 3, storeBudgetBytes: 1, footprintBytes: 5, collections: 0, spoolBytes: 0, spoolLimit: 4, spilledBytes: 0, paused: false, pauses: 0, connections: 1, boundNames: 0, takeoversRefused: 0, pendingHandshakes: 0, authRefusals: { BAD_PROOF: 1 }, streams: {} };

  it('returns the figures of a stats ack', () => {
    expect(statsOfAck({ t: 'ack', of: 'stats', ...figures })).toEqual(figures);
  });

  it('refuses an ack whose figures are missing or of the wrong type (INVALID_MESSAGE)', () => {
    expect(codeOf(() => statsOfAck({ t: 'ack', of: 'stats', ...figures, paused: 'no' }))).toBe('INVALID_MESSAGE');
    expect(codeOf(() => statsOfAck({ t: 'ack', of: 'purge' }))).toBe('INVALID_MESSAGE');
  });
});
