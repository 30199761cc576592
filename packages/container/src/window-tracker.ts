/**
 * Window alignment for an operator with several upstream sources (docs/architecture.md
 * "Recovery"). Pure: stream events go in, the actions the operator must run come out.
 *
 * - A window opens (beginWindow) when the first source begins it; the very first window waits
 *   until every source has sent something, so a slow-to-connect upstream is not skipped.
 * - Tuples of a source that is already in a later window wait until the open window closes.
 * - The window closes (endWindow) once every source has ended it, or has moved past it.
 * - Replays are absorbed: events of windows a source already ended are dropped, and when a
 *   source begins again the window it is in the middle of (a resubscription), the tuples it had
 *   already delivered in that window are skipped, so nothing is processed twice.
 */

export type StreamEvent<T = unknown> = { t: 'begin'; w: number } | { t: 'data'; w: number; tuples: T[] } | { t: 'end'; w: number };

export type TrackerAction<T = unknown> = { t: 'begin'; w: number } | { t: 'data'; w: number; source: string; tuples: T[] } | { t: 'end'; w: number };

interface SourceState<T> {
  queue: StreamEvent<T>[];
  /** Last window this source began (0 = none). */
  begun: number;
  /** Last window this source ended (or the restore window). */
  ended: number;
  /** Tuples delivered from this source in its current window, for replay skipping. */
  delivered: number;
  /** Tuples still to skip from a replayed window. */
  skip: number;
}

export class WindowTracker<T = unknown> {
  private readonly sources = new Map<string, SourceState<T>>();
  private open: number | null = null;
  private completed: number;
  private started = false;
  /** Events dropped as replays of ended windows or out of order; for diagnostics. */
  dropped = 0;

  /** `after`: the window the operator resumes after (its restore window; 0 for a fresh start). */
  constructor(sources: readonly string[], after = 0) {
    if (sources.length === 0) throw new Error('a window tracker needs at least one source');
    for (const s of sources) this.sources.set(s, { queue: [], begun: after, ended: after, delivered: 0, skip: 0 });
    this.completed = after;
  }

  /** The last window the operator completed. */
  get window(): number {
    return this.completed;
  }

  /** The window currently open, if any. */
  get openWindow(): number | null {
    return this.open;
  }

  /** The window to (re)subscribe this source from: its first window not yet ended. */
  resumeWindow(source: string): number {
    return this.state(source).ended + 1;
  }

  push(source: string, event: StreamEvent<T>): TrackerAction<T>[] {
    const s = this.state(source);
    if (event.w <= s.ended || event.w <= this.completed) {
      this.dropped++;
      return [];
    }
    if (event.t === 'begin') {
      if (event.w === s.begun) {
        // The source starts its current window over (resubscribed mid-window).
        if (this.open === event.w) {
          s.skip = s.delivered;
          return [];
        }
        s.queue = s.queue.filter((e) => e.w !== event.w);
      } else if (event.w < s.begun) {
        this.dropped++;
        return [];
      }
      s.begun = event.w;
    } else if (event.w !== s.begun) {
      this.dropped++; // data or end of a window this source never began
      return [];
    }
    s.queue.push(event);
    return this.drain();
  }

  private state(source: string): SourceState<T> {
    const s = this.sources.get(source);
    if (!s) throw new Error(`unknown source ${source}`);
    return s;
  }

  private drain(): TrackerAction<T>[] {
    const actions: TrackerAction<T>[] = [];
    for (;;) {
      if (this.open === null) {
        if (!this.started) {
          for (const s of this.sources.values()) if (s.queue.length === 0) return actions;
          this.started = true;
        }
        let next = Infinity;
        for (const s of this.sources.values()) {
          const head = s.queue[0];
          if (head?.t === 'begin' && head.w < next) next = head.w;
        }
        if (next === Infinity) return actions;
        this.open = next;
        actions.push({ t: 'begin', w: next });
      }
      const w = this.open;
      let done = true;
      for (const [name, s] of this.sources) {
        while (s.queue.length > 0 && s.queue[0]!.w === w) {
          const e = s.queue.shift()!;
          if (e.t === 'begin') {
            s.delivered = 0;
            s.skip = 0;
          } else if (e.t === 'data') {
            this.deliver(name, s, e.tuples, w, actions);
          } else {
            s.ended = w;
          }
        }
        if (s.ended < w && s.begun <= w) done = false;
      }
      if (!done) return actions;
      actions.push({ t: 'end', w });
      this.completed = w;
      this.open = null;
      for (const s of this.sources.values()) if (s.ended < w) s.ended = w; // sources that moved past w
    }
  }

  private deliver(name: string, s: SourceState<T>, tuples: T[], w: number, actions: TrackerAction<T>[]): void {
    let batch = tuples;
    if (s.skip > 0) {
      const n = Math.min(s.skip, batch.length);
      s.skip -= n;
      batch = batch.slice(n);
    }
    s.delivered += batch.length;
    if (batch.length > 0) actions.push({ t: 'data', w, source: name, tuples: batch });
  }
}
