import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { SluiceError, readPrivateFile, writeFileAtomic } from '@sluice/common';

/**
 * The gateway's signing keys for its web-service tokens (docs/security.md "Web sessions"): ES256
 * key pairs named by a random `kid`, the newest signs, and a key rolled out of signing is kept
 * for verification until every token it signed has expired. The ring is written through to
 * `<state-dir>/session-keys.json` (0600), so a restarted gateway accepts the tokens it issued.
 * One owner: the WebSessions of one gateway process.
 */

export const SESSION_ALG = 'ES256';
export const KEYS_FILE = 'session-keys.json';

interface StoredKey {
  kid: string;
  /** ms since the epoch. */
  createdAt: number;
  /** When it stopped signing (ms); absent for the current key. */
  retiredAt?: number;
  jwk: JWK;
}

export interface SessionKey {
  kid: string;
  createdAt: number;
  retiredAt?: number;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

export interface KeyRingOptions {
  stateDir: string;
  /** How long the current key signs before a new one takes over. */
  keyRollMs: number;
  /** How long tokens live: a retired key is dropped this long after it stopped signing. */
  tokenTtlMs: number;
}

export class KeyRing {
  private inFlight: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly o: KeyRingOptions,
    private keys: SessionKey[],
  ) {}

  static async open(o: KeyRingOptions): Promise<KeyRing> {
    return new KeyRing(o, await loadKeys(join(o.stateDir, KEYS_FILE)));
  }

  /** The key that signs now, rolling to a new one when it is due (and dropping keys no token needs). */
  current(now: number): Promise<SessionKey> {
    // One at a time: two logins finding the key due at once must roll it once.
    const next = this.inFlight.then(() => this.roll(now));
    this.inFlight = next.catch(() => undefined);
    return next;
  }

  private async roll(now: number): Promise<SessionKey> {
    const before = this.keys.length;
    this.keys = this.keys.filter((k) => k.retiredAt === undefined || k.retiredAt + this.o.tokenTtlMs >= now);
    let signing = this.keys.find((k) => k.retiredAt === undefined);
    let changed = this.keys.length !== before;
    if (!signing || now - signing.createdAt >= this.o.keyRollMs) {
      if (signing) signing.retiredAt = now;
      signing = await newKey(now);
      this.keys.push(signing);
      changed = true;
    }
    if (changed) await this.save();
    return signing;
  }

  /** The key named `kid`, if the gateway still holds it. */
  find(kid: string): SessionKey | undefined {
    return this.keys.find((k) => k.kid === kid);
  }

  private async save(): Promise<void> {
    const stored: StoredKey[] = await Promise.all(
      this.keys.map(async (k) => ({ kid: k.kid, createdAt: k.createdAt, ...(k.retiredAt === undefined ? {} : { retiredAt: k.retiredAt }), jwk: await exportJWK(k.privateKey) })),
    );
    writeFileAtomic(join(this.o.stateDir, KEYS_FILE), `${JSON.stringify({ keys: stored })}\n`, 0o600);
  }
}

async function newKey(now: number): Promise<SessionKey> {
  const { privateKey, publicKey } = await generateKeyPair(SESSION_ALG, { extractable: true });
  return { kid: randomBytes(9).toString('base64url'), createdAt: now, privateKey, publicKey };
}

async function loadKeys(path: string): Promise<SessionKey[]> {
  const bytes = readPrivateFile(path, { what: 'session key file', code: 'STATE_CORRUPT', missingOk: true });
  if (!bytes) return [];
  try {
    const { keys } = JSON.parse(bytes.toString('utf8')) as { keys: StoredKey[] };
    return await Promise.all(
      keys.map(async (k) => {
        const { d: _d, ...pub } = k.jwk;
        return {
          kid: k.kid,
          createdAt: k.createdAt,
          ...(k.retiredAt === undefined ? {} : { retiredAt: k.retiredAt }),
          privateKey: (await importJWK(k.jwk, SESSION_ALG, { extractable: true })) as CryptoKey,
          publicKey: (await importJWK(pub, SESSION_ALG)) as CryptoKey,
        };
      }),
    );
  } catch (err) {
    throw new SluiceError('STATE_CORRUPT', `${path} cannot be read as the gateway's session keys (${(err as Error).message}); move it aside to start with new keys (sessions end)`, { cause: err });
  }
}
