/**
 * Live rotation of one buffer server's secret (docs/architecture.md "Token lifetimes and
 * rotation"; docs/protocol.md "Secret rotation"), as a pure state machine: events in, the next
 * state and effects out. The caller (credentials-keeper.ts) turns effects into credentials
 * changes and commands, and reports back what containers are known to hold — by revision of
 * their credentials (container-agent.ts).
 *
 *  owner       the owner's credentials carry the new secret (current) and the old one (previous)
 *              from revision `revision`; its server accepts both once it has them.
 *  confirmed   the owner holds them: STRAM mints tokens for that server from the new secret
 *              (effect `confirm`), starting with new subscribe tokens for every downstream container.
 *  downstream  waiting for each downstream container to hold the revision carrying its new token.
 *  done        every downstream container holds one (or was replaced, getting current tokens
 *              anyway): the owner is told to retire the old secret (effect `retire`). Or abandoned,
 *              without effects: the owner was replaced, and its server restarts with a fresh secret.
 */

export const RotationPhase = {
  owner: 'owner',
  confirmed: 'confirmed',
  downstream: 'downstream',
  done: 'done',
} as const;
export type RotationPhase = (typeof RotationPhase)[keyof typeof RotationPhase];

export type Rotation =
  | { phase: typeof RotationPhase.owner; owner: string; bs: string; revision: number }
  | { phase: typeof RotationPhase.confirmed; owner: string; bs: string }
  | { phase: typeof RotationPhase.downstream; owner: string; bs: string; waiting: ReadonlyMap<string, number> }
  | { phase: typeof RotationPhase.done; owner: string; bs: string };

export type RotationEvent =
  /** Container `container` is known to hold revision `revision` of its credentials. */
  | { type: 'held'; container: string; revision: number }
  /** Subscribe tokens of the new secret went into these containers' credentials, at these revisions. */
  | { type: 'minted'; waiting: ReadonlyMap<string, number> }
  /** Container `container` was replaced: a fresh process with fresh credentials (current secrets). */
  | { type: 'replaced'; container: string };

export type RotationEffect =
  /** Mint tokens for `bs` from the new secret from now on, and new subscribe tokens for its readers (then report `minted`). */
  | { type: 'confirm'; owner: string; bs: string }
  /** Tell the owner to retire the old secret. */
  | { type: 'retire'; owner: string; bs: string };

export interface RotationStep {
  next: Rotation;
  effects: RotationEffect[];
}

/** A rotation whose new secret went into the owner's credentials at `revision`. */
export function startRotation(owner: string, bs: string, revision: number): Rotation {
  return { phase: RotationPhase.owner, owner, bs, revision };
}

const stay = (r: Rotation): RotationStep => ({ next: r, effects: [] });

export function stepRotation(r: Rotation, e: RotationEvent): RotationStep {
  if (r.phase === RotationPhase.done) return stay(r);
  if (e.type === 'replaced' && e.container === r.owner) return { next: { phase: RotationPhase.done, owner: r.owner, bs: r.bs }, effects: [] };
  switch (r.phase) {
    case RotationPhase.owner:
      if (e.type === 'held' && e.container === r.owner && e.revision >= r.revision) {
        return { next: { phase: RotationPhase.confirmed, owner: r.owner, bs: r.bs }, effects: [{ type: 'confirm', owner: r.owner, bs: r.bs }] };
      }
      return stay(r);
    case RotationPhase.confirmed:
      return e.type === 'minted' ? waitFor(r, e.waiting) : stay(r);
    case RotationPhase.downstream: {
      if (e.type === 'minted') return stay(r);
      // Held the revision with its new token, or replaced (its fresh credentials have current tokens).
      const settled = e.type === 'held' ? (r.waiting.get(e.container) ?? Infinity) <= e.revision : r.waiting.has(e.container);
      if (!settled) return stay(r);
      const waiting = new Map(r.waiting);
      waiting.delete(e.container);
      return waitFor(r, waiting);
    }
  }
}

function waitFor(r: Rotation, waiting: ReadonlyMap<string, number>): RotationStep {
  if (waiting.size > 0) return { next: { phase: RotationPhase.downstream, owner: r.owner, bs: r.bs, waiting }, effects: [] };
  return { next: { phase: RotationPhase.done, owner: r.owner, bs: r.bs }, effects: [{ type: 'retire', owner: r.owner, bs: r.bs }] };
}
