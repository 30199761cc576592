import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectControl, connectPublisher, type Control } from '@sluice/buffer-server';
import type { AuthRequest, Token } from '@sluice/common';
import { startBsProcess, type BsProcess } from './helpers/bs-process.js';
import { rawAuth, record, type Recording } from './helpers/bs-clients.js';

/**
 * docs/protocol.md "Subscriber names", reserved names, against the real `sluice buffer-server
 * --bound-names FILE`: what a Sluice container's buffer server gets from STRAM's plan in its
 * deploy. A name reserved for c3 refuses c2 with 4403 SUBSCRIBER_NAME_TAKEN although c2 comes
 * first and nobody ever subscribed under it; c3 is welcomed. Names not reserved are still bound on
 * first use.
 */

const NAME = 'counter#1.words';
const RESERVED = { words: { 'counter#0.words': 'c2', [NAME]: 'c3' } };

let bs: BsProcess;
let control: Control;
beforeAll(async () => {
  bs = await startBsProcess({ boundNames: RESERVED, subscriberNamesPerHolder: 3 });
  control = await connectControl({ url: bs.url, token: bs.mint('control', []) });
});
afterAll(async () => {
  await control.close();
  expect(await bs.stop()).toBe(0);
});

const asContainer = (container: string, stream = 'words'): Token => bs.mint('subscribe', [stream], { container, owner: 'stram-user' });

async function refused(token: Token, subscriber = NAME, stream = 'words'): Promise<{ code: number; reason: string }> {
  const request: AuthRequest = { role: 'subscribe', stream, subscriber, window: 0 };
  const conn = await rawAuth(bs.url, token, request);
  const closed = await conn.closed;
  expect(conn.frames.map((f) => f['t'])).toEqual(['challenge']);
  return closed;
}

function subscribe(token: Token, subscriber = NAME, stream = 'words'): Promise<Recording> {
  return record({ url: bs.url, token, stream, subscriber, window: 0 });
}

const RESERVED_TAKEN = { code: 4403, reason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN: subscriber "counter#1\.words" belongs to another holder: reserved for its container/) };

describe('subscriber names reserved at start (--bound-names)', () => {
  it('the reserved names are bound before any connection', async () => {
    const stats = await control.stats();
    expect(stats.boundNames).toBe(2);
    expect(stats.takeoversRefused).toBe(0);
  });

  it("refuses another container's token under a reserved name even when it comes first (4403, counted); the name's container is welcomed and streams", async () => {
    const before = (await control.stats()).takeoversRefused;
    expect(await refused(asContainer('c2'))).toMatchObject(RESERVED_TAKEN);
    // An owner-only token is not a container either, whatever its owner's name.
    expect(await refused(bs.mint('subscribe', ['words'], { owner: 'c3' }))).toMatchObject(RESERVED_TAKEN);
    expect((await control.stats()).takeoversRefused).toBe(before + 2);

    const pub = await connectPublisher({ url: bs.url, token: bs.mint('publish', ['words']), stream: 'words', window: 1 });
    const rightful = await subscribe(asContainer('c3'));
    pub.begin(1);
    pub.data(1, ['w1']);
    pub.end(1);
    await rightful.untilEnd(1);
    expect(rightful.tuples).toEqual(['w1']);
    // Its container's newer connection replaces it as usual.
    const newer = await subscribe(asContainer('c3'));
    await rightful.sub.closed;
    expect(rightful.closed).toMatchObject({ code: 4409 });
    expect(newer.closed).toBeNull();
    await newer.sub.close();
    await pub.close();
  });

  it('a name not reserved is still bound on first use', async () => {
    const first = await subscribe(asContainer('c2'), 'adhoc');
    expect(await refused(asContainer('c3'), 'adhoc')).toMatchObject({
      code: 4403,
      reason: expect.stringMatching(/^SUBSCRIBER_NAME_TAKEN: subscriber "adhoc" belongs to another holder: a name stays with the first container/),
    });
    expect(first.closed).toBeNull();
    await first.sub.close();
  });

  it('--subscriber-names-per-holder bounds the names one holder binds on first use (4403 TOO_MANY_SUBSCRIBER_NAMES)', async () => {
    const held: Recording[] = [];
    for (const name of ['n1', 'n2', 'n3']) held.push(await subscribe(asContainer('c9', 'limits'), name, 'limits'));
    expect(await refused(asContainer('c9', 'limits'), 'n4', 'limits')).toMatchObject({ code: 4403, reason: expect.stringMatching(/^TOO_MANY_SUBSCRIBER_NAMES: this container already holds 3 subscriber names here/) });
    for (const h of held) await h.sub.close();
  });

  it('refuses to start on a malformed --bound-names file (exit 2, BAD_CONFIG), never listening', async () => {
    await expect(startBsProcess({ boundNames: { words: { [NAME]: '' } } })).rejects.toThrow(/exited with 2 before listening[\s\S]*--bound-names: .* must map stream → subscriber name → container id \[BAD_CONFIG\]/);
  });
});
