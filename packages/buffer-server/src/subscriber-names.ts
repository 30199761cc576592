import { SluiceError, type BufferScope } from '@sluice/common';

/**
 * Who a subscriber name belongs to (docs/protocol.md "Subscriber (role `subscribe`)", "Subscriber
 * names"). A token whose scope names a container speaks for that container; a token without one
 * (`container: nil`, as `sluice token buffer` makes without `--container`) speaks for its owner.
 * The two kinds never match each other, so a container's names cannot be taken with an owner-only
 * token of the same user, nor the other way round.
 */
export type Holder = { readonly kind: 'container'; readonly id: string } | { readonly kind: 'owner'; readonly id: string };

export function holderOf(scope: BufferScope, owner: string): Holder {
  return scope.container === null ? { kind: 'owner', id: owner } : { kind: 'container', id: scope.container };
}

function sameHolder(a: Holder, b: Holder): boolean {
  return a.kind === b.kind && a.id === b.id;
}

/** Names one holder may bind on one buffer server by default (bounds the table, which outlives connections). */
export const DEFAULT_NAMES_PER_HOLDER = 1024;

/** How a name came to its holder: its first use, or reserved for it by whoever runs the server (the app's plan). */
const Binding = { firstUse: 'firstUse', reserved: 'reserved' } as const;
type Binding = (typeof Binding)[keyof typeof Binding];

interface Bound {
  holder: Holder;
  by: Binding;
}

/**
 * The subscriber-name table of one buffer server: pure state, no sockets. A (stream, name) pair is
 * bound to the holder of the first token that subscribed under it, or reserved in advance for a
 * container (`reserve`: STRAM knows from the physical plan which container subscribes under
 * which name), and stays bound after its connections close — a holder reconnecting after a
 * network blip, or a replacement container (which keeps its predecessor's container id), finds
 * its names waiting; anyone else is refused even while the name has no live connection. Revoking
 * a token does not unbind its names: the container it spoke for is the one that comes back with
 * new tokens.
 */
export class SubscriberNames {
  /** stream → subscriber name → binding (nested maps: names and streams may hold any character). */
  private readonly bound = new Map<string, Map<string, Bound>>();
  private readonly perHolder = new Map<string, number>();
  private count = 0;
  private refused = 0;

  constructor(private readonly namesPerHolder: number = DEFAULT_NAMES_PER_HOLDER) {}

  /**
   * Binds `name` of `stream` to `holder`, or checks that it already is. Throws a 4403
   * SluiceError when the name belongs to another holder (counted) or when `holder` already has
   * its limit of names.
   */
  claim(stream: string, name: string, holder: Holder): void {
    const current = this.bound.get(stream)?.get(name);
    if (current) {
      if (sameHolder(current.holder, holder)) return;
      this.refused++;
      throw taken(name, current.by);
    }
    const held = this.perHolder.get(keyOf(holder)) ?? 0;
    if (held >= this.namesPerHolder) {
      throw new SluiceError('TOO_MANY_SUBSCRIBER_NAMES', `this ${holder.kind} already holds ${held} subscriber names here, the most one may; reuse a name`);
    }
    this.set(stream, name, { holder, by: Binding.firstUse });
  }

  /**
   * Reserves `name` of `stream` for `holder`, whoever used it first: the reservation is the word
   * of whoever runs the server, so it also takes the name from another holder that claimed it
   * before the reservation arrived. Returns the refusal for that holder's live connection, if
   * any (counted like a refused claim), or null when the name was free or already the holder's.
   * Reserved names count towards the holder's limit but are never refused by it.
   */
  reserve(stream: string, name: string, holder: Holder): SluiceError | null {
    const current = this.bound.get(stream)?.get(name);
    if (current && sameHolder(current.holder, holder)) {
      current.by = Binding.reserved;
      return null;
    }
    if (current) this.release(current.holder);
    this.set(stream, name, { holder, by: Binding.reserved });
    if (!current) return null;
    this.refused++;
    return taken(name, Binding.reserved);
  }

  private set(stream: string, name: string, b: Bound): void {
    let names = this.bound.get(stream);
    if (!names) this.bound.set(stream, (names = new Map()));
    if (!names.has(name)) this.count++;
    names.set(name, b);
    const key = keyOf(b.holder);
    this.perHolder.set(key, (this.perHolder.get(key) ?? 0) + 1);
  }

  private release(holder: Holder): void {
    const key = keyOf(holder);
    const held = (this.perHolder.get(key) ?? 1) - 1;
    if (held > 0) this.perHolder.set(key, held);
    else this.perHolder.delete(key);
  }

  /** Names bound now. */
  get size(): number {
    return this.count;
  }

  /** Attempts refused because the name belonged to another holder, since the server started. */
  get takeoversRefused(): number {
    return this.refused;
  }
}

function keyOf(holder: Holder): string {
  return `${holder.kind}:${holder.id}`;
}

function taken(name: string, by: Binding): SluiceError {
  const rule = by === Binding.reserved ? 'reserved for its container' : 'a name stays with the first container (or owner) using it';
  return new SluiceError('SUBSCRIBER_NAME_TAKEN', `subscriber "${name.slice(0, 32)}" belongs to another holder: ${rule}`);
}
