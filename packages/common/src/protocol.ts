import { z } from 'zod';
import { decode } from './codec.js';
import { SluiceError } from './errors.js';

/**
 * Every message on the wire, in one place (DESIGN.md "Authenticated connection", "Buffer server
 * stream"; docs/protocol.md documents them for implementers in other languages).
 * Messages are validated at the edge: `parseFrame` turns bytes into a typed message or throws a
 * SluiceError whose closeCode is 4400.
 */

const MAX_WINDOW = Number.MAX_SAFE_INTEGER;
const bin = z.custom<Uint8Array>((v) => v instanceof Uint8Array, "must be binary (MessagePack bin)");
const bin32 = bin.refine((b) => b.length === 32, 'must be 32 bytes');
const uint = z.number().int().min(0).max(MAX_WINDOW);
const name = z.string().min(1).max(256);

// ---- handshake -------------------------------------------------------------------------------
export const challengeSchema = z.object({ t: z.literal('challenge'), v: z.literal(1), nonce: bin32, service: z.string() });
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
export type AuthMessage = z.infer<typeof authBase> & AuthRequest;

export const welcomeSchema = z.looseObject({ t: z.literal('welcome'), proof: bin32 });
export type WelcomeMessage = z.infer<typeof welcomeSchema>;

// ---- umbilical envelope (DESIGN.md step 4): body is the MessagePack bytes of the inner message --
export const sealedSchema = z.object({ t: z.literal('msg'), seq: uint, body: bin, mac: bin32 });
export type SealedMessage = z.infer<typeof sealedSchema>;

// ---- buffer server stream --------------------------------------------------------------------
export interface BeginMessage { t: 'begin'; w: number }
export interface EndMessage { t: 'end'; w: number }
export interface DataMessage { t: 'data'; w: number; tuples: unknown[]; p?: number[] }

export const purgeSchema = z.object({ t: z.literal('purge'), stream: name, w: uint });
export const resetSchema = z.object({ t: z.literal('reset'), stream: name });
export const revokeSchema = z.object({ t: z.literal('revoke'), seqs: z.array(uint).max(100_000) });
export const statsRequestSchema = z.object({ t: z.literal('stats') });
export const ackSchema = z.looseObject({ t: z.literal('ack'), of: z.string() });
export type PurgeMessage = z.infer<typeof purgeSchema>;
export type ResetMessage = z.infer<typeof resetSchema>;
export type RevokeMessage = z.infer<typeof revokeSchema>;
export type ControlMessage = PurgeMessage | ResetMessage | RevokeMessage | z.infer<typeof statsRequestSchema>;

const isWindow = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Hand-written checks for the hot path (a data message per batch): zod would walk every tuple.
 * Tuples are opaque to Sluice; only `w` and the partition array are checked.
 */
function checkStreamMessage(m: Record<string, unknown>): BeginMessage | EndMessage | DataMessage {
  if (!isWindow(m['w'])) throw invalid(m['t'] as string, 'w must be a non-negative integer below 2^53');
  if (m['t'] !== 'data') return m as unknown as BeginMessage | EndMessage;
  const tuples = m['tuples'];
  if (!Array.isArray(tuples)) throw invalid('data', 'tuples must be an array');
  const p = m['p'];
  if (p !== undefined) {
    if (!Array.isArray(p) || p.length !== tuples.length) throw invalid('data', 'p must be an array as long as tuples');
    for (const v of p) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** 31) throw invalid('data', 'p values must be integers in [0, 2^31)');
    }
  }
  return m as unknown as DataMessage;
}

function invalid(t: string, why: string): SluiceError {
  return new SluiceError('INVALID_MESSAGE', `${t}: ${why}`);
}

const schemas: Record<string, z.ZodType> = {
  challenge: challengeSchema,
  auth: authSchema,
  welcome: welcomeSchema,
  msg: sealedSchema,
  purge: purgeSchema,
  reset: resetSchema,
  revoke: revokeSchema,
  stats: statsRequestSchema,
  ack: ackSchema,
};
const streamTypes = new Set(['begin', 'data', 'end']);

export type MessageType = 'challenge' | 'auth' | 'welcome' | 'msg' | 'begin' | 'data' | 'end' | 'purge' | 'reset' | 'revoke' | 'stats' | 'ack';

/** Validates a decoded value as one of the `allowed` message types. */
export function parseMessage(
  value: unknown,
  allowed: ReadonlySet<string>,
  extra?: Readonly<Record<string, z.ZodType>>,
): Record<string, unknown> & { t: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new SluiceError('INVALID_MESSAGE', 'message must be a MessagePack map with a string field t');
  }
  const t = (value as Record<string, unknown>)['t'];
  if (typeof t !== 'string') throw new SluiceError('INVALID_MESSAGE', 'message must have a string field t');
  const schema = extra?.[t] ?? schemas[t];
  if (!schema && !streamTypes.has(t) && !allowed.has(t)) {
    throw new SluiceError('UNKNOWN_MESSAGE', `unknown message type "${t.slice(0, 40)}"`);
  }
  if (!allowed.has(t)) throw new SluiceError('UNEXPECTED_MESSAGE', `message "${t}" is not allowed here`);
  if (streamTypes.has(t)) return checkStreamMessage(value as Record<string, unknown>) as unknown as Record<string, unknown> & { t: string };
  if (!schema) return value as Record<string, unknown> & { t: string };
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'message';
    throw invalid(t, `${where} ${issue?.message ?? 'is invalid'}`);
  }
  return result.data as Record<string, unknown> & { t: string };
}

/** Bytes of one WebSocket message → a validated message. Text frames are malformed by definition. */
export function parseFrame(
  data: Uint8Array,
  isBinary: boolean,
  allowed: ReadonlySet<string>,
  extra?: Readonly<Record<string, z.ZodType>>,
): Record<string, unknown> & { t: string } {
  if (!isBinary) throw new SluiceError('MALFORMED_FRAME', 'text frames are not accepted; send one binary MessagePack frame');
  return parseMessage(decode(data), allowed, extra);
}

