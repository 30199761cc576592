import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectControl, connectPublisher, type Control, type Publisher } from '@sluice/buffer-server';
import type { AuthRequest, Token } from '@sluice/common';
import { startBsProcess, type BsProcess } from './helpers/bs-process.js';
import { rawAuth, record, type Recording } from './helpers/bs-clients.js';

/**
 * docs/protocol.md "Subscriber names", against the real `sluice buffer-server`: a subscriber name
 * belongs to the container (or, for tokens without one, the owner) whose token first used it. A
 * newer connection of that holder replaces the older (4409); anyone else is refused 4403
 * SUBSCRIBER_NAME_TAKEN before the live connection is touched — also while the name has no
 * connection at all (the gap while its holder reconnects), and after the holder's token is revoked.
 */

let bs: BsProcess;
let control: Control;
beforeAll(async () => {
  bs = await startBsProcess();
  control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
});
afterAll(async () => {
  await control.close();
  expect(await bs.stop()).toBe(0);
  expect(bs.stderr()).not.toContain(bs.secret.toString('hex'));
});

const NAME = 'counter#1.words';
const asContainer = (stream: string, container: string): Token => bs.mint('subscribe', [stream], { container, owner: 'stram-user' });

function subscribe(token: Token, stream: string, subscriber = NAME): Promise<Recording> {
  return record({ url: bs.url, token, stream, subscriber, window: 0 });
}

/** A refused subscribe: the close frame, after which the client saw nothing but the challenge. */
async function refused(token: Token, stream: string, subscriber = NAME): Promise<{ code: number; reason: string }> {
  const request: AuthRequest = { role: 'subscribe', stream, subscriber, window: 0 };
  const conn = await rawAuth(bs.url, token, request);
  const closed = await conn.closed;
  expect(conn.frames.map((f) => f['t'])).toEqual(['challenge']);
  return closed;
}

async function publisher(stream: string): Promise<Publisher> {
  return connectPublisher({ url: bs.url, token: bs.mint('publish', [stream]), stream, window: 1 });
}

function sendWindow(p: Publisher, w: number): void {
  p.begin(w);
  p.data(w, [`word-${w}`]);
  p.end(w);
}

const TAKEN = { code: 4403, reason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN: subscriber "counter#1\.words" belongs to another holder: a name stays with the first container/) };

describe('subscriber names belong to their first holder', () => {
  it('a newer connection of the same container replaces the older one with 4409; the newer one streams', async () => {
    const pub = await publisher('same');
    const old = await subscribe(asContainer('same', 'c3'), 'same');
    const fresh = await subscribe(asContainer('same', 'c3'), 'same');
    await old.sub.closed;
    expect(old.closed).toMatchObject({ code: 4409, reason: expect.stringMatching(/replaced by a newer connection of subscriber "counter#1.words"/) });
    sendWindow(pub, 1);
    await fresh.untilEnd(1);
    expect(fresh.tuples).toEqual(['word-1']);
    await fresh.sub.close();
    await pub.close();
  });

  it("refuses another container's token with 4403 SUBSCRIBER_NAME_TAKEN, counts it, and leaves the victim streaming", async () => {
    const before = (await control.stats()).takeoversRefused;
    const pub = await publisher('words');
    const victim = await subscribe(asContainer('words', 'c3'), 'words');
    // c2 holds a perfectly valid subscribe token for the same stream.
    expect(await refused(asContainer('words', 'c2'), 'words')).toMatchObject(TAKEN);
    sendWindow(pub, 1);
    await victim.untilEnd(1);
    expect(victim.closed).toBeNull();
    expect(victim.tuples).toEqual(['word-1']);
    const stats = await control.stats();
    expect(stats.takeoversRefused).toBe(before + 1);
    expect(Object.keys(stats.streams['words']!.subscribers)).toEqual([NAME]);
    await victim.sub.close();
    await pub.close();
  });

  it('the gap attack: while the victim is disconnected its name stays bound; the taker is refused, the victim comes back', async () => {
    const pub = await publisher('gap');
    const victim = await subscribe(asContainer('gap', 'c3'), 'gap');
    sendWindow(pub, 1);
    await victim.untilEnd(1);
    await victim.sub.close();
    expect(await refused(asContainer('gap', 'c2'), 'gap')).toMatchObject(TAKEN);
    sendWindow(pub, 2);
    const back = await subscribe(asContainer('gap', 'c3'), 'gap');
    await back.untilEnd(2);
    expect(back.ends).toEqual([1, 2]);
    await back.sub.close();
    await pub.close();
  });

  it("a revoked token does not free the name: the taker is still refused, the container's new token takes it back", async () => {
    const old = bs.mint('subscribe', ['revoked'], { container: 'c3', owner: 'stram-user', sequenceNumber: 777_001 });
    const victim = await subscribe(old, 'revoked');
    await control.revoke([777_001]);
    await victim.sub.closed;
    expect(victim.closed).toMatchObject({ code: 4401, reason: expect.stringMatching(/^TOKEN_REVOKED/) });
    expect(await refused(asContainer('revoked', 'c2'), 'revoked')).toMatchObject(TAKEN);
    // What a replacement container does: same container id, fresh credentials.
    const replacement = await subscribe(asContainer('revoked', 'c3'), 'revoked');
    expect(replacement.closed).toBeNull();
    await replacement.sub.close();
  });

  it('tokens without a container: the same owner replaces (4409); another owner, or a container token, is refused 4403', async () => {
    const alice = (): Token => bs.mint('subscribe', ['nil'], { owner: 'alice' });
    const first = await subscribe(alice(), 'nil', 'reader');
    const second = await subscribe(alice(), 'nil', 'reader');
    await first.sub.closed;
    expect(first.closed).toMatchObject({ code: 4409 });
    const taken = { code: 4403, reason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN: subscriber "reader" belongs to another holder/) };
    expect(await refused(bs.mint('subscribe', ['nil'], { owner: 'bob' }), 'nil', 'reader')).toMatchObject(taken);
    // Even a container token whose owner is alice: a container's tokens speak for the container.
    expect(await refused(bs.mint('subscribe', ['nil'], { owner: 'alice', container: 'alice' }), 'nil', 'reader')).toMatchObject(taken);
    // And the other way round: alice's owner-only token cannot take a container's name.
    const held = await subscribe(asContainer('nil', 'c3'), 'nil', 'held');
    expect(await refused(bs.mint('subscribe', ['nil'], { owner: 'stram-user' }), 'nil', 'held')).toMatchObject({ code: 4403, reason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN/) });
    expect(second.closed).toBeNull();
    expect(held.closed).toBeNull();
    await second.sub.close();
    await held.sub.close();
  });

  it('the same name on another stream is a different subscriber', async () => {
    const a = await subscribe(asContainer('left', 'c2'), 'left');
    const b = await subscribe(asContainer('right', 'c3'), 'right');
    expect(a.closed).toBeNull();
    expect(b.closed).toBeNull();
    expect((await control.stats()).boundNames).toBeGreaterThanOrEqual(2);
    await a.sub.close();
    await b.sub.close();
  });
});
