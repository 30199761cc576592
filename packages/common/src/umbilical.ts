import { z } from 'zod';
import { SluiceError } from './errors.js';
import { isStramScope, type TokenIdentifier } from './token.js';

/**
 * The umbilical between STRAM and its containers (docs/architecture.md "Processes"). After the handshake
 * (role "hello", container id), every frame is a sealed `{t:"msg", seq, body, mac}` (session.ts);
 * these are the inner messages. A container's token speaks only for that container: STRAM closes
 * with 4403 a heartbeat naming another container.
 *
 * Container → STRAM: `heartbeat`. STRAM → container: `heartbeat-ack` carrying commands.
 * Secrets never travel in clear: new credentials are sealed with a key derived from the session's
 * server→client key (AES-256-GCM, see credentials.ts), so only the holder of the old token can open them.
 */

const uint = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const id = z.string().min(1).max(256);

export const operatorStatsSchema = z.object({
  /** Physical operator id, e.g. `count#1`. */
  id,
  /** Last window whose endWindow completed. */
  window: uint,
  tuplesIn: uint,
  tuplesOut: uint,
  /** Mean ms from a window's begin to its end at this operator, last window. */
  latencyMs: z.number().min(0),
  /** Last checkpointed window (0 = none yet). */
  checkpoint: uint,
});
export type OperatorStats = z.infer<typeof operatorStatsSchema>;

/**
 * Subscriber-name takeovers a container has seen since it started (docs/protocol.md "Subscriber
 * names"), cumulative: STRAM counts the increase from one heartbeat to the next.
 */
export const takeoverReportSchema = z.object({
  /** Subscribe attempts this container's buffer server refused: the name belonged to another container or owner. */
  refused: uint,
  /** This container's input subscriptions closed 4409 by connections it did not make, per operator input port. */
  takenOver: z.array(z.object({ operator: id, port: id, count: uint })).max(10_000),
});
export type TakeoverReport = z.infer<typeof takeoverReportSchema>;

/**
 * An exception in an operator (or in deploying one), as its container reports it until it exits
 * (docs/protocol.md "Umbilical commands and counters"). The container cuts message and stack to
 * these lengths; STRAM keeps the report with the container's failures.
 */
export const FAILURE_LIMITS = { message: 1_000, stack: 16_000, reports: 10 } as const;
export const failureReportSchema = z.object({
  /** The physical operator that threw; absent when the failure is not one operator's (a deploy that failed). */
  operator: id.optional(),
  /** `Name: message` of what was thrown. */
  message: z.string().max(FAILURE_LIMITS.message),
  stack: z.string().max(FAILURE_LIMITS.stack).optional(),
  /** When it was caught, ms since the epoch. */
  at: uint,
});
export type FailureReport = z.infer<typeof failureReportSchema>;

export const heartbeatSchema = z.object({
  t: z.literal('heartbeat'),
  container: id,
  /** ws URL of the buffer server this container hosts, once listening. */
  bufferServer: z.string().nullable(),
  state: z.enum(['starting', 'running', 'stopping']),
  operators: z.array(operatorStatsSchema).max(10_000),
  /** Errors the container wants STRAM to show (operator failures), newest last. */
  errors: z.array(z.string().max(1000)).max(20).optional(),
  /**
   * Counts of what happened in the container since it started, by event name (docs/protocol.md
   * "Umbilical commands and counters"): STRAM shows and exports them as they are.
   */
  counters: z
    .record(z.string().min(1).max(64), uint)
    .refine((c) => Object.keys(c).length <= 64, 'at most 64 counters')
    .optional(),
  /**
   * The revision of its credentials the container has applied: the one of its credentials file
   * at start, then that of each sealed push once it has merged it (docs/protocol.md "Umbilical
   * commands and counters"). Absent = 0.
   */
  credentialsRevision: uint.optional(),
  /** Sent once there is something to report; absent means none. */
  takeovers: takeoverReportSchema.optional(),
  /** Operator failures of this process, oldest first; absent means none. */
  failures: z.array(failureReportSchema).max(FAILURE_LIMITS.reports).optional(),
});
export type HeartbeatMessage = z.infer<typeof heartbeatSchema>;

export const upstreamSchema = z.object({
  /** Upstream physical operator id and its buffer server. */
  operator: id,
  bufferServer: id,
  url: z.string(),
  /** Partition filter for this subscriber, when the stream is partitioned. */
  partitions: z.object({ mask: uint, keys: z.array(uint) }).optional(),
});

export const deployOperatorSchema = z.object({
  id,
  operator: id,
  partition: uint,
  partitions: uint,
  inputs: z.array(
    z.object({
      port: id,
      stream: id,
      /** Same-container streams have no upstream entries: they are in-process queues. */
      upstreams: z.array(upstreamSchema),
      local: z.array(id),
    }),
  ),
  outputs: z.array(z.object({ port: id, stream: id, partitioned: z.boolean() })),
  /** Restore from this checkpoint window and resume after it (0 = fresh start). */
  restoreWindow: uint,
});
export type DeployOperator = z.infer<typeof deployOperatorSchema>;

/**
 * Subscriber names reserved on one buffer server, stream → subscriber name → the container that
 * subscribes under it (docs/protocol.md "Subscriber names"): STRAM takes them from the physical
 * plan and sends them to the container hosting the server in its `deploy`.
 */
export const boundNamesSchema = z.record(z.string(), z.record(z.string(), id));
export type BoundNames = z.infer<typeof boundNamesSchema>;

export const commandSchema = z.discriminatedUnion('c', [
  /** `boundNames`: the names downstream containers subscribe under at the receiver's own buffer server. */
  z.object({ c: z.literal('deploy'), operators: z.array(deployOperatorSchema), boundNames: boundNamesSchema.optional() }),
  z.object({ c: z.literal('undeploy'), ids: z.array(id) }),
  /** Upstream moved (replacement container): re-subscribe this input from `window`. */
  z.object({ c: z.literal('resubscribe'), operator: id, port: id, upstream: upstreamSchema, window: uint }),
  /** The committed window: purge own buffer server up to it; checkpoints older than it may go. */
  z.object({ c: z.literal('committed'), w: uint }),
  /** Refuse and disconnect buffer-server tokens with these sequence numbers. */
  z.object({ c: z.literal('revoke'), seqs: z.array(uint) }),
  /** New credentials, sealed (credentials.ts sealCredentials): the changed fields, merged into what the container holds. */
  z.object({ c: z.literal('credentials'), box: z.custom<Uint8Array>((v) => v instanceof Uint8Array) }),
  /**
   * The last step of a secret rotation (docs/protocol.md "Secret rotation"): once its publishers
   * have re-registered with tokens of the current secret, the buffer server stops accepting every
   * previous one.
   */
  z.object({ c: z.literal('retire-secrets') }),
  z.object({ c: z.literal('shutdown'), reason: z.string() }),
]);
export type Command = z.infer<typeof commandSchema>;

export const heartbeatAckSchema = z.object({
  t: z.literal('heartbeat-ack'),
  commands: z.array(commandSchema),
});
export type HeartbeatAckMessage = z.infer<typeof heartbeatAckSchema>;

/**
 * What authorizeUmbilical reads of an auth request (protocol.ts AuthRequest): its role, and the
 * container a hello names. Only this much, so that the message schemas (protocol.ts, which
 * imports this module's) and this rule depend one way.
 */
export interface UmbilicalRequest {
  readonly role: string;
  readonly container?: string;
}

/**
 * Who may open STRAM's umbilical (docs/protocol.md section 4): a STRAM token admits role hello
 * only, for the container its scope names, of the app this STRAM serves — the one rule common's
 * StramSecretManager and STRAM's own authority both apply.
 */
export function authorizeUmbilical(app: string, identifier: TokenIdentifier, request: UmbilicalRequest): void {
  if (request.role !== 'hello') {
    throw new SluiceError('NOT_ALLOWED', `role "${request.role}" is not served by STRAM's umbilical; containers connect with role hello`);
  }
  const scope = identifier.scope;
  if (!isStramScope(scope)) throw new SluiceError('MALFORMED_TOKEN', 'STRAM token has no {app, container} scope');
  if (scope.app !== app) throw new SluiceError('OUT_OF_SCOPE', `token is for app ${scope.app}, not ${app}`);
  if (scope.container !== request.container) {
    throw new SluiceError('OUT_OF_SCOPE', `token is for container ${scope.container}; it cannot speak for ${request.container}`);
  }
}
