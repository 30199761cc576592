import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { decode, encode } from './codec.js';
import { SluiceError } from './errors.js';
import { readPrivateFile, writeFileAtomic } from './private-files.js';
import { hmac } from './token.js';

/**
 * A container's credentials file (docs/architecture.md "State on disk"): JSON, mode 0600,
 * written by STRAM before launch; its path (env SLUICE_CREDENTIALS) is the only thing a container
 * is given. Token fields hold the portable text form (token.ts).
 */
export const credentialsSchema = z.object({
  version: z.literal(1),
  app: z.string(),
  container: z.string(),
  /** ws URL of STRAM's umbilical. */
  stram: z.string(),
  /** STRAM delegation token for this container (scope {app, container}). */
  stramToken: z.string(),
  /** The buffer server this container hosts: its id and 32-byte secret (hex). */
  bufferServer: z.object({
    id: z.string(),
    secret: z.string().regex(/^[0-9a-f]{64}$/),
    /**
     * Secrets of this buffer server that are still accepted during a rotation: the current
     * `secret` mints new tokens; holders of tokens from these are switching. Only the umbilical
     * command `retire-secrets` retires them (docs/protocol.md "Secret rotation"). Absent = none.
     */
    previous: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(8).optional(),
  }),
  /**
   * STRAM's revision of these credentials: an integer that grows with every change STRAM makes
   * and rides in each sealed push. A container reports in its heartbeats the revision it has
   * applied, which is how STRAM knows what it holds (docs/protocol.md "Umbilical commands and
   * counters"). Absent = 0.
   */
  revision: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Subscribe tokens by upstream buffer server id: each names exactly the streams this container reads there. */
  subscribe: z.record(z.string(), z.string()),
  /** Where the app lives: app module path and app directory (checkpoints, output). */
  appModule: z.string(),
  appDir: z.string(),
  /**
   * Credentials for the external stores this container's operators use (docs/stores.md), by
   * system (`postgres`): connection fields, the password among them. Only a container whose
   * operators declare the system (or that checkpoints in it) holds one; STRAM pushes renewed and
   * reissued ones sealed like its tokens. Absent = none.
   */
  stores: z.record(z.string(), z.record(z.string(), z.string())).optional(),
  /**
   * Under TLS, the app CA's roots (PEM, at most 4: old and new during a rotation) as they were when
   * this file was issued: the container checks STRAM's umbilical certificate against them until
   * its own certificate brings the current ones (docs/protocol.md "Transport encryption").
   */
  caRoots: z.array(z.string().max(8192)).min(1).max(4).optional(),
  /** The app config given at launch (non-secret): passed to every operator's `create(config)`. Default {}. */
  config: z.record(z.string(), z.unknown()).optional(),
  /** Non-secret runtime settings. */
  settings: z.object({
    heartbeatIntervalMs: z.number().int().positive(),
    heartbeatTimeoutMs: z.number().int().positive(),
    windowMs: z.number().int().positive(),
    checkpointWindows: z.number().int().positive(),
    insecure: z.boolean(),
    /**
     * Mutual TLS on the data plane (docs/protocol.md "Transport encryption"): the container enrols
     * over the umbilical, serves its buffer server over TLS and connects to others with its
     * certificate. Absent = false.
     */
    tls: z.boolean().optional(),
    /** How long the container streams on without STRAM before it stops (default heartbeatTimeoutMs); longer than a STRAM restart. */
    stramLossTimeoutMs: z.number().int().positive().optional(),
    /** The app's token max lifetime: publish tokens a container mints for its own buffer server live this long (default 7 days). */
    maxLifetimeMs: z.number().int().positive().optional(),
    /** Where operators checkpoint: the app directory (default) or the app's PostgreSQL schema. */
    checkpointStore: z.enum(['file', 'postgres']).optional(),
    /** Address the container's buffer server listens on (default 127.0.0.1; 0.0.0.0 in Docker). */
    bindHost: z.string().optional(),
    /** Host name others reach that buffer server by (default: bindHost, or the hostname when bindHost is a wildcard). */
    advertiseHost: z.string().optional(),
  }),
});
export type Credentials = z.infer<typeof credentialsSchema>;

export function writeCredentials(path: string, credentials: Credentials): void {
  writeFileAtomic(path, `${JSON.stringify(credentialsSchema.parse(credentials), null, 2)}\n`);
}

export function readCredentials(path: string): Credentials {
  const text = readPrivateFile(path, { what: 'credentials file', code: 'BAD_CONFIG' }).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SluiceError('BAD_CONFIG', `credentials file ${path} is not JSON; it is damaged, relaunch the container`, { cause: err });
  }
  const parsed = credentialsSchema.safeParse(json);
  if (!parsed.success) {
    throw new SluiceError('BAD_CONFIG', `credentials file ${path} is invalid: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  }
  return parsed.data;
}

const BOX_CONTEXT = 'sluice-credentials-v1';

/**
 * Seals a value for the container at the other end of an umbilical session: AES-256-GCM under
 * HMAC(credentialsKey, "sluice-credentials-v1"), where credentialsKey is the session's
 * server→client key (Session.credentialsKey) — the direction the credentials travel, so the box
 * key belongs to that one session and direction. No MAC'd message can give it away: a MAC covers
 * an 8-byte sequence number first, and "sluice-c" read as one would be a sequence number near
 * 2^63, which no session reaches (docs/protocol.md section 4, "Sealed credentials").
 */
export function sealCredentials(credentialsKey: Uint8Array, value: unknown): Buffer {
  const key = hmac(credentialsKey, BOX_CONTEXT);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([cipher.update(encode(value)), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]);
}

export function openCredentials(credentialsKey: Uint8Array, box: Uint8Array): unknown {
  if (box.length < 12 + 16) throw new SluiceError('BAD_MAC', 'sealed credentials are too short');
  const key = hmac(credentialsKey, BOX_CONTEXT);
  const b = Buffer.from(box);
  const decipher = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12));
  decipher.setAuthTag(b.subarray(b.length - 16));
  try {
    return decode(Buffer.concat([decipher.update(b.subarray(12, b.length - 16)), decipher.final()]));
  } catch (err) {
    throw new SluiceError('BAD_MAC', 'sealed credentials do not open with this session key', { cause: err });
  }
}
