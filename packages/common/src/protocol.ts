import { z } from 'zod';
import { decode } from './codec.js';
import { SluiceError } from './errors.js';
import { heartbeatAckSchema, heartbeatSchema } from './umbilical.js';
import { plainAuth, plainChallenge, plainHeartbeat, plainSealed, plainWelcome } from './plain-messages.js';

/**
 * Every message on the wire, in one place (docs/protocol.md sections 4 and 5, which document
 * them for implementers in other languages). Messages are validated at the edge: `parseFrame`
 * turns bytes into one of the message types its caller allows, typed as the union of exactly
 * those, or throws a SluiceError whose closeCode is 4400.
 */

const MAX_WINDOW = Number.MAX_SAFE_INTEGER;
const bin = z.custom<Uint8Array>((v) => v instanceof Uint8Array, "must be binary (MessagePack bin)");
const bin32 = bin.refine((b) => b.length === 32, 'must be 32 bytes');
const uint = z.number().int().min(0).max(MAX_WINDOW);
const name = z.string().min(1).max(256);

// ---- handshake -------------------------------------------------------------------------------
// v:1 without TLS; v:2 when the proofs append the TLS exporter value (docs/protocol.md "Transport encryption").
export const challengeSchema = z.object({ t: z.literal('challenge'), v: z.union([z.literal(1), z.literal(2)]), nonce: bin32, service: z.string() });
export type ChallengeMessage = z.infer<typeof challengeSchema>;

export const partitionsSchema = z.object({
  mask: z.number().int().min(0).max(2 ** 31 - 1),
  keys: z.array(z.number().int().min(0).max(2 ** 31 - 1)).max(65_536),
});
export type PartitionFilter = z.infer<typeof partitionsSchema>;

export const helloRequest = z.object({ role: z.literal('hello'), container: name });
export const publishRequest = z.object({ role: z.literal('publish'), stream: name, window: uint });
export const subscribeRequest = z.object({
  role: z.literal('subscribe'),
  stream: name,
  subscriber: name,
  window: uint,
  partitions: partitionsSchema.optional(),
});
export const controlRequest = z.object({ role: z.literal('control') });
export const authRequestSchema = z.discriminatedUnion('role', [helloRequest, publishRequest, subscribeRequest, controlRequest]);
export type AuthRequest = z.infer<typeof authRequestSchema>;
export type PublishRequest = z.infer<typeof publishRequest>;
export type SubscribeRequest = z.infer<typeof subscribeRequest>;

const authBase = z.object({ t: z.literal('auth'), id: bin.refine((b) => b.length <= 4096, 'identifier too long'), cnonce: bin32, proof: bin32 });
export const authSchema = z.intersection(authBase, authRequestSchema);
export type AuthMessage = z.infer<typeof authSchema>;

export const welcomeSchema = z.looseObject({ t: z.literal('welcome'), proof: bin32 });
export type WelcomeMessage = z.infer<typeof welcomeSchema>;

// ---- certificate enrolment, inside the sealed umbilical (docs/protocol.md "Transport encryption") --
const der = bin.refine((b) => b.length > 0 && b.length <= 16_384, 'must be 1 to 16384 bytes of DER');
/** Container → STRAM: sign a certificate over this key (DER PKCS#10); STRAM sets the names. */
export const csrSchema = z.object({ t: z.literal('csr'), csr: der });
/** STRAM → container: the signed chain (leaf first) and every root to trust now. */
export const certSchema = z.object({ t: z.literal('cert'), chain: z.array(der).min(1).max(4), roots: z.array(der).min(1).max(4) });
export type CsrMessage = z.infer<typeof csrSchema>;
export type CertMessage = z.infer<typeof certSchema>;

// ---- umbilical envelope (docs/protocol.md section 4, step 4): body is the MessagePack bytes of the inner message --
export const sealedSchema = z.object({ t: z.literal('msg'), seq: uint, body: bin, mac: bin32 });
export type SealedMessage = z.infer<typeof sealedSchema>;

// ---- buffer server stream --------------------------------------------------------------------
export type BeginMessage = { t: 'begin'; w: number };
export type EndMessage = { t: 'end'; w: number };
export type DataMessage = { t: 'data'; w: number; tuples: unknown[]; p?: number[] };

export const purgeSchema = z.object({ t: z.literal('purge'), stream: name, w: uint });
export const resetSchema = z.object({ t: z.literal('reset'), stream: name });
export const revokeSchema = z.object({ t: z.literal('revoke'), seqs: z.array(uint).max(100_000) });
export const statsRequestSchema = z.object({ t: z.literal('stats') });
export const ackSchema = z.looseObject({ t: z.literal('ack'), of: z.string() });
export type PurgeMessage = z.infer<typeof purgeSchema>;
export type ResetMessage = z.infer<typeof resetSchema>;
export type RevokeMessage = z.infer<typeof revokeSchema>;
export type AckMessage = z.infer<typeof ackSchema>;

// The figures of a stats ack (docs/protocol.md "Control"). Limits and counters are plain numbers:
// a limit may be configured past 2^53 or as Infinity, and the ack is only ever read, never trusted.
const figure = z.custom<number>((v) => typeof v === 'number', 'must be a number');
export const subscriberStatsSchema = z.object({
  tuplesOut: figure,
  bytesOut: figure,
  /** Retained windows this subscriber has not fully received yet. */
  lagWindows: figure,
  from: figure,
});
export const streamStatsSchema = z.object({
  /** Oldest and newest retained window; null when none is retained. */
  firstWindow: figure.nullable(),
  lastWindow: figure.nullable(),
  windows: figure,
  purgedThrough: figure,
  tuplesIn: figure,
  bytesIn: figure,
  publisher: z.boolean(),
  subscribers: z.record(z.string(), subscriberStatsSchema),
});
export const bufferServerStatsSchema = z.object({
  /** Bytes of window data in memory (resident windows + frames read back from the spool). */
  memoryBytes: figure,
  peakMemoryBytes: figure,
  memoryLimit: figure,
  /** Bytes in spool files right now. */
  spoolBytes: figure,
  spoolLimit: figure,
  /** Bytes ever moved to the spool. */
  spilledBytes: figure,
  /** True while publishers are not read (memory and spool full). */
  paused: z.boolean(),
  /** How many times publishers were paused. */
  pauses: figure,
  connections: figure,
  /** Subscriber names bound to a container or owner (docs/protocol.md "Subscriber names"). */
  boundNames: figure,
  /** Subscribe attempts refused (4403 SUBSCRIBER_NAME_TAKEN) because the name belonged to another holder. */
  takeoversRefused: figure,
  /** Connections opened but not yet welcomed or refused (docs/protocol.md "Limits before welcome"). */
  pendingHandshakes: figure,
  /** Refused handshakes since the server started, by error code (e.g. FRAME_TOO_BIG, TOO_MANY_HANDSHAKES, BAD_PROOF). */
  authRefusals: z.record(z.string(), figure),
  streams: z.record(z.string(), streamStatsSchema),
});
export type SubscriberStats = z.infer<typeof subscriberStatsSchema>;
export type StreamStats = z.infer<typeof streamStatsSchema>;
export type BufferServerStats = z.infer<typeof bufferServerStatsSchema>;

/** The schema of every message type but the stream's three (checked by hand below), by `t`. */
const schemas = {
  challenge: challengeSchema,
  auth: authSchema,
  welcome: welcomeSchema,
  msg: sealedSchema,
  purge: purgeSchema,
  reset: resetSchema,
  revoke: revokeSchema,
  stats: statsRequestSchema,
  ack: ackSchema,
  heartbeat: heartbeatSchema,
  'heartbeat-ack': heartbeatAckSchema,
  csr: csrSchema,
  cert: certSchema,
} as const;
type Schemas = typeof schemas;
const STREAM_TYPES = ['begin', 'data', 'end'] as const;
type StreamType = (typeof STREAM_TYPES)[number];

/** Every message, by its `t`. */
export type Messages = { [K in keyof Schemas]: z.infer<Schemas[K]> } & { begin: BeginMessage; data: DataMessage; end: EndMessage };
export type MessageType = keyof Messages;
/** One message of the given type(s): a union discriminated by `t`. */
export type Message<T extends MessageType = MessageType> = Messages[T];

function isSchemaType(t: string): t is keyof Schemas {
  return Object.hasOwn(schemas, t);
}

function isStreamType(t: string): t is StreamType {
  return (STREAM_TYPES as readonly string[]).includes(t);
}

function invalid(t: string, why: string): SluiceError {
  return new SluiceError('INVALID_MESSAGE', `${t}: ${why}`);
}

/** Runs a schema over a message of type `t`; the first issue becomes an INVALID_MESSAGE naming its field. */
function validate<S extends z.ZodType>(schema: S, value: unknown, t: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'message';
  throw invalid(t, `${where} ${issue?.message ?? 'is invalid'}`);
}

const isWindow = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Hand-written checks for the hot path (a data message per batch): zod would walk every tuple.
 * Tuples are opaque to Sluice; only `w` and the partition array are checked.
 */
function checkStreamMessage(t: StreamType, m: Record<string, unknown>): Message<StreamType> {
  const w = m['w'];
  if (!isWindow(w)) throw invalid(t, 'w must be a non-negative integer below 2^53');
  if (t !== 'data') return { t, w };
  const tuples = m['tuples'];
  if (!Array.isArray(tuples)) throw invalid('data', 'tuples must be an array');
  const p = m['p'];
  if (p === undefined) return { t, w, tuples };
  if (!Array.isArray(p) || p.length !== tuples.length) throw invalid('data', 'p must be an array as long as tuples');
  for (const v of p) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** 31) throw invalid('data', 'p values must be integers in [0, 2^31)');
  }
  return { t, w, tuples, p };
}

/** The hand checks of the messages read most often: the umbilical's every second, the handshake's per connection. */
const PLAIN_CHECKS: Partial<Record<MessageType, (m: Record<string, unknown>) => Record<string, unknown> | undefined>> = {
  msg: plainSealed,
  heartbeat: plainHeartbeat,
  challenge: plainChallenge,
  auth: plainAuth,
  welcome: plainWelcome,
};

/**
 * Validates a decoded value as one of the `allowed` message types. Faults, in this order: not a
 * map with a string `t` (INVALID_MESSAGE), a `t` no Sluice message has (UNKNOWN_MESSAGE), one
 * not allowed here (UNEXPECTED_MESSAGE), a field missing or of the wrong type (INVALID_MESSAGE).
 */
export function parseMessage<const T extends MessageType>(value: unknown, allowed: readonly T[]): Message<T> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new SluiceError('INVALID_MESSAGE', 'message must be a MessagePack map with a string field t');
  }
  const m = value as Record<string, unknown>;
  const t = m['t'];
  if (typeof t !== 'string') throw new SluiceError('INVALID_MESSAGE', 'message must have a string field t');
  if (!isSchemaType(t) && !isStreamType(t)) throw new SluiceError('UNKNOWN_MESSAGE', `unknown message type "${t.slice(0, 40)}"`);
  if (!(allowed as readonly string[]).includes(t)) throw new SluiceError('UNEXPECTED_MESSAGE', `message "${t}" is not allowed here`);
  // `t` is one of `allowed`, and the schema (or the stream check) of `t` returns a Message<t>.
  // The messages read most often try a hand check first (plain-messages.ts); it only ever agrees with the schema.
  const plain = PLAIN_CHECKS[t]?.(m);
  if (plain) return plain as Message<T>;
  const message = isStreamType(t) ? checkStreamMessage(t, m) : validate(schemas[t], m, t);
  return message as Message<T>;
}

/** Bytes of one WebSocket message → a validated message. Text frames are malformed by definition. */
export function parseFrame<const T extends MessageType>(data: Uint8Array, isBinary: boolean, allowed: readonly T[]): Message<T> {
  if (!isBinary) throw new SluiceError('MALFORMED_FRAME', 'text frames are not accepted; send one binary MessagePack frame');
  return parseMessage(decode(data), allowed);
}

/** The figures of a stats ack (a buffer server's `{t:"ack", of:"stats", ...figures}`). */
export function statsOfAck(ack: AckMessage): BufferServerStats {
  const { t: _t, of: _of, ...figures } = ack;
  return validate(bufferServerStatsSchema, figures, 'ack');
}

/**
 * Any failure while handling a peer's frame, as the SluiceError to close with: a SluiceError as it
 * is, anything else (a library throwing on odd input) as MALFORMED_FRAME, 4400 — never a crash.
 */
export function asFrameError(err: unknown, what: string): SluiceError {
  if (err instanceof SluiceError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new SluiceError('MALFORMED_FRAME', `${what} could not be processed (${detail.slice(0, 60)})`, { cause: err });
}
