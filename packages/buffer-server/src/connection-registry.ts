import { CloseCode, type BoundNames, type SluiceError } from '@sluice/common';
import type { SubscriberLink } from './subscriber.js';
import { SubscriberNames, type Holder } from './subscriber-names.js';

export type Role = 'publish' | 'subscribe' | 'control';

/** What the registry needs of a connection; the connection's own state stays its own. */
export interface RegisteredConnection {
  readonly role: Role | null;
  readonly stream: string | null;
  /** The sequence number of the token it authenticated with (null before auth). */
  readonly seq: number | null;
  /** The secret its token was minted from (null before auth). */
  readonly secret: Buffer | null;
  readonly subscriber: SubscriberLink | null;
  close(code: number, reason: string): void;
  fail(err: SluiceError): void;
  /** Stops or resumes reading from the socket (publishers under memory pressure). */
  pause(): void;
  resume(): void;
}

/**
 * Every connection of one buffer server, and who holds which publisher and subscriber slot
 * (docs/protocol.md "Publisher (role `publish`)", "Subscriber (role `subscribe`)"). The one
 * owner of these maps: connections claim and release slots through it, and the server looks
 * connections up here for revocation, secret retirement, reset and shutdown.
 *
 * Replacement: a newer publisher of a stream, or a newer connection of a subscriber name,
 * closes the older one with 4409. A subscriber name may only be taken over by the holder it is
 * bound to (subscriber-names.ts): anyone else is refused before the older connection is touched.
 * Names reserved for containers (`reserve`) are bound to them from then on, whoever used them first.
 */
export class ConnectionRegistry<C extends RegisteredConnection = RegisteredConnection> {
  private readonly all = new Set<C>();
  private readonly publishers = new Map<string, C>();
  /** stream → subscriber name → its live connection. */
  private readonly subscribers = new Map<string, Map<string, C>>();
  /** The subscriber slot each subscriber connection holds. */
  private readonly slots = new Map<C, { stream: string; name: string }>();
  private readonly names: SubscriberNames;

  constructor(namesPerHolder?: number) {
    this.names = new SubscriberNames(namesPerHolder);
  }

  /** A socket opened (before auth). */
  add(conn: C): void {
    this.all.add(conn);
  }

  /** A socket closed: it leaves every slot it still held. */
  remove(conn: C): void {
    this.all.delete(conn);
    if (conn.stream !== null && this.publishers.get(conn.stream) === conn) this.publishers.delete(conn.stream);
    this.vacate(conn);
  }

  /** `conn` no longer holds its subscriber slot (if it held one). */
  private vacate(conn: C): void {
    const slot = this.slots.get(conn);
    if (!slot) return;
    this.slots.delete(conn);
    const subs = this.subscribers.get(slot.stream);
    if (subs?.get(slot.name) !== conn) return;
    subs.delete(slot.name);
    if (subs.size === 0) this.subscribers.delete(slot.stream);
  }

  /** `conn` becomes the publisher of `stream`; the previous one is closed 4409. */
  claimPublisher(stream: string, conn: C): void {
    this.publishers.get(stream)?.close(CloseCode.replaced, `replaced by a newer publisher of stream "${stream.slice(0, 40)}"`);
    this.publishers.set(stream, conn);
  }

  /**
   * `conn` becomes subscriber `name` of `stream` for `holder`: throws a 4403 SluiceError when the
   * name belongs to another holder (the live connection, if any, is left alone); otherwise the
   * previous connection of that name, if any, is closed 4409.
   */
  claimSubscriber(stream: string, name: string, holder: Holder, conn: C): void {
    this.names.claim(stream, name, holder);
    let subs = this.subscribers.get(stream);
    subs?.get(name)?.close(CloseCode.replaced, `replaced by a newer connection of subscriber "${name.slice(0, 40)}"`);
    if (!subs) this.subscribers.set(stream, (subs = new Map()));
    subs.set(name, conn);
    this.slots.set(conn, { stream, name });
  }

  /**
   * Reserves subscriber names for the containers that subscribe under them (stream → name →
   * container id). A live connection of another holder under a reserved name — one that came
   * before the reservation — is closed 4403 SUBSCRIBER_NAME_TAKEN and leaves the name at once.
   */
  reserve(names: BoundNames): void {
    for (const [stream, byName] of Object.entries(names)) {
      for (const [name, container] of Object.entries(byName)) {
        const refusal = this.names.reserve(stream, name, { kind: 'container', id: container });
        const live = refusal && this.subscribers.get(stream)?.get(name);
        if (!live) continue;
        this.vacate(live);
        live.fail(refusal);
      }
    }
  }

  get size(): number {
    return this.all.size;
  }

  hasPublisher(stream: string): boolean {
    return this.publishers.has(stream);
  }

  /** Current publishers (for pausing and resuming them together). */
  publisherConnections(): IterableIterator<C> {
    return this.publishers.values();
  }

  /** The live subscriber links, for stats. */
  *subscriberLinks(): Generator<SubscriberLink> {
    for (const subs of this.subscribers.values()) for (const c of subs.values()) if (c.subscriber) yield c.subscriber;
  }

  /** Connections made with a token of one of these sequence numbers. */
  withSeqs(seqs: ReadonlySet<number>): C[] {
    return [...this.all].filter((c) => c.seq !== null && seqs.has(c.seq));
  }

  /** Connections whose token was minted from one of these secrets. */
  withSecrets(secrets: readonly Buffer[]): C[] {
    return [...this.all].filter((c) => c.secret !== null && secrets.some((s) => s.equals(c.secret!)));
  }

  /** Publisher and subscriber connections of `stream` (not control). */
  onStream(stream: string): C[] {
    return [...this.all].filter((c) => c.stream === stream && c.role !== 'control');
  }

  /** Every connection, authenticated or not. */
  connections(): C[] {
    return [...this.all];
  }

  /** Subscriber names bound on this server (they outlive their connections). */
  get boundNames(): number {
    return this.names.size;
  }

  /** Subscribe attempts refused because the name belonged to another holder. */
  get takeoversRefused(): number {
    return this.names.takeoversRefused;
  }
}
