import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CloseCode, createLogger, generateSecret, mintBufferToken, type Token } from '@sluice/common';
import type { Subscriber, SubscriberOptions } from '@sluice/buffer-server';
import { UpstreamLink, type UpstreamRunner } from './upstream.js';

/**
 * UpstreamLink's reaction to closes (docs/protocol.md "Subscriber names"), on fake timers and a
 * fake buffer server: an unexpected 4409 is reported and the name taken back after a backoff
 * that grows while takeovers keep coming; its own make-before-break re-subscribe is not one.
 */

const secret = generateSecret();
let clock = 1_000_000;
const tokenAt = (issuedAt: number): Token =>
  mintBufferToken({ secret, bs: 'bs-c1', streams: ['words'], access: 'subscribe', container: 'c3', owner: 'u', now: issuedAt, ttlMs: 600_000 });

const runner: UpstreamRunner = {
  resumeWindow: () => 7,
  deliver: () => undefined,
  backlogged: false,
  ready: () => Promise.resolve(),
};

class Harness {
  /** Every subscribe the link made, in order. */
  readonly connects: SubscriberOptions[] = [];
  takeovers = 0;
  token: Token = tokenAt(clock);
  readonly link = new UpstreamLink({
    runner,
    source: 'words|generator#0',
    stream: 'words',
    subscriber: 'counter#1.words',
    target: { url: 'ws://127.0.0.1:1', bufferServer: 'bs-c1' },
    token: () => this.token,
    connect: (o) => {
      this.connects.push(o);
      const sub: Subscriber = { from: o.window, closed: new Promise(() => undefined), close: () => Promise.resolve() };
      return Promise.resolve(sub);
    },
    onTakenOver: () => void this.takeovers++,
    logger: createLogger({ name: 'test', level: 'silent' }),
    now: () => clock,
  });
}

const harness = (): Harness => new Harness();

/** Lets the link's connect promise settle. */
async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}
async function advance(ms: number): Promise<void> {
  clock += ms;
  await vi.advanceTimersByTimeAsync(ms);
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('UpstreamLink', () => {
  it('reports an unexpected 4409 and re-subscribes from its resume window after a backoff', async () => {
    const h = harness();
    h.link.start();
    await settle();
    expect(h.connects).toHaveLength(1);
    h.connects[0]!.onClose?.(CloseCode.replaced, 'replaced by a newer connection of subscriber "counter#1.words"');
    expect(h.takeovers).toBe(1);
    await advance(99);
    expect(h.connects).toHaveLength(1);
    await advance(1);
    expect(h.connects).toHaveLength(2);
    expect(h.connects[1]).toMatchObject({ subscriber: 'counter#1.words', window: 7 });
    await h.link.close();
  });

  it('waits longer each time the name is taken again soon after it was taken back; a connection that lasted starts over', async () => {
    const h = harness();
    h.link.start();
    await settle();
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = h.connects.length;
      h.connects.at(-1)!.onClose?.(CloseCode.replaced, 'taken');
      let waited = 0;
      while (h.connects.length === before) {
        await advance(50);
        waited += 50;
      }
      waits.push(waited);
    }
    expect(waits).toEqual([100, 200, 400, 800]);
    expect(h.takeovers).toBe(4);
    // The last connection stays up past the longest backoff: the next takeover is a fresh start.
    await advance(5_000);
    h.connects.at(-1)!.onClose?.(CloseCode.replaced, 'taken');
    await advance(100);
    expect(h.connects).toHaveLength(6);
    await h.link.close();
  });

  it('does not count the 4409 of its own re-subscribe with a reissued token', async () => {
    const h = harness();
    h.link.start();
    await settle();
    clock += 1_000;
    h.token = tokenAt(clock); // a newer max date: the link switches to it, make before break
    h.link.refreshNow();
    await settle();
    expect(h.connects).toHaveLength(2);
    expect(h.connects[1]!.token).toBe(h.token);
    // The buffer server replaces the old connection with the new one.
    h.connects[0]!.onClose?.(CloseCode.replaced, 'replaced by a newer connection of subscriber "counter#1.words"');
    await advance(10_000);
    expect(h.takeovers).toBe(0);
    expect(h.connects).toHaveLength(2);
    await h.link.close();
  });

  it('reconnects after any other close without reporting a takeover', async () => {
    const h = harness();
    h.link.start();
    await settle();
    h.connects[0]!.onClose?.(1006, '');
    await advance(100);
    expect(h.connects).toHaveLength(2);
    expect(h.takeovers).toBe(0);
    await h.link.close();
  });
});
