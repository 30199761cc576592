import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bufferTokenPassword, checkBufferTokenLive, mintBufferToken } from './buffer-token.js';
import { ManualClock } from './clock.js';
import { decode, encode } from './codec.js';
import { SluiceError } from './errors.js';
import { ClientHandshake, ServerHandshake, serverProof, type TokenAuthority } from './handshake.js';
import { parseFrame, type AuthRequest, type SealedMessage } from './protocol.js';
import { StramSecretManager } from './secret-manager.js';
import { Session, SessionSide, deriveSessionKeys, messageMac } from './session.js';
import { hmac, isBufferScope, type Token } from './token.js';

function refusal(fn: () => unknown): { code: string; closeCode: number } | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return { code: err.code, closeCode: err.closeCode };
    throw err;
  }
  return undefined;
}

const secret = randomBytes(32);
const clock = new ManualClock();
const revoked = new Set<number>();

/** A buffer server's authority, as small as the handshake needs. */
function bufferAuthority(bs: string, key: Uint8Array = secret): TokenAuthority {
  return {
    password: (idBytes) => bufferTokenPassword(key, idBytes).password,
    checkLive: (id) => checkBufferTokenLive(id, clock.now(), revoked),
    authorize: (id, request) => {
      const scope = id.scope;
      if (!isBufferScope(scope)) throw new SluiceError('NOT_ALLOWED', 'token has no buffer-server scope');
      if (scope.bs !== bs) throw new SluiceError('WRONG_BUFFER_SERVER', `token is for ${scope.bs}`);
      if (request.role === 'hello' || request.role !== scope.access) throw new SluiceError('NOT_ALLOWED', `role ${request.role} not allowed`);
      if (request.role !== 'control' && !scope.streams.includes(request.stream)) throw new SluiceError('OUT_OF_SCOPE', `stream ${request.stream} not in scope`);
    },
  };
}

function token(over: Partial<Parameters<typeof mintBufferToken>[0]> = {}): Token {
  return mintBufferToken({ secret, bs: 'bs-1', streams: ['orders'], access: 'publish', owner: 'alice', now: clock.now(), ttlMs: 60_000, ...over });
}

const publish: AuthRequest = { role: 'publish', stream: 'orders', window: 0 };

/** Runs challenge → auth and returns what each side holds. */
function start(t: Token = token(), request: AuthRequest = publish, authority = bufferAuthority('bs-1')) {
  const server = new ServerHandshake('bs-1', authority);
  const client = new ClientHandshake(t, request);
  const auth = client.answer(server.challenge(), true);
  return { server, client, auth };
}

/** An auth frame with some fields replaced, re-encoded. */
function editAuth(auth: Buffer, change: (m: Record<string, unknown>) => void): Buffer {
  const m = decode(auth) as Record<string, unknown>;
  change(m);
  return encode(m);
}

function sealed(frame: Buffer): SealedMessage {
  return parseFrame(frame, true, ['msg']);
}

describe('handshake', () => {
  it('welcomes a valid token: both proofs check out and both sides derive the same session', () => {
    const { server, client, auth } = start();
    const accepted = server.receive(auth, true);
    expect(accepted.request).toEqual(publish);
    expect(accepted.identifier.scope).toMatchObject({ bs: 'bs-1', access: 'publish' });
    const { welcome, session } = client.welcome(accepted.welcome({ from: 7 }), true);
    expect(welcome).toMatchObject({ t: 'welcome', from: 7 });
    expect(session).toBeInstanceOf(Session);
    expect(accepted.session.open(sealed(session.seal({ t: 'ping', n: 1 })))).toEqual({ t: 'ping', n: 1 });
    expect(session.open(sealed(accepted.session.seal({ t: 'pong', n: 2 ** 40 })))).toEqual({ t: 'pong', n: 2 ** 40 });
  });

  it('sends a challenge of 32 fresh random bytes naming the service', () => {
    const a = decode(new ServerHandshake('bs-1', bufferAuthority('bs-1')).challenge()) as { nonce: Uint8Array; service: string; t: string; v: number };
    const b = decode(new ServerHandshake('bs-1', bufferAuthority('bs-1')).challenge()) as { nonce: Uint8Array };
    expect(a).toMatchObject({ t: 'challenge', v: 1, service: 'bs-1' });
    expect(a.nonce).toHaveLength(32);
    expect(Buffer.from(a.nonce).equals(Buffer.from(b.nonce))).toBe(false);
  });

  it('refuses a wrong proof with 4401 BAD_PROOF', () => {
    const t = token();
    const { server, auth } = start({ ...t, password: randomBytes(32) });
    expect(refusal(() => server.receive(auth, true))).toEqual({ code: 'BAD_PROOF', closeCode: 4401 });
    const { server: s2, auth: a2 } = start(t);
    expect(refusal(() => s2.receive(editAuth(a2, (m) => (m['proof'] = randomBytes(32))), true))).toEqual({ code: 'BAD_PROOF', closeCode: 4401 });
  });

  it('refuses a token from another server key as BAD_PROOF', () => {
    const { server, auth } = start(token({ secret: randomBytes(32) }));
    expect(refusal(() => server.receive(auth, true))).toEqual({ code: 'BAD_PROOF', closeCode: 4401 });
  });

  it('refuses a second auth frame on the same handshake', () => {
    const { server, auth } = start();
    server.receive(auth, true);
    expect(refusal(() => server.receive(auth, true))).toEqual({ code: 'UNEXPECTED_MESSAGE', closeCode: 4400 });
    const { server: failed, auth: bad } = start({ ...token(), password: randomBytes(32) });
    expect(refusal(() => failed.receive(bad, true))?.closeCode).toBe(4401);
    expect(refusal(() => failed.receive(bad, true))).toEqual({ code: 'UNEXPECTED_MESSAGE', closeCode: 4400 });
  });

  it('refuses an auth frame captured on one connection and replayed against a new challenge', () => {
    const { server, auth } = start();
    server.receive(auth, true);
    const fresh = new ServerHandshake('bs-1', bufferAuthority('bs-1'));
    fresh.challenge();
    expect(refusal(() => fresh.receive(auth, true))).toEqual({ code: 'BAD_PROOF', closeCode: 4401 });
  });

  it('refuses an expired token with 4401 TOKEN_EXPIRED and a revoked one with TOKEN_REVOKED', () => {
    const t = token({ now: clock.now() - 60_000 }); // maxDate == now
    const { server, auth } = start(t);
    expect(refusal(() => server.receive(auth, true))).toEqual({ code: 'TOKEN_EXPIRED', closeCode: 4401 });
    const r = token({ sequenceNumber: 123_456 });
    revoked.add(123_456);
    const { server: s2, auth: a2 } = start(r);
    expect(refusal(() => s2.receive(a2, true))).toEqual({ code: 'TOKEN_REVOKED', closeCode: 4401 });
    revoked.delete(123_456);
  });

  it('refuses what the token does not allow with 4403', () => {
    const other = start(token(), { role: 'publish', stream: 'payments', window: 0 });
    expect(refusal(() => other.server.receive(other.auth, true))).toEqual({ code: 'OUT_OF_SCOPE', closeCode: 4403 });
    const role = start(token(), { role: 'subscribe', stream: 'orders', subscriber: 's', window: 0 });
    expect(refusal(() => role.server.receive(role.auth, true))).toEqual({ code: 'NOT_ALLOWED', closeCode: 4403 });
    // a token for bs-2 presented to bs-1 (same secret, so the proof checks out)
    const t = token({ bs: 'bs-2' });
    const server = new ServerHandshake('bs-1', bufferAuthority('bs-1'));
    const client = new ClientHandshake({ ...t, service: 'bs-1' }, publish);
    expect(refusal(() => server.receive(client.answer(server.challenge(), true), true))).toEqual({ code: 'WRONG_BUFFER_SERVER', closeCode: 4403 });
  });

  it('refuses a token of the wrong kind or with a damaged identifier with 4401', async () => {
    const stram = await StramSecretManager.open({ app: 'app', stateDir: null, clock });
    const st = await stram.issue({ owner: 'a', renewer: 'stram', app: 'app', container: 'c' });
    const wrongKind = start({ ...st, service: 'bs-1' });
    expect(refusal(() => wrongKind.server.receive(wrongKind.auth, true))).toEqual({ code: 'TOKEN_WRONG_KIND', closeCode: 4401 });
    const { server, auth } = start();
    expect(refusal(() => server.receive(editAuth(auth, (m) => (m['id'] = Buffer.from([1, 2, 3]))), true))).toEqual({ code: 'MALFORMED_TOKEN', closeCode: 4401 });
  });

  describe('malformed auth frames close with 4400', () => {
    const cases: [string, (auth: Buffer) => [Uint8Array, boolean]][] = [
      ['text frame', (a) => [a, false]],
      ['not MessagePack', () => [Buffer.from([0x92, 0x01]), true]],
      ['trailing bytes', (a) => [Buffer.concat([a, Buffer.from([0])]), true]],
      ['a non-map', () => [encode(['auth']), true]],
      ['a string', () => [encode('auth'), true]],
      ['unknown t', (a) => [editAuth(a, (m) => (m['t'] = 'hack')), true]],
      ['t not a string', (a) => [editAuth(a, (m) => (m['t'] = 1)), true]],
      ['a message the client may not send', () => [encode({ t: 'welcome', proof: randomBytes(32) }), true]],
      ['missing cnonce', (a) => [editAuth(a, (m) => delete m['cnonce']), true]],
      ['missing role', (a) => [editAuth(a, (m) => delete m['role']), true]],
      ['cnonce of 31 bytes', (a) => [editAuth(a, (m) => (m['cnonce'] = randomBytes(31))), true]],
      ['cnonce as a string', (a) => [editAuth(a, (m) => (m['cnonce'] = 'x'.repeat(32))), true]],
      ['id as a string', (a) => [editAuth(a, (m) => (m['id'] = 'abc')), true]],
      ['negative window', (a) => [editAuth(a, (m) => (m['window'] = -1)), true]],
      ['unknown role', (a) => [editAuth(a, (m) => (m['role'] = 'admin')), true]],
      ['empty stream', (a) => [editAuth(a, (m) => (m['stream'] = '')), true]],
    ];
    for (const [name, make] of cases) {
      it(name, () => {
        const { server, auth } = start();
        const [bytes, isBinary] = make(auth);
        expect(refusal(() => server.receive(bytes, isBinary))?.closeCode).toBe(4400);
      });
    }

    it('reports the malformed fault first when the frame also has a bad proof', () => {
      const { server, auth } = start();
      const both = editAuth(auth, (m) => {
        m['proof'] = randomBytes(32);
        m['window'] = 'zero';
      });
      expect(refusal(() => server.receive(both, true))?.closeCode).toBe(4400);
    });
  });

  describe('client side', () => {
    it('refuses a challenge for another service and sends no proof', () => {
      const server = new ServerHandshake('bs-9', bufferAuthority('bs-9'));
      const client = new ClientHandshake(token(), publish);
      expect(refusal(() => client.answer(server.challenge(), true))).toEqual({ code: 'WRONG_SERVICE', closeCode: 4401 });
    });

    it('detects a server that does not hold the key (BAD_PROOF)', () => {
      const server = new ServerHandshake('bs-1', bufferAuthority('bs-1'));
      const client = new ClientHandshake(token(), publish);
      const auth = decode(client.answer(server.challenge(), true)) as { cnonce: Uint8Array };
      const impostor = encode({ t: 'welcome', proof: serverProof(randomBytes(32), auth.cnonce, server.nonce) });
      expect(refusal(() => client.welcome(impostor, true))).toEqual({ code: 'BAD_PROOF', closeCode: 4401 });
      // the server proof with nonce and cnonce swapped is not accepted either
      const t = token();
      const fresh = new ClientHandshake(t, publish);
      const s2 = new ServerHandshake('bs-1', bufferAuthority('bs-1'));
      const cnonce = (decode(fresh.answer(s2.challenge(), true)) as { cnonce: Uint8Array }).cnonce;
      const swapped = encode({ t: 'welcome', proof: serverProof(t.password, s2.nonce, cnonce) });
      expect(refusal(() => fresh.welcome(swapped, true))).toEqual({ code: 'BAD_PROOF', closeCode: 4401 });
      expect(fresh.welcome(encode({ t: 'welcome', proof: serverProof(t.password, cnonce, s2.nonce) }), true).welcome['t']).toBe('welcome');
    });

    it('refuses frames out of order and malformed challenges', () => {
      const client = new ClientHandshake(token(), publish);
      expect(refusal(() => client.welcome(encode({ t: 'welcome', proof: randomBytes(32) }), true))?.code).toBe('UNEXPECTED_MESSAGE');
      const server = new ServerHandshake('bs-1', bufferAuthority('bs-1'));
      client.answer(server.challenge(), true);
      expect(refusal(() => client.answer(server.challenge(), true))?.code).toBe('UNEXPECTED_MESSAGE');
      const other = new ClientHandshake(token(), publish);
      expect(refusal(() => other.answer(encode({ t: 'challenge', v: 1, nonce: randomBytes(16), service: 'bs-1' }), true))?.closeCode).toBe(4400);
      expect(refusal(() => other.answer(encode({ t: 'challenge', v: 2, nonce: randomBytes(32), service: 'bs-1' }), true))?.closeCode).toBe(4400);
      expect(refusal(() => other.answer(server.challenge(), false))?.closeCode).toBe(4400);
    });
  });

  it('admits a STRAM token to the umbilical and refuses it once cancelled', async () => {
    const stram = await StramSecretManager.open({ app: 'app-1', stateDir: null, clock });
    const t = await stram.issue({ owner: 'alice', renewer: 'stram', app: 'app-1', container: 'c-1' });
    const hello: AuthRequest = { role: 'hello', container: 'c-1' };
    const ok = new ServerHandshake('stram:app-1', stram);
    const client = new ClientHandshake(t, hello);
    const accepted = ok.receive(client.answer(ok.challenge(), true), true);
    client.welcome(accepted.welcome(), true);
    const other = new ServerHandshake('stram:app-1', stram);
    expect(refusal(() => other.receive(new ClientHandshake(t, { role: 'hello', container: 'c-2' }).answer(other.challenge(), true), true))?.closeCode).toBe(4403);
    await stram.cancel(t, 'alice');
    const again = new ServerHandshake('stram:app-1', stram);
    expect(refusal(() => again.receive(new ClientHandshake(t, hello).answer(again.challenge(), true), true))).toEqual({ code: 'TOKEN_CANCELLED', closeCode: 4401 });
  });

  it("refuses with 4403 OUT_OF_SCOPE a genuine STRAM token of another app, even under this STRAM's key", async () => {
    const stram = await StramSecretManager.open({ app: 'app-1', stateDir: null, clock });
    const foreign = await stram.issue({ owner: 'alice', renewer: 'stram', app: 'app-2', container: 'c-1' });
    const server = new ServerHandshake('stram:app-1', stram);
    const client = new ClientHandshake({ ...foreign, service: 'stram:app-1' }, { role: 'hello', container: 'c-1' });
    expect(refusal(() => server.receive(client.answer(server.challenge(), true), true))).toEqual({ code: 'OUT_OF_SCOPE', closeCode: 4403 });
  });
});

describe('session MAC', () => {
  const keys = () => deriveSessionKeys(randomBytes(32), randomBytes(32), randomBytes(32));
  /** a: the client end, b: the server end of one session. */
  const pair = () => {
    const k = keys();
    return { a: new Session(k, SessionSide.client), b: new Session(k, SessionSide.server) };
  };

  it('seals and opens in order', () => {
    const { a, b } = pair();
    for (let i = 0; i < 3; i++) expect(b.open(sealed(a.seal({ t: 'x', i })))).toEqual({ t: 'x', i });
  });

  it('refuses a bad MAC with 4401 BAD_MAC', () => {
    const { a, b } = pair();
    const m = sealed(a.seal({ t: 'x', amount: 1 }));
    const body = Buffer.from(m.body);
    body[body.length - 1]! ^= 0x01;
    expect(refusal(() => b.open({ ...m, body }))).toEqual({ code: 'BAD_MAC', closeCode: 4401 });
    expect(refusal(() => b.open({ ...m, seq: m.seq + 1 }))).toEqual({ code: 'BAD_MAC', closeCode: 4401 });
    expect(refusal(() => new Session(keys(), SessionSide.server).open(m))).toEqual({ code: 'BAD_MAC', closeCode: 4401 });
  });

  it('refuses a replayed or out-of-order sequence with 4401 BAD_SEQUENCE', () => {
    const { a, b } = pair();
    const first = sealed(a.seal({ t: 'x', n: 1 }));
    const second = sealed(a.seal({ t: 'x', n: 2 }));
    b.open(first);
    expect(refusal(() => b.open(first))).toEqual({ code: 'BAD_SEQUENCE', closeCode: 4401 });
    const { a: c, b: d } = pair();
    const one = sealed(c.seal({ t: 'x' }));
    const two = sealed(c.seal({ t: 'y' }));
    d.open(two);
    expect(refusal(() => d.open(one))).toEqual({ code: 'BAD_SEQUENCE', closeCode: 4401 });
    expect(second.seq).toBe(2);
  });

  it('refuses a reflected message (one a side sealed itself, sent back to it) with 4401 BAD_MAC, in both directions', () => {
    const { a: client, b: server } = pair();
    const ack = { t: 'heartbeat-ack', commands: [] };
    const heartbeat = { t: 'heartbeat', container: 'c1', bufferServer: null, state: 'running', operators: [] };
    const fromServer = sealed(server.seal(ack));
    const fromClient = sealed(client.seal(heartbeat));
    // Seq 1 on both: with one key for both directions, each would open at its own sender.
    expect(refusal(() => server.open(fromServer))).toEqual({ code: 'BAD_MAC', closeCode: 4401 });
    expect(refusal(() => client.open(fromClient))).toEqual({ code: 'BAD_MAC', closeCode: 4401 });
    // Each is genuine: the peer it was meant for opens it.
    expect(client.open(fromServer)).toEqual(ack);
    expect(server.open(fromClient)).toEqual(heartbeat);
    // What the split prevents: under one key for both directions the reflection opens.
    const one = randomBytes(32);
    const single = new Session({ clientToServer: one, serverToClient: one }, SessionSide.server);
    expect(single.open(sealed(single.seal(ack)))).toEqual(ack);
  });

  it('uses the key of each direction as docs/protocol.md derives it, never one key for both', () => {
    const password = randomBytes(32);
    const nonce = randomBytes(32);
    const cnonce = randomBytes(32);
    const k = deriveSessionKeys(password, nonce, cnonce);
    expect(k.clientToServer).toEqual(hmac(password, 'sluice-session-c2s-v1', nonce, cnonce));
    expect(k.serverToClient).toEqual(hmac(password, 'sluice-session-s2c-v1', nonce, cnonce));
    expect(k.clientToServer.equals(k.serverToClient)).toBe(false);
    const m = sealed(new Session(k, SessionSide.client).seal({ t: 'x' }));
    expect(m.mac).toEqual(messageMac(k.clientToServer, 1, m.body));
    // The single key of the old scheme no longer opens anything.
    const old = hmac(password, 'sluice-session-v1', nonce, cnonce);
    expect(refusal(() => new Session({ clientToServer: old, serverToClient: old }, SessionSide.server).open(m))).toEqual({ code: 'BAD_MAC', closeCode: 4401 });
  });
});
