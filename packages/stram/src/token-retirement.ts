import type { Token } from '@sluice/common';

/**
 * When a container's replaced STRAM tokens are cancelled (docs/architecture.md "Token lifetimes
 * and rotation"). Cancelling a replaced token at once would lock out a container that reconnects
 * before the push of its successor reaches it; so a replaced token is cancelled once the container
 * is known to hold the revision of its credentials that carries the successor — or at once, when
 * it never left STRAM (replaced again before it was pushed). A replaced container's tokens are
 * cancelled at once: the process that held them is dead.
 */

interface Issued {
  token: Token;
  /** The credentials revision that carries it. */
  revision: number;
}

export class TokenRetirement {
  private readonly current = new Map<string, Issued>();
  /** Replaced tokens, each with the revision that carries its successor. */
  private readonly retiring = new Map<string, { token: Token; successor: number }[]>();

  constructor(private readonly cancel: (container: string, token: Token) => Promise<void>) {}

  /**
   * Container `id`'s STRAM token is now `token`, carried by `revision`; `sent` is the latest
   * revision that had left STRAM before it. The token it replaces retires.
   */
  issued(id: string, token: Token, revision: number, sent: number): void {
    const before = this.current.get(id);
    this.current.set(id, { token, revision });
    if (!before) return;
    if (before.revision > sent) {
      void this.cancel(id, before.token); // never pushed: nobody holds it
      return;
    }
    const list = this.retiring.get(id) ?? [];
    list.push({ token: before.token, successor: revision });
    this.retiring.set(id, list);
  }

  /** Recovery: `token`, replaced by the previous STRAM and not yet cancelled, is cancelled once container `id` holds revision `successor`. */
  replaced(id: string, token: Token, successor: number): void {
    const list = this.retiring.get(id) ?? [];
    list.push({ token, successor });
    this.retiring.set(id, list);
  }

  /** Container `id` holds revision `held` of its credentials: the tokens that revision replaced are cancelled. */
  held(id: string, held: number): void {
    const list = this.retiring.get(id);
    if (!list) return;
    const done = list.filter((r) => r.successor <= held);
    if (done.length === 0) return;
    const rest = list.filter((r) => r.successor > held);
    if (rest.length > 0) this.retiring.set(id, rest);
    else this.retiring.delete(id);
    for (const r of done) void this.cancel(id, r.token);
  }

  /** Container `id` was replaced: every token it held is cancelled now; `token` (at `revision`) is the new process's. */
  async restarted(id: string, token: Token, revision: number): Promise<void> {
    const stale = [this.current.get(id)?.token, ...(this.retiring.get(id) ?? []).map((r) => r.token)];
    this.retiring.delete(id);
    this.current.set(id, { token, revision });
    for (const t of stale) if (t) await this.cancel(id, t);
  }

  /** Shutdown: every token of the app is cancelled. */
  async cancelAll(): Promise<void> {
    const all = [...[...this.current].map(([id, i]) => [id, i.token] as const), ...[...this.retiring].flatMap(([id, list]) => list.map((r) => [id, r.token] as const))];
    this.current.clear();
    this.retiring.clear();
    for (const [id, token] of all) await this.cancel(id, token);
  }
}
