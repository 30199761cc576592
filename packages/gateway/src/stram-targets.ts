import { readFileSync, statSync, type Stats } from 'node:fs';
import type { Clock } from '@sluice/common';
import { AppDir, signWebToken, type WebScope } from '@sluice/stram';

/**
 * Where each app's STRAM listens and the web tokens the gateway calls it with
 * (docs/security.md "Launching as the caller"), read once per STRAM rather than per call: an
 * app's `stram.json` and web key are read again only when either file is no longer the one read
 * (STRAM writes both by rename, so a STRAM that replaced its predecessor — a recovery, a new
 * port, a new key — is a new file), and a caller's token is signed again once half its minute
 * has passed. The tokens stay in the gateway's memory, as before: it never hands them out.
 */

export const PROXY_TOKEN_TTL_MS = 60_000;

export interface Target {
  rest: string;
  token: string;
}

interface Known {
  /** Identity of the two files read: inode, size and modification time. */
  stamp: string;
  rest: string;
  appId: string;
  key: Buffer;
  /** Tokens by caller and scope, with when each is signed anew. */
  tokens: Map<string, { token: string; renewAt: number }>;
}

const stampOf = (s: Stats): string => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

export class StramTargets {
  private readonly known = new Map<string, Known>();

  constructor(private readonly clock: Clock) {}

  /** The STRAM of the app in `appDir` and a token for `caller`; throws when it has not said where it listens (or its key is unreadable). */
  async target(appDir: string, caller: string, scope: readonly WebScope[]): Promise<Target> {
    const known = this.read(appDir);
    const now = this.clock.now();
    const name = `${caller}\n${scope.join(',')}`;
    let t = known.tokens.get(name);
    if (!t || now >= t.renewAt) {
      t = { token: await signWebToken(known.key, { app: known.appId, user: caller, now, ttlMs: PROXY_TOKEN_TTL_MS, scope }), renewAt: now + PROXY_TOKEN_TTL_MS / 2 };
      known.tokens.set(name, t);
    }
    return { rest: known.rest, token: t.token };
  }

  /** STRAM refused a call or did not answer: the next call reads its files again. */
  forget(appDir: string): void {
    this.known.delete(appDir);
  }

  private read(appDir: string): Known {
    const dir = new AppDir(appDir);
    let stamp: string;
    try {
      stamp = `${stampOf(statSync(dir.info))}/${stampOf(statSync(dir.webKey))}`;
    } catch (err) {
      this.known.delete(appDir);
      throw err;
    }
    const cached = this.known.get(appDir);
    if (cached?.stamp === stamp) return cached;
    const { rest, appId } = dir.readInfo();
    const key = Buffer.from(readFileSync(dir.webKey, 'utf8').trim(), 'hex');
    const known = { stamp, rest, appId, key, tokens: new Map() };
    this.known.set(appDir, known);
    return known;
  }
}
