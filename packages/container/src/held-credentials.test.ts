import { describe, expect, it } from 'vitest';
import { ManualClock, StramSecretManager, TokenKind, decodeIdentifier, generateSecret, sealCredentials, tokenToText, type Credentials } from '@sluice/common';
import { HeldCredentials } from './held-credentials.js';

const key = new Uint8Array(32).fill(3);
const hex = () => generateSecret().toString('hex');

function credentials(): Credentials {
  return {
    version: 1,
    app: 'app-1',
    container: 'c2',
    stram: 'ws://127.0.0.1:1',
    stramToken: 'token-text',
    bufferServer: { id: 'bs-c2', secret: hex() },
    subscribe: { 'bs-c1': 'old' },
    appModule: '/app.js',
    appDir: '/app',
    settings: { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 30000, windowMs: 500, checkpointWindows: 60, insecure: false },
  };
}

describe('held credentials', () => {
  it('merges a sealed push and says what changed: a new own secret, new subscribe tokens', () => {
    const held = new HeldCredentials(credentials());
    const old = held.value.bufferServer.secret;
    const next = hex();
    const applied = held.apply(key, sealCredentials(key, { bufferServer: { id: 'bs-c2', secret: next, previous: [old] }, subscribe: { 'bs-c1': 'new' } }));
    expect(applied).toEqual({ secret: Buffer.from(next, 'hex'), subscribe: true });
    expect(held.value).toMatchObject({ stramToken: 'token-text', subscribe: { 'bs-c1': 'new' } });
    expect(held.previousSecrets()).toEqual([Buffer.from(old, 'hex')]);
    expect(held.apply(key, sealCredentials(key, { stramToken: 'renewed' }))).toEqual({ secret: undefined, subscribe: false });
    // retire-secrets: only the current secret is held from then on.
    held.dropPrevious();
    expect(held.value.bufferServer).toEqual({ id: 'bs-c2', secret: next });
    expect(held.previousSecrets()).toEqual([]);
  });

  it("holds its file's revision until a push is applied, then the push's: what its heartbeats report as applied", () => {
    const held = new HeldCredentials({ ...credentials(), revision: 7 });
    expect(held.value.revision).toBe(7);
    held.apply(key, sealCredentials(key, { stramToken: 'renewed', revision: 8 }));
    expect(held.value).toMatchObject({ stramToken: 'renewed', revision: 8 });
    expect(() => held.apply(key, sealCredentials(key, { revision: -1 }))).toThrow();
    expect(held.value.revision).toBe(8);
  });

  it('refuses, changing nothing, a push for another container or buffer server, one that is not credentials, and one sealed under another key', () => {
    const held = new HeldCredentials(credentials());
    const before = held.value;
    expect(() => held.apply(key, sealCredentials(key, { container: 'c3' }))).toThrow(/another container/);
    expect(() => held.apply(key, sealCredentials(key, { bufferServer: { id: 'bs-c9', secret: hex() } }))).toThrow(/another buffer server/);
    expect(() => held.apply(key, sealCredentials(key, [1, 2]))).toThrow(/do not hold an object/);
    expect(() => held.apply(key, sealCredentials(key, { bufferServer: { id: 'bs-c2', secret: 'short' } }))).toThrow();
    expect(() => held.apply(key, sealCredentials(new Uint8Array(32), { stramToken: 'x' }))).toThrow(expect.objectContaining({ code: 'BAD_MAC' }));
    expect(held.value).toBe(before);
  });

  it('mints publish tokens for whom the app runs as: the owner and realUser of its STRAM token', async () => {
    const manager = await StramSecretManager.open({ app: 'app-1', stateDir: null, clock: new ManualClock(), renewIntervalMs: 60_000, maxLifetimeMs: 600_000, keyUpdateIntervalMs: 600_000 });
    const stramToken = await manager.issue({ owner: 'alice@EXAMPLE.TEST', realUser: 'HTTP/localhost@EXAMPLE.TEST', renewer: 'stram:app-1', app: 'app-1', container: 'c2' });
    const held = new HeldCredentials({ ...credentials(), stramToken: tokenToText(stramToken) });
    const id = decodeIdentifier(held.publishToken('counts', 1_000).identifier);
    expect(id).toMatchObject({ kind: TokenKind.bufferServer, owner: 'alice@EXAMPLE.TEST', realUser: 'HTTP/localhost@EXAMPLE.TEST', scope: { bs: 'bs-c2', streams: ['counts'], access: 'publish', container: 'c2' } });
  });
});
