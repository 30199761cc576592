import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { systemClock, isoTime, type Clock } from './clock.js';
import { SluiceError } from './errors.js';
import type { TokenAuthority } from './handshake.js';
import type { Logger } from './logger.js';
import type { AuthRequest } from './protocol.js';
import { writeFileAtomic } from './private-files.js';
import {
  GroupCommit,
  ensureStateDir,
  parseKeysFile,
  parseTokensFile,
  readStateFile,
  serializeKeys,
  serializeTokens,
  type MasterKey,
  type TokenRecord,
} from './state-store.js';
import {
  TokenKind,
  computePassword,
  decodeIdentifier,
  encodeIdentifier,
  isStramScope,
  safeEqual,
  type StramScope,
  type Token,
  type TokenIdentifier,
} from './token.js';
import { authorizeUmbilical } from './umbilical.js';

/**
 * The STRAM delegation-token authority (docs/protocol.md "Tokens"; docs/architecture.md "Token
 * lifetimes and rotation", "State on disk"): Hadoop's AbstractDelegationTokenSecretManager,
 * tightened. One cohesive thing, so one file past 400 lines: issue, verify, renew, cancel, key
 * rolls and their persistence share one token table and one write queue.
 *  - Master keys roll every keyUpdateInterval; a key is stored on disk before it signs anything
 *    and lives keyUpdateInterval + maxLifetime, so it outlives every token it signs.
 *  - Tokens carry a renewal expiry (renewInterval, never past maxDate); only the named renewer
 *    renews, only owner or renewer cancel, and every operation checks the password first.
 *  - Cancelled tokens keep a record until their maxDate, so they report "cancelled", not
 *    "unknown".
 *  - Every mutation resolves only once it is on disk (group commit, one write per tick).
 */

const DAY = 86_400_000;

export interface SecretManagerOptions {
  /** The app whose STRAM this authority is: the umbilical admits only tokens of this app. */
  app: string;
  /** null = in memory only. Files: <stateDir>/keys and <stateDir>/tokens, mode 0600. */
  stateDir: string | null;
  clock?: Clock;
  keyUpdateIntervalMs?: number;
  renewIntervalMs?: number;
  maxLifetimeMs?: number;
  removalScanIntervalMs?: number;
  logger?: Logger;
}

export interface IssueRequest {
  owner: string;
  renewer: string;
  realUser?: string;
  app: string;
  container: string;
}

const defaults = {
  keyUpdateIntervalMs: DAY,
  renewIntervalMs: DAY,
  maxLifetimeMs: 7 * DAY,
  removalScanIntervalMs: 3_600_000,
};

/** How often start()'s timer looks at the clock; the decisions themselves use the injected clock. */
const MAX_TICK_MS = 60_000;
const MIN_TICK_MS = 10;

function checkInterval(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new SluiceError('BAD_CONFIG', `secret manager option ${name} must be a positive whole number of milliseconds, not ${String(value)}`);
  }
  return value;
}

export class StramSecretManager implements TokenAuthority {
  private readonly app: string;
  private readonly clock: Clock;
  private readonly keyUpdateIntervalMs: number;
  private readonly renewIntervalMs: number;
  private readonly maxLifetimeMs: number;
  private readonly removalScanIntervalMs: number;
  private readonly logger: Logger | undefined;
  private readonly keysFile: string | null;
  private readonly tokensFile: string | null;
  private readonly keysCommit: GroupCommit | undefined;
  private readonly tokensCommit: GroupCommit | undefined;

  private keys = new Map<number, MasterKey>();
  private tokens = new Map<number, TokenRecord>();
  private current!: MasterKey;
  private lastKeyId = 0;
  private sequenceNumber = 0;
  private liveTokens = 0;
  private lastRemoval: number;
  private rolls = 0;
  private rolling: Promise<void> | undefined;
  private ticking: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(options: SecretManagerOptions) {
    if (typeof options.app !== 'string' || options.app === '') {
      throw new SluiceError('BAD_CONFIG', 'secret manager option app must name the app whose tokens the umbilical admits');
    }
    this.app = options.app;
    // `??`, not a spread: an option passed as undefined (from JavaScript) means the default.
    this.clock = options.clock ?? systemClock;
    this.keyUpdateIntervalMs = checkInterval('keyUpdateIntervalMs', options.keyUpdateIntervalMs ?? defaults.keyUpdateIntervalMs);
    this.renewIntervalMs = checkInterval('renewIntervalMs', options.renewIntervalMs ?? defaults.renewIntervalMs);
    this.maxLifetimeMs = checkInterval('maxLifetimeMs', options.maxLifetimeMs ?? defaults.maxLifetimeMs);
    this.removalScanIntervalMs = checkInterval('removalScanIntervalMs', options.removalScanIntervalMs ?? defaults.removalScanIntervalMs);
    this.logger = options.logger;
    this.lastRemoval = this.clock.now();
    if (options.stateDir === null) {
      this.keysFile = this.tokensFile = null;
    } else {
      const keysFile = join(options.stateDir, 'keys');
      const tokensFile = join(options.stateDir, 'tokens');
      this.keysFile = keysFile;
      this.tokensFile = tokensFile;
      // Snapshots are taken synchronously at the start of each write (GroupCommit contract). The
      // state directory is made once, by load(): one that vanished is an error, not recreated empty.
      const onDisk = { createDir: false };
      this.keysCommit = new GroupCommit(async () => writeFileAtomic(keysFile, serializeKeys(this.lastKeyId, this.keys.values()), 0o600, onDisk));
      this.tokensCommit = new GroupCommit(async () => writeFileAtomic(tokensFile, serializeTokens(this.sequenceNumber, this.tokens.values()), 0o600, onDisk));
    }
  }

  /**
   * Loads the state in `stateDir`, or starts fresh (directory 0700, a first master key) when it
   * holds none. Damaged, partial or unreadable state is refused with STATE_CORRUPT.
   */
  static async open(options: SecretManagerOptions): Promise<StramSecretManager> {
    const m = new StramSecretManager(options);
    await m.load(options.stateDir);
    return m;
  }

  private async load(stateDir: string | null): Promise<void> {
    if (stateDir === null || this.keysFile === null || this.tokensFile === null) {
      this.current = this.newKey();
      return;
    }
    await ensureStateDir(stateDir);
    const keysBytes = readStateFile(this.keysFile);
    const tokensBytes = readStateFile(this.tokensFile);
    if (keysBytes === undefined && tokensBytes === undefined) {
      this.current = this.newKey();
      await this.keysCommit?.commit();
      await this.tokensCommit?.commit();
      this.logger?.info({ stateDir, keyId: this.current.id }, 'token authority started with fresh state');
      return;
    }
    if (keysBytes === undefined || tokensBytes === undefined) {
      const missing = keysBytes === undefined ? this.keysFile : this.tokensFile;
      throw new SluiceError(
        'STATE_CORRUPT',
        `${missing} is missing but the other token state file exists; restore it from a backup, or remove ${stateDir} to start over (every issued token stops working)`,
      );
    }
    const keys = parseKeysFile(this.keysFile, keysBytes);
    const tokens = parseTokensFile(this.tokensFile, tokensBytes);
    this.lastKeyId = keys.lastKeyId;
    for (const k of keys.keys) this.keys.set(k.id, k);
    // The newest key is current: a key is stored before it becomes current (rollMasterKey).
    this.current = keys.keys.reduce((a, b) => (b.id > a.id ? b : a));
    this.sequenceNumber = tokens.sequenceNumber;
    for (const t of tokens.tokens) {
      this.tokens.set(t.sequenceNumber, t);
      if (!t.cancelled) this.liveTokens++;
    }
    this.logger?.info({ stateDir, keys: this.keys.size, tokens: this.tokens.size, keyId: this.current.id }, 'token authority loaded its state');
  }

  private newKey(): MasterKey {
    const now = this.clock.now();
    const key: MasterKey = { id: ++this.lastKeyId, key: randomBytes(32), created: now, expiryDate: now + this.keyUpdateIntervalMs + this.maxLifetimeMs };
    this.keys.set(key.id, key);
    return key;
  }

  get currentKeyId(): number {
    return this.current.id;
  }

  /** Tokens issued and not cancelled (expired ones count until removeExpired drops them). */
  get tokenCount(): number {
    return this.liveTokens;
  }

  /** Master key rolls since this manager was opened (sluice_master_key_rolls_total). */
  get keyRolls(): number {
    return this.rolls;
  }

  get keyCount(): number {
    return this.keys.size;
  }

  /** Cancelled tokens whose record is kept until their max date. */
  get cancelledCount(): number {
    return this.tokens.size - this.liveTokens;
  }

  /** Writes of the keys and tokens files so far (group commit makes this far below the mutation count). */
  get stateWrites(): { keys: number; tokens: number } {
    return { keys: this.keysCommit?.writes ?? 0, tokens: this.tokensCommit?.writes ?? 0 };
  }

  async issue(req: IssueRequest): Promise<Token> {
    for (const field of ['owner', 'app', 'container'] as const) {
      if (typeof req[field] !== 'string' || req[field] === '') {
        throw new SluiceError('BAD_CONFIG', `cannot issue a STRAM token without ${field}`);
      }
    }
    // A key past its update time must not sign: its tokens could outlive it. Roll first.
    if (this.clock.now() >= this.current.created + this.keyUpdateIntervalMs) await this.rollIfDue();
    const now = this.clock.now();
    const key = this.current;
    const scope: StramScope = { app: req.app, container: req.container };
    const identifier: TokenIdentifier = {
      version: 1,
      kind: TokenKind.stram,
      owner: req.owner,
      renewer: req.renewer,
      realUser: req.realUser ?? '',
      issueDate: now,
      maxDate: now + this.maxLifetimeMs,
      sequenceNumber: ++this.sequenceNumber,
      keyId: key.id,
      scope,
    };
    const idBytes = encodeIdentifier(identifier);
    this.tokens.set(identifier.sequenceNumber, {
      sequenceNumber: identifier.sequenceNumber,
      owner: identifier.owner,
      renewer: identifier.renewer,
      realUser: identifier.realUser,
      issueDate: now,
      maxDate: identifier.maxDate,
      keyId: key.id,
      app: req.app,
      container: req.container,
      renewDate: Math.min(now + this.renewIntervalMs, identifier.maxDate),
      cancelled: false,
    });
    this.liveTokens++;
    await this.tokensCommit?.commit();
    return { identifier: idBytes, password: computePassword(key.key, idBytes), kind: TokenKind.stram, service: `stram:${req.app}` };
  }

  /** TokenAuthority: the password of these identifier bytes under the master key they name. */
  password(idBytes: Uint8Array, identifier: TokenIdentifier): Buffer {
    checkKind(identifier);
    if (!isStramScope(identifier.scope)) {
      throw new SluiceError('MALFORMED_TOKEN', 'STRAM token scope must be {app, container}; the token is damaged or forged');
    }
    const key = this.keys.get(identifier.keyId);
    if (!key) {
      throw new SluiceError('TOKEN_UNKNOWN_KEY', `token ${identifier.sequenceNumber} names master key ${identifier.keyId}, which this STRAM does not hold (expired or never made here); get a new token`);
    }
    return computePassword(key.key, idBytes);
  }

  /** TokenAuthority: expiry, cancellation and existence; call after the password checks out. */
  checkLive(identifier: TokenIdentifier): void {
    checkKind(identifier);
    const now = this.clock.now();
    const seq = identifier.sequenceNumber;
    if (now > identifier.maxDate) {
      throw new SluiceError('TOKEN_EXPIRED', `token ${seq} passed its max date ${isoTime(identifier.maxDate)}; it cannot be renewed, relaunch or ask STRAM for a new token`);
    }
    const record = this.tokens.get(seq);
    if (!record || !sameToken(record, identifier)) {
      throw new SluiceError('TOKEN_UNKNOWN', `token ${seq} was not issued by this STRAM or was removed after it expired; get a new token`);
    }
    if (record.cancelled) {
      throw new SluiceError('TOKEN_CANCELLED', `token ${seq} was cancelled; its holder must get a new token`);
    }
    if (now > record.renewDate) {
      throw new SluiceError('TOKEN_EXPIRED', `token ${seq} expired at ${isoTime(record.renewDate)} because it was not renewed in time; get a new token`);
    }
  }

  /** TokenAuthority: a STRAM token admits its own container of this app to the umbilical (role hello) and nothing else. */
  authorize(identifier: TokenIdentifier, request: AuthRequest): void {
    authorizeUmbilical(this.app, identifier, request);
  }

  /** Full check of a token: decode, password (constant time), then liveness. */
  verify(token: Token): TokenIdentifier {
    const identifier = this.checkPassword(token);
    this.checkLive(identifier);
    return identifier;
  }

  /**
   * Recovery: the live STRAM tokens (not cancelled, within their renewal expiry) issued to
   * `container`, as their holder has them. A recovered STRAM finds there the tokens its
   * predecessor replaced and had not cancelled yet.
   */
  liveTokensOf(container: string): Token[] {
    const now = this.clock.now();
    const out: Token[] = [];
    for (const r of this.tokens.values()) {
      if (r.container !== container || r.cancelled || now > r.renewDate) continue;
      const key = this.keys.get(r.keyId);
      if (!key) continue;
      const identifier: TokenIdentifier = { version: 1, kind: TokenKind.stram, owner: r.owner, renewer: r.renewer, realUser: r.realUser, issueDate: r.issueDate, maxDate: r.maxDate, sequenceNumber: r.sequenceNumber, keyId: r.keyId, scope: { app: r.app, container: r.container } };
      const idBytes = encodeIdentifier(identifier);
      out.push({ identifier: idBytes, password: computePassword(key.key, idBytes), kind: TokenKind.stram, service: `stram:${r.app}` });
    }
    return out;
  }

  /** The current renewal expiry of a token this authority holds a record of. */
  expiryOf(identifier: TokenIdentifier): number | undefined {
    const record = this.tokens.get(identifier.sequenceNumber);
    return record && sameToken(record, identifier) ? record.renewDate : undefined;
  }

  /** Extends a live token's expiry to min(now + renewInterval, maxDate); returns the new expiry. */
  async renew(token: Token, renewer: string): Promise<number> {
    const identifier = this.checkPassword(token);
    if (identifier.renewer === '' || renewer !== identifier.renewer) {
      throw new SluiceError(
        'RENEWER_MISMATCH',
        identifier.renewer === ''
          ? `token ${identifier.sequenceNumber} names no renewer, so nobody may renew it`
          : `${renewer || 'an anonymous caller'} may not renew token ${identifier.sequenceNumber}; only its renewer ${identifier.renewer} may`,
      );
    }
    this.checkLive(identifier);
    const record = this.tokens.get(identifier.sequenceNumber)!;
    record.renewDate = Math.min(this.clock.now() + this.renewIntervalMs, record.maxDate);
    const expiry = record.renewDate;
    await this.tokensCommit?.commit();
    return expiry;
  }

  /** Cancels a token; only its owner or renewer may. The record stays until its max date. */
  async cancel(token: Token, canceller: string): Promise<TokenIdentifier> {
    const identifier = this.checkPassword(token);
    const allowed = canceller !== '' && (canceller === identifier.owner || canceller === identifier.renewer);
    if (!allowed) {
      throw new SluiceError('NOT_ALLOWED', `${canceller || 'an anonymous caller'} may not cancel token ${identifier.sequenceNumber}; only its owner or renewer may`);
    }
    const record = this.tokens.get(identifier.sequenceNumber);
    if (!record || !sameToken(record, identifier)) {
      throw new SluiceError('TOKEN_UNKNOWN', `token ${identifier.sequenceNumber} was not issued by this STRAM or was already removed; nothing to cancel`);
    }
    if (record.cancelled) {
      throw new SluiceError('TOKEN_CANCELLED', `token ${identifier.sequenceNumber} was already cancelled`);
    }
    record.cancelled = true;
    this.liveTokens--;
    await this.tokensCommit?.commit();
    this.logger?.info({ seq: identifier.sequenceNumber, by: canceller }, 'token cancelled');
    return identifier;
  }

  /** Decode and password (constant time), without liveness: renew and cancel judge that themselves. */
  private checkPassword(token: Token): TokenIdentifier {
    const identifier = decodeIdentifier(token.identifier);
    if (!safeEqual(this.password(token.identifier, identifier), token.password)) {
      throw new SluiceError('TOKEN_BAD_PASSWORD', `token ${identifier.sequenceNumber} has a password that does not match its identifier; it is forged, tampered or from another STRAM`);
    }
    return identifier;
  }

  /**
   * Makes a new master key current. It is on disk before it signs anything; the old key stops
   * signing now, so it need only live until now + maxLifetime.
   */
  async rollMasterKey(): Promise<void> {
    const now = this.clock.now();
    const previous = this.current;
    previous.expiryDate = Math.max(Math.min(previous.expiryDate, now + this.maxLifetimeMs), this.latestMaxDate(previous.id));
    const next = this.newKey();
    await this.keysCommit?.commit();
    // Never step back to an older key if two rolls overlap.
    if (next.id > this.current.id) this.current = next;
    this.rolls++;
    this.logger?.info({ keyId: next.id, expires: isoTime(next.expiryDate) }, 'master key rolled');
  }

  /** Rolls once even when many callers find the key due at the same moment. */
  private rollIfDue(): Promise<void> {
    this.rolling ??= inFlight(
      async () => {
        if (this.clock.now() >= this.current.created + this.keyUpdateIntervalMs) await this.rollMasterKey();
      },
      () => (this.rolling = undefined),
    );
    return this.rolling;
  }

  private latestMaxDate(keyId: number): number {
    let latest = 0;
    for (const t of this.tokens.values()) if (t.keyId === keyId && t.maxDate > latest) latest = t.maxDate;
    return latest;
  }

  /**
   * Drops tokens past their renewal expiry or max date, cancellation records past max date, and
   * master keys past their expiry that no remaining token names (never the current key).
   */
  async removeExpired(): Promise<void> {
    const now = this.clock.now();
    let droppedTokens = 0;
    for (const [seq, t] of this.tokens) {
      if (now > t.maxDate || (!t.cancelled && now > t.renewDate)) {
        this.tokens.delete(seq);
        if (!t.cancelled) this.liveTokens--;
        droppedTokens++;
      }
    }
    const inUse = new Set<number>();
    for (const t of this.tokens.values()) inUse.add(t.keyId);
    let droppedKeys = 0;
    for (const [id, k] of this.keys) {
      if (id !== this.current.id && now > k.expiryDate && !inUse.has(id)) {
        this.keys.delete(id);
        droppedKeys++;
      }
    }
    this.lastRemoval = now;
    // Tokens first: a key is only dropped once no stored token names it.
    if (droppedTokens > 0) await this.tokensCommit?.commit();
    if (droppedKeys > 0) await this.keysCommit?.commit();
    if (droppedTokens + droppedKeys > 0) this.logger?.info({ droppedTokens, droppedKeys }, 'removed expired tokens and keys');
  }

  /** One pass of the background work: roll the key when due, scan for expired state when due. */
  tick(): Promise<void> {
    this.ticking ??= inFlight(
      async () => {
        await this.rollIfDue();
        if (this.clock.now() >= this.lastRemoval + this.removalScanIntervalMs) await this.removeExpired();
      },
      () => (this.ticking = undefined),
    );
    return this.ticking;
  }

  start(): void {
    if (this.timer) return;
    // A quarter of the shortest interval, so a roll is late by at most that much (a timer firing
    // exactly on the interval can find the key a hair short of due and wait a whole interval).
    const every = Math.max(MIN_TICK_MS, Math.floor(Math.min(this.keyUpdateIntervalMs, this.removalScanIntervalMs, MAX_TICK_MS) / 4));
    this.timer = setInterval(() => {
      this.tick().catch((err: unknown) => this.logger?.error({ err }, 'token authority background work failed; will retry'));
    }, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops the timers and waits for every pending write. */
  async close(): Promise<void> {
    this.stop();
    await Promise.all([this.ticking?.catch(() => undefined), this.keysCommit?.idle(), this.tokensCommit?.idle()]);
  }
}

/** STRAM accepts its own kind of token only (password and liveness checks alike). */
function checkKind(identifier: TokenIdentifier): void {
  if (identifier.kind !== TokenKind.stram) {
    throw new SluiceError('TOKEN_WRONG_KIND', `token kind ${identifier.kind} is not accepted by STRAM; present a ${TokenKind.stram} token`);
  }
}

/**
 * Runs `work` and calls `done` once it settles, always asynchronously: callers store the
 * promise before `done` can clear it, so a slot never keeps a settled promise (kafkajs-style
 * sharing of the operation already in flight).
 */
function inFlight(work: () => Promise<void>, done: () => void): Promise<void> {
  const p = Promise.resolve().then(work);
  p.then(done, done);
  return p;
}

/** A token record matches an identifier only if every field we issued agrees. */
function sameToken(r: TokenRecord, id: TokenIdentifier): boolean {
  const scope = id.scope as Partial<StramScope>;
  return (
    r.owner === id.owner &&
    r.renewer === id.renewer &&
    r.realUser === id.realUser &&
    r.issueDate === id.issueDate &&
    r.maxDate === id.maxDate &&
    r.keyId === id.keyId &&
    r.app === scope.app &&
    r.container === scope.container
  );
}
