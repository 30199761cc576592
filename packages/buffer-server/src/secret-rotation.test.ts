import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionClosedError, createLogger, generateSecret, mintBufferToken, type Token } from '@sluice/common';
import { connectPublisher, connectSubscriber, startBufferServer, type BufferServer, type Subscriber } from './index.js';

/** Live secret rotation: old and new secrets overlap, then the old one is retired. */

const BS = 'bs-rotation';
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function server(secret: Buffer): Promise<BufferServer> {
  const dir = mkdtempSync(join(tmpdir(), 'bs-rot-'));
  const s = await startBufferServer({ id: BS, secret, spoolDir: dir, logger: createLogger({ name: 'test', level: 'silent' }) });
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => s.close());
  return s;
}

function token(secret: Buffer, access: 'publish' | 'subscribe'): Token {
  return mintBufferToken({ secret, bs: BS, streams: ['s'], access, container: 'c', owner: 'test', now: Date.now(), ttlMs: 60_000 });
}

interface Sub {
  sub: Subscriber;
  windows: number[];
  closed: Promise<{ code: number; reason: string }>;
}

async function subscribe(s: BufferServer, t: Token, name: string): Promise<Sub> {
  const windows: number[] = [];
  let done!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (done = r));
  const sub = await connectSubscriber({
    url: s.url,
    token: t,
    stream: 's',
    subscriber: name,
    window: 1,
    onBegin: () => undefined,
    onData: () => undefined,
    onEnd: (w) => void windows.push(w),
    onClose: (code, reason) => done({ code, reason }),
  });
  cleanup.push(() => sub.close());
  return { sub, windows, closed };
}

async function refusal(p: Promise<unknown>): Promise<{ code: number; reason: string }> {
  const err = await p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectionClosedError);
  const e = err as ConnectionClosedError;
  return { code: e.remoteCode, reason: e.remoteReason };
}

async function until(f: () => boolean): Promise<void> {
  while (!f()) await new Promise((r) => setTimeout(r, 10));
}

describe('buffer-server secret rotation', () => {
  it('welcomes tokens of the old and new secrets during the overlap; after retire refuses the old (4401) and closes its live connections with the reason', async () => {
    const oldSecret = generateSecret();
    const newSecret = generateSecret();
    const s = await server(oldSecret);
    expect(s.acceptedSecrets).toBe(1);
    // Before the rotation a token of the new secret is refused.
    expect((await refusal(subscribe(s, token(newSecret, 'subscribe'), 'early'))).code).toBe(4401);

    const pubOld = await connectPublisher({ url: s.url, token: token(oldSecret, 'publish'), stream: 's', window: 1 });
    cleanup.push(() => pubOld.close());
    const live = await subscribe(s, token(oldSecret, 'subscribe'), 'old-holder');

    s.rotateSecret(newSecret);
    expect(s.acceptedSecrets).toBe(2);
    // Overlap: both welcome; the live connection goes on.
    const fresh = await subscribe(s, token(newSecret, 'subscribe'), 'new-holder');
    const oldAgain = await subscribe(s, token(oldSecret, 'subscribe'), 'old-again');
    pubOld.begin(1);
    pubOld.data(1, ['a', 'b']);
    pubOld.end(1);
    await until(() => live.windows.includes(1) && fresh.windows.includes(1) && oldAgain.windows.includes(1));

    // The owner's publisher switches to a token of the new secret at a window boundary.
    await pubOld.close();
    const pubNew = await connectPublisher({ url: s.url, token: token(newSecret, 'publish'), stream: 's', window: 2 });
    cleanup.push(() => pubNew.close());

    s.retireSecrets([]);
    expect(s.acceptedSecrets).toBe(1);
    for (const c of [await live.closed, await oldAgain.closed]) {
      expect(c.code).toBe(4401);
      expect(c.reason).toMatch(/secret of this token was retired/);
    }
    // New connections with the old secret's token: refused 4401; the new secret's: welcome.
    expect((await refusal(subscribe(s, token(oldSecret, 'subscribe'), 'late'))).code).toBe(4401);
    expect((await refusal(connectPublisher({ url: s.url, token: token(oldSecret, 'publish'), stream: 's', window: 3 }))).code).toBe(4401);
    pubNew.begin(2);
    pubNew.end(2);
    await until(() => fresh.windows.includes(2));
    const again = await subscribe(s, token(newSecret, 'subscribe'), 'new-again');
    await until(() => again.windows.includes(2));
    expect(fresh.windows).toEqual([1, 2]);
  });

  it('retireSecrets keeps the secrets listed; the current secret is never retired', async () => {
    const a = generateSecret();
    const b = generateSecret();
    const c = generateSecret();
    const s = await server(a);
    s.rotateSecret(b);
    s.rotateSecret(c);
    expect(s.acceptedSecrets).toBe(3);
    const holderA = await subscribe(s, token(a, 'subscribe'), 'a');
    const holderB = await subscribe(s, token(b, 'subscribe'), 'b');
    s.retireSecrets([b]);
    expect(s.acceptedSecrets).toBe(2);
    const closedA = await holderA.closed;
    expect(closedA.code).toBe(4401);
    expect(closedA.reason).toMatch(/retired/);
    await subscribe(s, token(b, 'subscribe'), 'b2');
    await subscribe(s, token(c, 'subscribe'), 'c');
    s.retireSecrets([]);
    expect((await holderB.closed).code).toBe(4401);
    expect(s.acceptedSecrets).toBe(1);
    await subscribe(s, token(c, 'subscribe'), 'c2');
  });
});
