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

/**
 * The subscriber-name table of one buffer server: pure state, no sockets. A (stream, name) pair is
 * bound to the holder of the first token that subscribed under it, and stays bound after its
 * connections close — a holder reconnecting after a network blip, or a replacement container
 * (which keeps its predecessor's container id), finds its names waiting; anyone else is refused
 * even while the name has no live connection. Revoking a token does not unbind its names: the
 * container it spoke for is the one that comes back with new tokens.
 */
export class SubscriberNames {
  /** stream → subscriber name → holder (nested maps: names and streams may hold any character). */
  private readonly bound = new Map<string, Map<string, Holder>>();
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
    let names = this.bound.get(stream);
    const current = names?.get(name);
    if (current) {
      if (sameHolder(current, holder)) return;
      this.refused++;
      throw new SluiceError('SUBSCRIBER_NAME_TAKEN', `subscriber "${name.slice(0, 32)}" belongs to another holder: a name stays with the first container (or owner) using it`);
    }
    const key = `${holder.kind}:${holder.id}`;
    const held = this.perHolder.get(key) ?? 0;
    if (held >= this.namesPerHolder) {
      throw new SluiceError('TOO_MANY_SUBSCRIBER_NAMES', `this ${holder.kind} already holds ${held} subscriber names here, the most one may; reuse a name`);
    }
    if (!names) this.bound.set(stream, (names = new Map()));
    names.set(name, holder);
    this.perHolder.set(key, held + 1);
    this.count++;
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
