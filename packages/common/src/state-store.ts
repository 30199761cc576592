import { chmod, mkdir } from 'node:fs/promises';
import { SluiceError } from './errors.js';
import { readPrivateFile } from './private-files.js';

/**
 * Durable state files (docs/guide.md "The app directory"): written atomically with mode 0600
 * (private-files.ts) and committed in groups, so that many concurrent mutations share one write
 * while each caller still learns only after its change is on disk.
 */

/**
 * Reads a state file. Returns undefined when it does not exist; a file that cannot be read, or
 * that others may read, is refused rather than treated as absent (never a silent reset).
 */
export function readStateFile(path: string): Buffer | undefined {
  return readPrivateFile(path, { what: 'state file', code: 'STATE_CORRUPT', missingOk: true });
}

/** Creates the state directory (0700) if needed. */
export async function ensureStateDir(dir: string): Promise<void> {
  try {
    const created = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (created === dir) await chmod(dir, 0o700);
  } catch (err) {
    throw new SluiceError('STATE_IO', `cannot create state directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

interface Batch {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Group commit: `commit()` after changing in-memory state; the returned promise settles when a
 * write that *started after the call* has finished. Calls made while a write is running join the
 * next write, so N concurrent mutations cost at most two writes. `write` must take its snapshot
 * synchronously, before its first await.
 */
export class GroupCommit {
  private waiting: Batch | undefined;
  private running: Promise<void> | undefined;
  private count = 0;

  constructor(private readonly write: () => Promise<void>) {}

  commit(): Promise<void> {
    if (!this.waiting) {
      this.waiting = newBatch();
      // setImmediate, not a microtask: every mutation of the current tick joins this write.
      if (!this.running) setImmediate(() => void this.run());
    }
    return this.waiting.promise;
  }

  /** Number of writes done so far (for tests and metrics). */
  get writes(): number {
    return this.count;
  }

  /** Resolves once no write is pending or running. */
  async idle(): Promise<void> {
    while (this.running || this.waiting) {
      await (this.running ?? this.waiting?.promise)?.catch(() => undefined);
    }
  }

  private async run(): Promise<void> {
    const batch = this.waiting;
    if (!batch || this.running) return;
    this.waiting = undefined;
    this.running = (async () => {
      try {
        this.count++;
        await this.write();
        batch.resolve();
      } catch (err) {
        batch.reject(err);
      }
    })();
    await this.running;
    this.running = undefined;
    if (this.waiting) setImmediate(() => void this.run());
  }
}

// ---- the STRAM token authority's two files (docs/architecture.md "State on disk") --------
// JSON with a format name and version; keys as lowercase hex. Any fault is STATE_CORRUPT naming
// the file: a damaged state is never silently replaced by a fresh one.

export const STATE_VERSION = 1;
const KEYS_FORMAT = 'sluice-stram-keys';
const TOKENS_FORMAT = 'sluice-stram-tokens';

export interface MasterKey {
  id: number;
  key: Buffer;
  created: number;
  expiryDate: number;
}

export interface TokenRecord {
  sequenceNumber: number;
  owner: string;
  renewer: string;
  realUser: string;
  issueDate: number;
  maxDate: number;
  keyId: number;
  app: string;
  container: string;
  /** Current renewal expiry: min(last renewal + renewInterval, maxDate). */
  renewDate: number;
  cancelled: boolean;
}

export function serializeKeys(lastKeyId: number, keys: Iterable<MasterKey>): string {
  const list = [...keys].map((k) => ({ id: k.id, key: k.key.toString('hex'), created: k.created, expiryDate: k.expiryDate }));
  return `${JSON.stringify({ format: KEYS_FORMAT, version: STATE_VERSION, lastKeyId, keys: list })}\n`;
}

export function serializeTokens(sequenceNumber: number, tokens: Iterable<TokenRecord>): string {
  return `${JSON.stringify({ format: TOKENS_FORMAT, version: STATE_VERSION, sequenceNumber, tokens: [...tokens] })}\n`;
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string';

function corrupt(path: string, why: string): SluiceError {
  return new SluiceError('STATE_CORRUPT', `token state file ${path} is damaged: ${why}; restore it from a backup, or remove the state directory to start over (every issued token stops working)`);
}

function parseEnvelope(path: string, bytes: Buffer, format: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw corrupt(path, bytes.length === 0 ? 'it is empty' : 'it is not JSON (truncated or overwritten?)');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw corrupt(path, 'it is not a JSON object');
  const obj = raw as Record<string, unknown>;
  if (obj['format'] !== format) throw corrupt(path, `it is not a ${format} file`);
  if (obj['version'] !== STATE_VERSION) {
    throw corrupt(path, `format version ${String(obj['version'])} is not supported (this Sluice reads version ${STATE_VERSION})`);
  }
  return obj;
}

export function parseKeysFile(path: string, bytes: Buffer): { lastKeyId: number; keys: MasterKey[] } {
  const obj = parseEnvelope(path, bytes, KEYS_FORMAT);
  const lastKeyId = obj['lastKeyId'];
  const list = obj['keys'];
  if (!isUint(lastKeyId)) throw corrupt(path, 'lastKeyId is not a non-negative integer');
  if (!Array.isArray(list) || list.length === 0) throw corrupt(path, 'it holds no master keys');
  const seen = new Set<number>();
  const keys = list.map((entry: unknown, i): MasterKey => {
    const k = (entry ?? {}) as Record<string, unknown>;
    const { id, key, created, expiryDate } = k;
    if (!isUint(id) || id === 0 || id > lastKeyId || seen.has(id)) throw corrupt(path, `key ${i} has a missing, zero, duplicate or out-of-range id`);
    if (!isStr(key) || !/^[0-9a-f]{64}$/.test(key)) throw corrupt(path, `key ${id} is not 64 lowercase hex characters`);
    if (!isUint(created) || !isUint(expiryDate)) throw corrupt(path, `key ${id} has a bad created or expiryDate`);
    seen.add(id);
    return { id, key: Buffer.from(key, 'hex'), created, expiryDate };
  });
  return { lastKeyId, keys };
}

export function parseTokensFile(path: string, bytes: Buffer): { sequenceNumber: number; tokens: TokenRecord[] } {
  const obj = parseEnvelope(path, bytes, TOKENS_FORMAT);
  const sequenceNumber = obj['sequenceNumber'];
  const list = obj['tokens'];
  if (!isUint(sequenceNumber)) throw corrupt(path, 'sequenceNumber is not a non-negative integer');
  if (!Array.isArray(list)) throw corrupt(path, 'tokens is not a list');
  const seen = new Set<number>();
  const tokens = list.map((entry: unknown, i): TokenRecord => {
    const t = (entry ?? {}) as Record<string, unknown>;
    const seq = t['sequenceNumber'];
    if (!isUint(seq) || seq === 0 || seq > sequenceNumber || seen.has(seq)) throw corrupt(path, `token ${i} has a missing, duplicate or out-of-range sequence number`);
    for (const f of ['owner', 'renewer', 'realUser', 'app', 'container'] as const) {
      if (!isStr(t[f])) throw corrupt(path, `token ${seq} field ${f} is not a string`);
    }
    for (const f of ['issueDate', 'maxDate', 'keyId', 'renewDate'] as const) {
      if (!isUint(t[f])) throw corrupt(path, `token ${seq} field ${f} is not a non-negative integer`);
    }
    if (typeof t['cancelled'] !== 'boolean') throw corrupt(path, `token ${seq} field cancelled is not true or false`);
    seen.add(seq);
    return {
      sequenceNumber: seq,
      owner: t['owner'] as string,
      renewer: t['renewer'] as string,
      realUser: t['realUser'] as string,
      issueDate: t['issueDate'] as number,
      maxDate: t['maxDate'] as number,
      keyId: t['keyId'] as number,
      app: t['app'] as string,
      container: t['container'] as string,
      renewDate: t['renewDate'] as number,
      cancelled: t['cancelled'] as boolean,
    };
  });
  return { sequenceNumber, tokens };
}
