import { MAX_ACCEPTED_SECRETS } from './authority.js';
import { DEFAULT_NAMES_PER_HOLDER } from './subscriber-names.js';
import { processProbe, type MemoryProbe } from './footprint.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_FRAME,
  DEFAULT_MAX_PENDING_HANDSHAKES,
  DEFAULT_PRE_AUTH_MAX_PAYLOAD,
  SluiceError,
  boundNamesSchema,
  createLogger,
  systemClock,
  type BoundNames,
  type Clock,
  type Logger,
  type TlsMaterial,
} from '@sluice/common';

export interface BufferServerOptions {
  /** This server's id: tokens must name it in scope.bs; it is also the challenge's service. */
  id: string;
  /** The 32-byte secret buffer-server tokens for this server are minted from. */
  secret: Uint8Array;
  /**
   * Previous secrets still accepted (a rotation in progress, docs/protocol.md "Secret rotation"):
   * tokens minted from them are welcome until `retireSecrets` drops them. Default none.
   */
  previousSecrets?: Uint8Array[];
  host?: string;
  port?: number;
  /** Parent directory for spool files (a private subdirectory is made in it). Default: OS temp dir. */
  spoolDir?: string;
  /**
   * What the server's process may grow by over its idle size (docs/protocol.md "Bounds"): the
   * stored windows get at most half of it, less when the rest of the process holds more, and the
   * server collects garbage early to stay within it. With `memoryProbe: null`, the bytes of window
   * data held in memory before spilling. Default 256 MiB.
   */
  memoryLimit?: number;
  /**
   * How the server reads its process's footprint against `memoryLimit` (footprint.ts). Default:
   * this process (`process.memoryUsage`, V8's collector on demand). null: the limit bounds the
   * stored window bytes only, for a server sharing its process with work whose growth is not its own.
   */
  memoryProbe?: MemoryProbe | null;
  /** Bytes the spool may hold before publishers are paused. Default 4 × memoryLimit. */
  spoolLimit?: number;
  handshakeTimeoutMs?: number;
  /**
   * Subscriber names one container (or, for tokens without a container, one owner) may bind on
   * this server; names stay bound after their connections close (docs/protocol.md "Subscriber
   * names"), so this bounds the table. Default 1024.
   */
  subscriberNamesPerHolder?: number;
  /**
   * Subscriber names reserved from the start for the containers that subscribe under them,
   * stream → subscriber name → container id (docs/protocol.md "Subscriber names"): a token of
   * another holder is refused 4403 SUBSCRIBER_NAME_TAKEN even when it comes first. Names not
   * listed are bound on first use. More can be reserved later (`BufferServer.reserveNames`).
   * Default none.
   */
  boundNames?: BoundNames;
  /** Largest accepted WebSocket message; larger ones close with 1009. Default 16 MiB. */
  maxPayload?: number;
  /**
   * Largest message accepted before welcome (docs/protocol.md "Limits before welcome"), or
   * maxPayload if smaller; larger ones close with 1009. Default 16 KiB. Checked by HandshakeGate.
   */
  preAuthMaxPayload?: number;
  /** Connections that may be authenticating at once; more close with 4408 at once. Default 256. */
  maxPendingHandshakes?: number;
  clock?: Clock;
  logger?: Logger;
  /**
   * Mutual TLS 1.3 (docs/protocol.md "Transport encryption"): this server's certificate and key,
   * and the roots a client's certificate must chain to. Swapped live with `setTls`. Default: none
   * (plain ws://).
   */
  tls?: TlsMaterial;
  /** How errors name an option, e.g. the CLI's `{ maxPayload: '--max-payload' }`; default: its own name. */
  optionNames?: Partial<Record<keyof BufferServerOptions, string>>;
}

export type ResolvedOptions = Required<Omit<BufferServerOptions, 'optionNames' | 'tls'>> & { tls: TlsMaterial | undefined };

export const DEFAULT_MEMORY_LIMIT = 256 * 1024 * 1024;

/** Defaults first, then the cross-field checks. */
export function resolveOptions(o: BufferServerOptions): ResolvedOptions {
  const memoryLimit = o.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
  const { optionNames, ...given } = o;
  const name = (k: keyof BufferServerOptions): string => optionNames?.[k] ?? k;
  const r: ResolvedOptions = {
    host: '127.0.0.1',
    port: 0,
    spoolDir: join(tmpdir(), 'sluice-spool'),
    spoolLimit: memoryLimit * 4,
    handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
    subscriberNamesPerHolder: DEFAULT_NAMES_PER_HOLDER,
    boundNames: {},
    maxPayload: DEFAULT_MAX_FRAME,
    preAuthMaxPayload: DEFAULT_PRE_AUTH_MAX_PAYLOAD,
    maxPendingHandshakes: DEFAULT_MAX_PENDING_HANDSHAKES,
    clock: systemClock,
    memoryProbe: o.memoryProbe === undefined ? processProbe() : o.memoryProbe,
    logger: o.logger ?? createLogger({ name: 'buffer-server' }),
    ...stripUndefined(given),
    id: o.id,
    secret: o.secret,
    previousSecrets: o.previousSecrets ?? [],
    memoryLimit,
    tls: o.tls,
  };
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(r.id)) throw new SluiceError('BAD_CONFIG', `${name('id')}: "${r.id}" must be 1-128 characters of A-Z a-z 0-9 . _ : -`);
  if (r.secret.length !== 32) throw new SluiceError('BAD_CONFIG', 'secret: a buffer-server secret must be 32 bytes');
  if (r.previousSecrets.some((s) => s.length !== 32)) throw new SluiceError('BAD_CONFIG', 'previousSecrets: a buffer-server secret must be 32 bytes');
  if (r.previousSecrets.length >= MAX_ACCEPTED_SECRETS) throw new SluiceError('BAD_CONFIG', `previousSecrets: at most ${MAX_ACCEPTED_SECRETS - 1}`);
  if (!(r.memoryLimit >= 64 * 1024)) throw new SluiceError('BAD_CONFIG', `${name('memoryLimit')}: ${r.memoryLimit} is below the 64 KiB minimum`);
  if (!(r.spoolLimit >= 0)) throw new SluiceError('BAD_CONFIG', `${name('spoolLimit')}: ${r.spoolLimit} must be zero or more`);
  if (!(r.maxPayload >= 1024)) throw new SluiceError('BAD_CONFIG', `${name('maxPayload')}: ${r.maxPayload} is below 1 KiB`);
  if (!(Number.isSafeInteger(r.subscriberNamesPerHolder) && r.subscriberNamesPerHolder >= 1)) {
    throw new SluiceError('BAD_CONFIG', `${name('subscriberNamesPerHolder')}: ${r.subscriberNamesPerHolder} must be a whole number of at least 1`);
  }
  checkBoundNames(r.boundNames, name('boundNames'));
  if (!(r.handshakeTimeoutMs > 0)) throw new SluiceError('BAD_CONFIG', `${name('handshakeTimeoutMs')} must be positive`);
  return r;
}

/** Throws BAD_CONFIG naming `what` unless `names` maps streams to names to non-empty container ids. */
export function checkBoundNames(names: BoundNames, what: string): void {
  const parsed = boundNamesSchema.safeParse(names);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SluiceError('BAD_CONFIG', `${what}: ${issue ? `${issue.path.join(' / ')}: ${issue.message}` : 'not a map of stream → subscriber name → container id'}`);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
