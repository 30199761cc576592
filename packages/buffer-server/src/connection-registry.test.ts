import { describe, expect, it } from 'vitest';
import { SluiceError, type BufferScope } from '@sluice/common';
import { ConnectionRegistry, type RegisteredConnection, type Role } from './connection-registry.js';
import { SubscriberNames, holderOf, type Holder } from './subscriber-names.js';

/** The slot and name rules of docs/protocol.md "Subscriber names", one claim at a time, no sockets. */

const container = (id: string): Holder => ({ kind: 'container', id });
const owner = (id: string): Holder => ({ kind: 'owner', id });

function refusal(f: () => void): SluiceError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SluiceError);
    return err as SluiceError;
  }
  throw new Error('expected a refusal');
}

class FakeConnection implements RegisteredConnection {
  closedWith: { code: number; reason: string } | null = null;
  readonly secret = null;
  readonly subscriber = null;
  constructor(
    readonly role: Role | null,
    readonly stream: string | null,
    readonly seq: number | null = null,
  ) {}
  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
  }
  fail(err: SluiceError): void {
    this.closedWith = { code: err.closeCode, reason: err.message };
  }
  pause(): void {}
  resume(): void {}
}

describe('holderOf', () => {
  it('is the container for a token that names one, else the owner', () => {
    const scope: BufferScope = { bs: 'bs', streams: ['s'], access: 'subscribe', container: 'c3' };
    expect(holderOf(scope, 'alice')).toEqual(container('c3'));
    expect(holderOf({ ...scope, container: null }, 'alice')).toEqual(owner('alice'));
  });
});

describe('SubscriberNames', () => {
  it('binds a name to its first holder and lets that holder claim it again', () => {
    const names = new SubscriberNames();
    names.claim('words', 'counter#1.words', container('c3'));
    names.claim('words', 'counter#1.words', container('c3'));
    expect(names.size).toBe(1);
    expect(names.takeoversRefused).toBe(0);
  });

  it('refuses another container with 4403 SUBSCRIBER_NAME_TAKEN and counts it', () => {
    const names = new SubscriberNames();
    names.claim('words', 'counter#1.words', container('c3'));
    const err = refusal(() => names.claim('words', 'counter#1.words', container('c2')));
    expect(err).toMatchObject({ code: 'SUBSCRIBER_NAME_TAKEN', closeCode: 4403 });
    expect(err.message).toMatch(/subscriber "counter#1.words" belongs to another holder: a name stays with the first container \(or owner\)/);
    expect(names.takeoversRefused).toBe(1);
  });

  it('keeps a container-bound name from an owner-only token of the same user, and the other way round', () => {
    const names = new SubscriberNames();
    names.claim('s', 'a', container('alice'));
    names.claim('s', 'b', owner('alice'));
    expect(refusal(() => names.claim('s', 'a', owner('alice'))).code).toBe('SUBSCRIBER_NAME_TAKEN');
    expect(refusal(() => names.claim('s', 'b', container('alice'))).code).toBe('SUBSCRIBER_NAME_TAKEN');
    expect(refusal(() => names.claim('s', 'b', owner('bob'))).code).toBe('SUBSCRIBER_NAME_TAKEN');
    expect(names.takeoversRefused).toBe(3);
  });

  it('binds per stream: the same name on another stream is another name', () => {
    const names = new SubscriberNames();
    names.claim('a', 'x', container('c2'));
    names.claim('b', 'x', container('c3'));
    // Streams and names may hold any character: no joined key lets one alias the other.
    names.claim('a\u0000b', 'c', container('c2'));
    names.claim('a', 'b\u0000c', container('c3'));
    expect(names.size).toBe(4);
  });

  it('refuses a holder past its limit of names with 4403 TOO_MANY_SUBSCRIBER_NAMES; its bound names still work, others are unaffected', () => {
    const names = new SubscriberNames(2);
    names.claim('s', 'n1', container('c2'));
    names.claim('s', 'n2', container('c2'));
    const err = refusal(() => names.claim('s', 'n3', container('c2')));
    expect(err).toMatchObject({ code: 'TOO_MANY_SUBSCRIBER_NAMES', closeCode: 4403 });
    names.claim('s', 'n1', container('c2'));
    names.claim('s', 'n3', container('c3'));
    expect(names.takeoversRefused).toBe(0);
  });
});

describe('SubscriberNames reservations', () => {
  it('a name reserved for a container refuses another holder that comes first, and welcomes its container', () => {
    const names = new SubscriberNames();
    expect(names.reserve('words', 'counter#1.words', container('c3'))).toBeNull();
    const err = refusal(() => names.claim('words', 'counter#1.words', container('c2')));
    expect(err).toMatchObject({ code: 'SUBSCRIBER_NAME_TAKEN', closeCode: 4403 });
    expect(err.message).toMatch(/subscriber "counter#1.words" belongs to another holder: reserved for its container/);
    names.claim('words', 'counter#1.words', container('c3'));
    expect(refusal(() => names.claim('words', 'counter#1.words', owner('c3'))).code).toBe('SUBSCRIBER_NAME_TAKEN');
    expect(names.takeoversRefused).toBe(2);
    expect(names.size).toBe(1);
  });

  it('takes a name back from a holder that used it before the reservation came, counting that as a refusal', () => {
    const names = new SubscriberNames();
    names.claim('words', 'counter#1.words', container('c2'));
    expect(names.reserve('words', 'counter#1.words', container('c3'))).toMatchObject({ code: 'SUBSCRIBER_NAME_TAKEN', closeCode: 4403 });
    expect(names.takeoversRefused).toBe(1);
    expect(refusal(() => names.claim('words', 'counter#1.words', container('c2'))).code).toBe('SUBSCRIBER_NAME_TAKEN');
    names.claim('words', 'counter#1.words', container('c3'));
    expect(names.size).toBe(1);
  });

  it('reserving a name its first user already holds changes nothing but how it is bound', () => {
    const names = new SubscriberNames();
    names.claim('s', 'n', container('c3'));
    expect(names.reserve('s', 'n', container('c3'))).toBeNull();
    expect(names.takeoversRefused).toBe(0);
    expect(refusal(() => names.claim('s', 'n', container('c2'))).message).toMatch(/reserved for its container/);
  });

  it('reserved names count towards the limit but are never refused by it; a name moved away frees its old holder one', () => {
    const names = new SubscriberNames(1);
    names.reserve('s', 'a', container('c3'));
    names.reserve('s', 'b', container('c3'));
    expect(names.size).toBe(2);
    expect(refusal(() => names.claim('s', 'c', container('c3'))).code).toBe('TOO_MANY_SUBSCRIBER_NAMES');
    names.claim('s', 'x', container('c2'));
    expect(refusal(() => names.claim('s', 'y', container('c2'))).code).toBe('TOO_MANY_SUBSCRIBER_NAMES');
    names.reserve('s', 'x', container('c3'));
    names.claim('s', 'y', container('c2'));
    expect(names.size).toBe(4);
  });
});

describe('ConnectionRegistry', () => {
  it("a reservation closes another holder's live connection under the name with 4403 and frees the slot for its container", () => {
    const r = new ConnectionRegistry<FakeConnection>();
    const early = new FakeConnection('subscribe', 'words');
    const other = new FakeConnection('subscribe', 'words');
    r.add(early);
    r.claimSubscriber('words', 'counter#1.words', container('c2'), early);
    r.claimSubscriber('words', 'counter#0.words', container('c2'), other);
    r.reserve({ words: { 'counter#0.words': 'c2', 'counter#1.words': 'c3' } });
    expect(early.closedWith).toMatchObject({ code: 4403, reason: expect.stringMatching(/subscriber "counter#1.words" belongs to another holder: reserved for its container/) });
    expect(other.closedWith).toBeNull();
    expect(r.takeoversRefused).toBe(1);
    const rightful = new FakeConnection('subscribe', 'words');
    r.claimSubscriber('words', 'counter#1.words', container('c3'), rightful);
    // The evicted connection closing late leaves the rightful one in place (nothing to replace: no 4409 either).
    r.remove(early);
    expect(rightful.closedWith).toBeNull();
    expect(r.boundNames).toBe(2);
  });

  it('a newer connection of the same holder closes the older one with 4409', () => {
    const r = new ConnectionRegistry<FakeConnection>();
    const a = new FakeConnection('subscribe', 's');
    const b = new FakeConnection('subscribe', 's');
    r.claimSubscriber('s', 'n', container('c3'), a);
    r.claimSubscriber('s', 'n', container('c3'), b);
    expect(a.closedWith).toMatchObject({ code: 4409, reason: expect.stringMatching(/replaced by a newer connection of subscriber "n"/) });
    expect(b.closedWith).toBeNull();
  });

  it('a foreign claim is refused and leaves the live connection alone', () => {
    const r = new ConnectionRegistry<FakeConnection>();
    const victim = new FakeConnection('subscribe', 's');
    r.claimSubscriber('s', 'n', container('c3'), victim);
    const taker = new FakeConnection('subscribe', 's');
    expect(refusal(() => r.claimSubscriber('s', 'n', container('c2'), taker)).code).toBe('SUBSCRIBER_NAME_TAKEN');
    expect(victim.closedWith).toBeNull();
    expect(r.takeoversRefused).toBe(1);
  });

  it('the binding outlives the connection: after the victim closes, a taker is still refused and the victim comes back', () => {
    const r = new ConnectionRegistry<FakeConnection>();
    const victim = new FakeConnection('subscribe', 's');
    r.add(victim);
    r.claimSubscriber('s', 'n', container('c3'), victim);
    r.remove(victim);
    expect(r.size).toBe(0);
    expect(refusal(() => r.claimSubscriber('s', 'n', container('c2'), new FakeConnection('subscribe', 's'))).code).toBe('SUBSCRIBER_NAME_TAKEN');
    const back = new FakeConnection('subscribe', 's');
    r.claimSubscriber('s', 'n', container('c3'), back);
    expect(back.closedWith).toBeNull();
    expect(r.boundNames).toBe(1);
  });

  it('a replaced connection closing late does not release its successor', () => {
    const r = new ConnectionRegistry<FakeConnection>();
    const a = new FakeConnection('subscribe', 's');
    const b = new FakeConnection('subscribe', 's');
    r.claimSubscriber('s', 'n', owner('tester'), a);
    r.claimSubscriber('s', 'n', owner('tester'), b);
    r.remove(a);
    const c = new FakeConnection('subscribe', 's');
    r.claimSubscriber('s', 'n', owner('tester'), c);
    expect(b.closedWith).toMatchObject({ code: 4409 });
  });

  it('replaces a publisher of the same stream with 4409 and finds connections by token seq and stream', () => {
    const r = new ConnectionRegistry<FakeConnection>();
    const p1 = new FakeConnection('publish', 's', 1);
    const p2 = new FakeConnection('publish', 's', 2);
    const ctl = new FakeConnection('control', 's', 3);
    for (const c of [p1, p2, ctl]) r.add(c);
    r.claimPublisher('s', p1);
    r.claimPublisher('s', p2);
    expect(p1.closedWith).toMatchObject({ code: 4409, reason: expect.stringMatching(/newer publisher of stream "s"/) });
    expect([...r.publisherConnections()]).toEqual([p2]);
    expect(r.withSeqs(new Set([2, 3]))).toEqual([p2, ctl]);
    expect(r.onStream('s')).toEqual([p1, p2]);
    r.remove(p2);
    expect(r.hasPublisher('s')).toBe(false);
  });
});
