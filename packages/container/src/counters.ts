/**
 * What a container counts and reports with every heartbeat (docs/protocol.md "Umbilical commands
 * and counters"). The names are stable: a test or a dashboard that watches one does not depend
 * on how a log line is worded. Every counter is reported from the start, at 0.
 */
export const ContainerEvent = {
  /** Pushed credentials merged and in use. */
  credentialsApplied: 'credentialsApplied',
  /** This container's buffer server got a new current secret. */
  secretRotated: 'secretRotated',
  /** Its buffer server stopped accepting previous secrets (after its publishers re-registered). */
  secretsRetired: 'secretsRetired',
  /** A publisher re-registered with a fresh publish token. */
  publisherRenewed: 'publisherRenewed',
  /** A publisher was closed under the container (or could not re-register): the container must be replaced. */
  publisherLost: 'publisherLost',
  /** A subscription moved to a reissued subscribe token. */
  subscribeSwitched: 'subscribeSwitched',
  /** A live subscription was closed by its buffer server and is being re-established. */
  upstreamReconnect: 'upstreamReconnect',
  /** An attempt to subscribe failed (refused, unreachable) and is retried. */
  subscribeFailed: 'subscribeFailed',
} as const;

/**
 * Closes of live connections by this container's buffer server, read from the server's own
 * tally at each heartbeat: a rotation that closes a connection for an expired token or a retired
 * secret shows here (docs/protocol.md "Secret rotation").
 */
export const ServedCloses = {
  servedClosedExpired: 'TOKEN_EXPIRED',
  servedClosedRetired: 'SECRET_RETIRED',
} as const;

/** The served-close counters of a heartbeat, each from 0, from the buffer server's closes by code. */
export function servedCloses(byCode: ReadonlyMap<string, number>): Record<keyof typeof ServedCloses, number> {
  return { servedClosedExpired: byCode.get(ServedCloses.servedClosedExpired) ?? 0, servedClosedRetired: byCode.get(ServedCloses.servedClosedRetired) ?? 0 };
}
export type ContainerEvent = (typeof ContainerEvent)[keyof typeof ContainerEvent];

/** The narrow interface the parts of a container count through. */
export interface EventCounter {
  count(event: ContainerEvent): void;
}

export class ContainerCounters implements EventCounter {
  private readonly counts = new Map<ContainerEvent, number>(Object.values(ContainerEvent).map((e) => [e, 0]));

  count(event: ContainerEvent): void {
    this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
  }

  /** Every counter by name, for the heartbeat. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
