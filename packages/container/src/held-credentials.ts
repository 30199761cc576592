import { credentialsSchema, decodeIdentifier, mintBufferToken, openCredentials, tokenFromText, type Credentials, type Token } from '@sluice/common';

/**
 * The credentials a container holds (docs/architecture.md "State on disk"): read from the file
 * STRAM wrote before the launch, then changed only by what STRAM pushes over the umbilical
 * (docs/protocol.md "Umbilical commands and counters"). They live in this process's memory: the
 * file is STRAM's, which writes every change through to it, so a replacement process or a
 * recovered STRAM finds them there. A container never writes it.
 */

/**
 * Publish tokens a container mints for its own server live as long as the app's tokens
 * (settings.maxLifetimeMs; this when the settings predate it). A publisher re-registers with a
 * fresh one at 75% of its life (publisher-link.ts).
 */
const DEFAULT_PUBLISH_TOKEN_TTL_MS = 7 * 24 * 3600_000;

/** What a push changed. */
export interface Applied {
  /** A new current secret for the container's own buffer server. */
  secret: Buffer | undefined;
  /** Some subscribe token changed: subscriptions can move to the new ones now. */
  subscribe: boolean;
}

export class HeldCredentials {
  constructor(private current: Credentials) {}

  get value(): Readonly<Credentials> {
    return this.current;
  }

  /**
   * A sealed push (renewed or reissued tokens, a new own secret): opened with the session's credentials key,
   * merged, validated. Throws, changing nothing, on a box that does not open, does not hold
   * credentials, or is for another container or buffer server.
   */
  apply(sessionKey: Uint8Array, box: Uint8Array): Applied {
    const opened = openCredentials(sessionKey, box);
    if (opened === null || typeof opened !== 'object' || Array.isArray(opened)) throw new Error('sealed credentials do not hold an object');
    const prev = this.current;
    const next = credentialsSchema.parse({ ...prev, ...(opened as Record<string, unknown>) });
    if (next.container !== prev.container || next.app !== prev.app) throw new Error('new credentials are for another container');
    if (next.bufferServer.id !== prev.bufferServer.id) throw new Error('new credentials are for another buffer server');
    this.current = next;
    return {
      secret: next.bufferServer.secret === prev.bufferServer.secret ? undefined : Buffer.from(next.bufferServer.secret, 'hex'),
      subscribe: JSON.stringify(next.subscribe) !== JSON.stringify(prev.subscribe),
    };
  }

  /** `retire-secrets`: the previous secrets of the own buffer server are no longer held. */
  dropPrevious(): void {
    const { id, secret } = this.current.bufferServer;
    this.current = { ...this.current, bufferServer: { id, secret } };
  }

  /** Previous own secrets still accepted (a rotation in progress). */
  previousSecrets(): Buffer[] {
    return (this.current.bufferServer.previous ?? []).map((h) => Buffer.from(h, 'hex'));
  }

  stramToken(): Token {
    return tokenFromText(this.current.stramToken);
  }

  /**
   * A fresh publish token for `stream` on the own buffer server, minted from its current secret,
   * for whom the app runs as: the owner and realUser of its STRAM token.
   */
  publishToken(stream: string, now: number): Token {
    const c = this.current;
    const { owner, realUser } = decodeIdentifier(this.stramToken().identifier);
    return mintBufferToken({
      secret: Buffer.from(c.bufferServer.secret, 'hex'),
      bs: c.bufferServer.id,
      streams: [stream],
      access: 'publish',
      container: c.container,
      owner,
      realUser,
      now,
      ttlMs: c.settings.maxLifetimeMs ?? DEFAULT_PUBLISH_TOKEN_TTL_MS,
    });
  }

  subscribeToken(bufferServer: string): Token {
    const text = this.current.subscribe[bufferServer];
    if (text === undefined) throw new Error(`no subscribe token for buffer server ${bufferServer} in the credentials`);
    return tokenFromText(text);
  }
}
