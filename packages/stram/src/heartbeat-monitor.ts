import type { Clock } from '@sluice/common';

/**
 * Which containers have gone silent (docs/architecture.md "Recovery"). Like Flink's
 * HeartbeatMonitor, one deadline per watched container, pushed back by each heartbeat; the caller
 * owns the timer and asks `overdue()` once per heartbeat interval. The clock is injected, so tests
 * move time by hand.
 *
 * A process STRAM has just started gets the launch timeout for its first heartbeat (starting a
 * process can take a while on a busy host); one adopted after a STRAM restart is already up and
 * gets the heartbeat timeout, as does every container once heard from.
 */

export interface HeartbeatMonitorOptions {
  clock: Clock;
  heartbeatTimeoutMs: number;
  launchTimeoutMs: number;
}

export interface Silent {
  id: string;
  silentMs: number;
}

export class HeartbeatMonitor {
  private readonly watched = new Map<string, { since: number; timeoutMs: number }>();

  constructor(private readonly o: HeartbeatMonitorOptions) {}

  /** A process was started for container `id`. */
  launched(id: string): void {
    this.watched.set(id, { since: this.o.clock.now(), timeoutMs: Math.max(this.o.launchTimeoutMs, this.o.heartbeatTimeoutMs) });
  }

  /** Container `id` runs on from before a STRAM restart. */
  adopted(id: string): void {
    this.watched.set(id, { since: this.o.clock.now(), timeoutMs: this.o.heartbeatTimeoutMs });
  }

  /** A heartbeat from container `id` (heard at `now`); a container not watched (exited, being replaced) stays unwatched. */
  heard(id: string, now = this.o.clock.now()): void {
    const w = this.watched.get(id);
    if (!w) return;
    w.since = now;
    w.timeoutMs = this.o.heartbeatTimeoutMs;
  }

  /** Container `id` is no longer expected to heartbeat (its process exited, or it is being replaced). */
  unwatch(id: string): void {
    this.watched.delete(id);
  }

  /** The watched containers silent past their timeout; they are unwatched (the caller replaces them). */
  overdue(): Silent[] {
    const now = this.o.clock.now();
    const silent: Silent[] = [];
    for (const [id, w] of this.watched) {
      if (now - w.since > w.timeoutMs) {
        silent.push({ id, silentMs: now - w.since });
        this.watched.delete(id);
      }
    }
    return silent;
  }
}
