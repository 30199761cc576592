import type { FailureReport } from '@sluice/common';

/**
 * Each container's failures over the app's life (docs/guide.md "Restart strategies"): the
 * exceptions its operators threw, with their stacks, as its heartbeats reported them, and every
 * loss of its process, with what the restart strategy decided. Kept across replacements (the
 * point is to see why a container keeps coming back), the newest `KEEP`.
 */

export const FailureCause = { operator: 'operator', exited: 'exited', silent: 'silent' } as const;
export type FailureCause = (typeof FailureCause)[keyof typeof FailureCause];

export interface Failure {
  at: number;
  cause: FailureCause;
  /** The physical operator that threw, when one did. */
  operator: string | null;
  message: string;
  stack: string | null;
  /** Which process of the container it was (its restart count then). */
  process: number;
  /** What the restart strategy decided: restart after this many ms; null while undecided, or when it failed the app. */
  restartAfterMs: number | null;
}

/** A failure as REST, status and the FAILED report show it. */
export interface FailureView {
  at: string;
  cause: FailureCause;
  operator: string | null;
  message: string;
  stack: string | null;
  restartAfterMs: number | null;
}

const KEEP = 20;

export class FailureLog {
  private readonly entries: Failure[] = [];

  /** What a heartbeat of process `process` reports; returns the reports not seen before (a container repeats them until it exits). */
  reported(reports: readonly FailureReport[], process: number): FailureReport[] {
    const fresh = reports.filter((f) => !this.entries.some((e) => e.process === process && e.at === f.at && e.operator === (f.operator ?? null) && e.message === f.message));
    for (const f of fresh) {
      this.add({ at: f.at, cause: FailureCause.operator, operator: f.operator ?? null, message: f.message, stack: f.stack ?? null, process, restartAfterMs: null });
    }
    return fresh;
  }

  /**
   * Process `process` is gone (`cause`, `reason`): the failure the restart strategy counts. When
   * an operator of it reported an exception, that is the failure; otherwise the loss itself is.
   */
  lost(cause: Exclude<FailureCause, 'operator'>, reason: string, process: number, now: number): Failure {
    const reported = this.entries.findLast((e) => e.process === process && e.cause === FailureCause.operator);
    if (reported) return reported;
    return this.add({ at: now, cause, operator: null, message: reason, stack: null, process, restartAfterMs: null });
  }

  get size(): number {
    return this.entries.length;
  }

  views(): FailureView[] {
    return this.entries.map((e) => ({ at: new Date(e.at).toISOString(), cause: e.cause, operator: e.operator, message: e.message, stack: e.stack, restartAfterMs: e.restartAfterMs }));
  }

  private add(f: Failure): Failure {
    this.entries.push(f);
    if (this.entries.length > KEEP) this.entries.shift();
    return f;
  }
}

/** One line for a failure: `operator count#0 threw Error: boom` or `process exited (code 1)` (a message's own line breaks folded). */
export function describeFailure(f: Pick<Failure, 'operator' | 'message' | 'cause'>): string {
  const message = f.message.trim().replace(/\s*\n\s*/g, ' ');
  return f.cause === FailureCause.operator && f.operator ? `operator ${f.operator} threw ${message}` : message;
}
