import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bufferTokenPassword, checkBufferTokenLive, mintBufferToken } from './buffer-token.js';
import { decode, encode } from './codec.js';
import { SluiceError } from './errors.js';
import { AUTH_CONTEXT, ClientHandshake, SERVER_CONTEXT, ServerHandshake, clientProof, serverProof, type TokenAuthority } from './handshake.js';
import type { AuthRequest } from './protocol.js';
import { hmac } from './token.js';

/** Challenge v:2 (docs/protocol.md "Transport encryption"): both proofs bound to the TLS exporter value. */

const secret = randomBytes(32);
const authority: TokenAuthority = {
  password: (idBytes) => bufferTokenPassword(secret, idBytes).password,
  checkLive: (id) => checkBufferTokenLive(id, Date.now(), new Set()),
  authorize: () => undefined,
};
const token = () => mintBufferToken({ secret, bs: 'bs-1', streams: ['s'], access: 'publish', container: null, owner: 't', now: Date.now(), ttlMs: 60_000 });
const publish: AuthRequest = { role: 'publish', stream: 's', window: 0 };

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return `${err.code} ${err.closeCode}`;
    throw err;
  }
  return undefined;
}

describe('handshake bound to a TLS session (v:2)', () => {
  it('welcomes a client whose proof carries the same exporter value, and the client checks the server likewise', () => {
    const binding = randomBytes(32);
    const server = new ServerHandshake('bs-1', authority, undefined, binding);
    const challenge = server.challenge();
    expect(decode(challenge)).toMatchObject({ v: 2 });
    const client = new ClientHandshake(token(), publish, binding);
    const accepted = server.receive(client.answer(challenge, true), true);
    expect(client.welcome(accepted.welcome(), true).welcome.t).toBe('welcome');
  });

  it('appends the exporter value after service in the client proof and after nonce in the server proof', () => {
    const [p, n, c, b] = [randomBytes(32), randomBytes(32), randomBytes(32), randomBytes(32)];
    expect(clientProof(p, n, c, 'bs-1', b)).toEqual(hmac(p, AUTH_CONTEXT, n, c, 'bs-1', b));
    expect(serverProof(p, c, n, b)).toEqual(hmac(p, SERVER_CONTEXT, c, n, b));
    // v:1 stays as it was.
    expect(clientProof(p, n, c, 'bs-1')).toEqual(hmac(p, AUTH_CONTEXT, n, c, 'bs-1'));
    expect(serverProof(p, c, n)).toEqual(hmac(p, SERVER_CONTEXT, c, n));
  });

  it('refuses with 4401 a proof made on another TLS session', () => {
    const server = new ServerHandshake('bs-1', authority, undefined, randomBytes(32));
    const relayed = new ClientHandshake(token(), publish, randomBytes(32)).answer(server.challenge(), true);
    expect(code(() => server.receive(relayed, true))).toBe('BAD_PROOF 4401');
  });

  it('refuses with 4401 an unbound (v:1) proof sent over TLS', () => {
    const server = new ServerHandshake('bs-1', authority, undefined, randomBytes(32));
    const challenge = decode(server.challenge()) as Record<string, unknown>;
    const unbound = new ClientHandshake(token(), publish).answer(encode({ ...challenge, v: 1 }), true);
    expect(code(() => server.receive(unbound, true))).toBe('BAD_PROOF 4401');
  });

  it('a client over TLS refuses a v:1 challenge (NOT_BOUND) and a welcome bound to another session (BAD_PROOF)', () => {
    const plain = new ServerHandshake('bs-1', authority);
    expect(code(() => new ClientHandshake(token(), publish, randomBytes(32)).answer(plain.challenge(), true))).toBe('NOT_BOUND 4401');
    const t = token();
    const server = new ServerHandshake('bs-1', authority, undefined, randomBytes(32));
    const client = new ClientHandshake(t, publish, randomBytes(32));
    const auth = decode(client.answer(server.challenge(), true)) as { cnonce: Uint8Array };
    const welcome = encode({ t: 'welcome', proof: serverProof(t.password, auth.cnonce, server.nonce, randomBytes(32)) });
    expect(code(() => client.welcome(welcome, true))).toBe('BAD_PROOF 4401');
  });
});
