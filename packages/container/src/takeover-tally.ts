import type { TakeoverReport } from '@sluice/common';

/**
 * What a container tells STRAM about subscriber-name takeovers (docs/protocol.md "Subscriber
 * names"): how many subscribe attempts its own buffer server refused, and how often each of its
 * inputs was closed 4409 by a connection it did not make. Counts are cumulative for the
 * process's life; STRAM turns them into counters.
 */
export class TakeoverTally {
  private readonly inputs = new Map<string, { operator: string; port: string; count: number }>();

  /** An input's subscription was taken over (upstream.ts). */
  takenOver(operator: string, port: string): void {
    const key = `${operator}|${port}`;
    const entry = this.inputs.get(key);
    if (entry) entry.count++;
    else this.inputs.set(key, { operator, port, count: 1 });
  }

  /** The heartbeat's `takeovers`, or undefined while there is nothing to report. */
  report(refused: number): TakeoverReport | undefined {
    if (refused === 0 && this.inputs.size === 0) return undefined;
    return { refused, takenOver: [...this.inputs.values()].map((e) => ({ ...e })) };
  }
}
