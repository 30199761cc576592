import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ServerHandshake,
  Session,
  SessionSide,
  TokenKind,
  bufferTokenPassword,
  checkBufferTokenLive,
  clientProof,
  computePassword,
  decode,
  deriveSessionKeys,
  encode,
  encodeIdentifier,
  parseFrame,
  serverProof,
  type TokenAuthority,
} from '@sluice/common';

/** docs/protocol.md's worked example, recomputed with the real functions. */

const doc = readFileSync(resolve(import.meta.dirname, '..', 'docs', 'protocol.md'), 'utf8');
const blocks = new Map<string, string>();
for (const m of doc.matchAll(/```hex ([\w-]+)\n([\s\S]*?)```/g)) blocks.set(m[1]!, m[2]!.replace(/\s+/g, ''));
const block = (name: string): Buffer => {
  const hex = blocks.get(name);
  if (hex === undefined) throw new Error(`docs/protocol.md has no hex block "${name}"`);
  return Buffer.from(hex, 'hex');
};

describe('docs/protocol.md worked example', () => {
  const secret = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
  const identifier = encodeIdentifier({
    version: 1,
    kind: TokenKind.bufferServer,
    owner: 'alice',
    renewer: '',
    realUser: '',
    issueDate: 1795000000000,
    maxDate: 1795000600000,
    sequenceNumber: 42,
    keyId: 0,
    scope: { bs: 'bs-1', streams: ['orders'], access: 'subscribe', container: null },
  });
  const password = computePassword(secret, identifier);
  const nonce = Buffer.alloc(32, 0xaa);
  const cnonce = Buffer.alloc(32, 0xbb);

  it('has every block the test checks', () => {
    expect([...blocks.keys()].sort()).toEqual(
      ['auth', 'challenge', 'client-proof', 'cnonce', 'data', 'identifier', 'nonce', 'password', 'sealed', 'sealed-s2c', 'secret', 'server-proof', 'session-key-c2s', 'session-key-s2c', 'welcome'].sort(),
    );
  });

  it('token: secret, identifier and password', () => {
    expect(block('secret')).toEqual(secret);
    expect(block('identifier')).toEqual(identifier);
    expect(block('password')).toEqual(password);
    expect(bufferTokenPassword(block('secret'), block('identifier')).password).toEqual(block('password'));
  });

  it('handshake: challenge, auth, proofs and welcome, accepted by the real server handshake', () => {
    expect(block('nonce')).toEqual(nonce);
    expect(block('cnonce')).toEqual(cnonce);
    const authority: TokenAuthority = {
      password: (idBytes) => bufferTokenPassword(secret, idBytes).password,
      checkLive: (id) => checkBufferTokenLive(id, 1795000000001, new Set()),
      authorize: () => {},
    };
    const server = new ServerHandshake('bs-1', authority, nonce);
    expect(block('challenge')).toEqual(server.challenge());
    const proof = clientProof(password, nonce, cnonce, 'bs-1');
    expect(block('client-proof')).toEqual(proof);
    const auth = encode({ t: 'auth', id: identifier, cnonce, proof, role: 'subscribe', stream: 'orders', subscriber: 's1', window: 0 });
    expect(block('auth')).toEqual(auth);
    const accepted = server.receive(block('auth'), true);
    expect(accepted.request).toEqual({ role: 'subscribe', stream: 'orders', subscriber: 's1', window: 0 });
    expect(block('server-proof')).toEqual(serverProof(password, cnonce, nonce));
    expect(block('welcome')).toEqual(accepted.welcome({ from: 0 }));
    expect(decode(block('welcome'))).toEqual({ from: 0, t: 'welcome', proof: block('server-proof') });
  });

  it('umbilical envelope: a key per direction and the first sealed message each way', () => {
    const keys = deriveSessionKeys(password, nonce, cnonce);
    expect(block('session-key-c2s')).toEqual(keys.clientToServer);
    expect(block('session-key-s2c')).toEqual(keys.serverToClient);
    expect(block('sealed')).toEqual(new Session(keys, SessionSide.client).seal({ t: 'ping' }));
    expect(block('sealed-s2c')).toEqual(new Session(keys, SessionSide.server).seal({ t: 'pong' }));
    // Each side opens what the other sealed, from the document's keys alone; never its own.
    const documented = { clientToServer: block('session-key-c2s'), serverToClient: block('session-key-s2c') };
    const server = new Session(documented, SessionSide.server);
    const client = new Session(documented, SessionSide.client);
    expect(server.open(parseFrame(block('sealed'), true, ['msg']))).toEqual({ t: 'ping' });
    expect(client.open(parseFrame(block('sealed-s2c'), true, ['msg']))).toEqual({ t: 'pong' });
    expect(() => new Session(documented, SessionSide.server).open(parseFrame(block('sealed-s2c'), true, ['msg']))).toThrow(expect.objectContaining({ code: 'BAD_MAC' }));
  });

  it('stream: a data frame with partition values', () => {
    expect(block('data')).toEqual(encode({ t: 'data', w: 7, tuples: [{ id: 1 }, { id: 2 }], p: [5, 6] }));
  });
});
