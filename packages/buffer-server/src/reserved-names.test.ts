import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionClosedError, SluiceError, createLogger, generateSecret, mintBufferToken, type BoundNames, type Token } from '@sluice/common';
import { connectPublisher, connectSubscriber, startBufferServer, type BufferServer } from './index.js';

/**
 * Names reserved after the server started (BufferServer.reserveNames: a container's deploy
 * arrives after its buffer server listens; docs/protocol.md "Subscriber names"), on real sockets.
 */

const BS = 'bs-reserve';
const NAME = 'counter#1.words';
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const secret = generateSecret();

async function server(boundNames?: BoundNames): Promise<BufferServer> {
  const dir = mkdtempSync(join(tmpdir(), 'bs-reserve-'));
  const s = await startBufferServer({ id: BS, secret, spoolDir: dir, logger: createLogger({ name: 'test', level: 'silent' }), ...(boundNames ? { boundNames } : {}) });
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => s.close());
  return s;
}

function token(access: 'publish' | 'subscribe', container: string): Token {
  return mintBufferToken({ secret, bs: BS, streams: ['words'], access, container, owner: 'stram-user', now: Date.now(), ttlMs: 60_000 });
}

async function subscribe(s: BufferServer, container: string): Promise<{ windows: number[]; closed: Promise<{ code: number; reason: string }> }> {
  const windows: number[] = [];
  let done!: (v: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((r) => (done = r));
  const sub = await connectSubscriber({
    url: s.url,
    token: token('subscribe', container),
    stream: 'words',
    subscriber: NAME,
    window: 1,
    onBegin: () => undefined,
    onData: () => undefined,
    onEnd: (w) => void windows.push(w),
    onClose: (code, reason) => done({ code, reason }),
  });
  cleanup.push(() => sub.close());
  return { windows, closed };
}

async function until(f: () => boolean): Promise<void> {
  while (!f()) await new Promise((r) => setTimeout(r, 10));
}

describe('reserveNames', () => {
  it("takes a reserved name back from another container that subscribed under it first (4403, counted); the name's container then streams", async () => {
    const s = await server();
    const pub = await connectPublisher({ url: s.url, token: token('publish', 'c1'), stream: 'words', window: 1 });
    cleanup.push(() => pub.close());
    const early = await subscribe(s, 'c2');
    s.reserveNames({ words: { [NAME]: 'c3' } });
    expect(await early.closed).toMatchObject({ code: 4403, reason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN: subscriber "counter#1\.words" belongs to another holder: reserved for its container/) });
    expect(s.takeoversRefused).toBe(1);
    expect(s.stats()).toMatchObject({ boundNames: 1, takeoversRefused: 1 });

    // The early taker cannot come back; the name's container can.
    const again = await subscribe(s, 'c2').then(
      () => null,
      (e: unknown) => e,
    );
    expect(again).toBeInstanceOf(ConnectionClosedError);
    expect(again).toMatchObject({ remoteCode: 4403, remoteReason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN/) });
    const rightful = await subscribe(s, 'c3');
    pub.begin(1);
    pub.data(1, ['w']);
    pub.end(1);
    await until(() => rightful.windows.includes(1));
    expect(Object.keys(s.stats().streams['words']!.subscribers)).toEqual([NAME]);
    expect(s.takeoversRefused).toBe(2);
  });

  it("leaves the name's own container connected when its name is reserved for it", async () => {
    const s = await server();
    const own = await subscribe(s, 'c3');
    s.reserveNames({ words: { [NAME]: 'c3' } });
    await connectPublisher({ url: s.url, token: token('publish', 'c1'), stream: 'words', window: 1 }).then((p) => {
      cleanup.push(() => p.close());
      p.begin(1);
      p.end(1);
    });
    await until(() => own.windows.includes(1));
    expect(s.takeoversRefused).toBe(0);
  });

  it('refuses a malformed table with BAD_CONFIG naming the option, at start and later', async () => {
    await expect(server({ words: { [NAME]: '' } })).rejects.toMatchObject({ code: 'BAD_CONFIG', message: expect.stringMatching(/^boundNames: words \/ counter#1\.words/) });
    const s = await server();
    // A JavaScript caller's table, not type-checked.
    expect(() => s.reserveNames({ words: 'c3' } as unknown as BoundNames)).toThrow(SluiceError);
    expect(s.stats().boundNames).toBe(0);
  });
});
