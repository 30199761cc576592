import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { decode, encode } from './codec.js';
import { SluiceError } from './errors.js';
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
  /** Subscribe tokens by upstream buffer server id: each names exactly the streams this container reads there. */
  subscribe: z.record(z.string(), z.string()),
  /** Where the app lives: app module path and app directory (checkpoints, output). */
  appModule: z.string(),
  appDir: z.string(),
  /** The app config given at launch (non-secret): passed to every operator's `create(config)`. Default {}. */
  config: z.record(z.string(), z.unknown()).optional(),
  /** Non-secret runtime settings. */
  settings: z.object({
    heartbeatIntervalMs: z.number().int().positive(),
    heartbeatTimeoutMs: z.number().int().positive(),
    windowMs: z.number().int().positive(),
    checkpointWindows: z.number().int().positive(),
    insecure: z.boolean(),
    /** How long the container streams on without STRAM before it stops (default heartbeatTimeoutMs); longer than a STRAM restart. */
    stramLossTimeoutMs: z.number().int().positive().optional(),
    /** The app's token max lifetime: publish tokens a container mints for its own buffer server live this long (default 7 days). */
    maxLifetimeMs: z.number().int().positive().optional(),
    /** Address the container's buffer server listens on (default 127.0.0.1; 0.0.0.0 in Docker). */
    bindHost: z.string().optional(),
    /** Host name others reach that buffer server by (default: bindHost, or the hostname when bindHost is a wildcard). */
    advertiseHost: z.string().optional(),
  }),
});
export type Credentials = z.infer<typeof credentialsSchema>;

/** Atomic write: temp file (0600), fsync, rename, fsync the directory. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, data, { mode });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export function writeCredentials(path: string, credentials: Credentials): void {
  writeFileAtomic(path, `${JSON.stringify(credentialsSchema.parse(credentials), null, 2)}\n`);
}

export function readCredentials(path: string): Credentials {
  let text: string;
  try {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new SluiceError('BAD_CONFIG', `credentials file ${path} has mode ${mode.toString(8)}; it must be 0600`);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw new SluiceError('BAD_CONFIG', `cannot read credentials file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = credentialsSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new SluiceError('BAD_CONFIG', `credentials file ${path} is invalid: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  }
  return parsed.data;
}

const BOX_CONTEXT = 'sluice-credentials-v1';

/** Seals a value for the peer of an umbilical session (AES-256-GCM under a key derived from the session key). */
export function sealCredentials(sessionKey: Uint8Array, value: unknown): Buffer {
  const key = hmac(sessionKey, BOX_CONTEXT);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([cipher.update(encode(value)), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]);
}

export function openCredentials(sessionKey: Uint8Array, box: Uint8Array): unknown {
  if (box.length < 12 + 16) throw new SluiceError('BAD_MAC', 'sealed credentials are too short');
  const key = hmac(sessionKey, BOX_CONTEXT);
  const b = Buffer.from(box);
  const decipher = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12));
  decipher.setAuthTag(b.subarray(b.length - 16));
  try {
    return decode(Buffer.concat([decipher.update(b.subarray(12, b.length - 16)), decipher.final()]));
  } catch (err) {
    throw new SluiceError('BAD_MAC', 'sealed credentials do not open with this session key', { cause: err });
  }
}
