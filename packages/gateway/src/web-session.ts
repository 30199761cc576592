import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SignJWT, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import type { Clock } from '@sluice/common';
import { GatewayRefusal, RefusalCode, type LoginAnswer } from './api.js';
import { KeyRing, SESSION_ALG } from './session-keys.js';

/**
 * The gateway's web-service tokens (docs/security.md "Web sessions"): a short-lived ES256 JWT,
 * issuer and audience `sluice-gateway`, subject the caller's principal, `kid` naming the ring
 * key that signed it. The token also carries `csrf`, the SHA-256 of the CSRF token login hands
 * out, so a cookie-authenticated request that changes state must echo a value only the page that
 * logged in has. Verification is a pure mapping of jose's outcome to the API's refusal codes.
 */

export const SESSION_ISSUER = 'sluice-gateway';
export const SESSION_AUDIENCE = 'sluice-gateway';

export interface WebSessionOptions {
  stateDir: string;
  tokenTtlMs: number;
  keyRollMs: number;
  clock: Clock;
}

/** A verified session: whom it is for, and the hash its CSRF token must match. */
export interface Session {
  principal: string;
  csrfHash: string;
  expiresAt: number;
}

export class WebSessions {
  private constructor(
    private readonly o: WebSessionOptions,
    private readonly ring: KeyRing,
  ) {}

  static async open(o: WebSessionOptions): Promise<WebSessions> {
    const ring = await KeyRing.open({ stateDir: o.stateDir, keyRollMs: o.keyRollMs, tokenTtlMs: o.tokenTtlMs });
    await ring.current(o.clock.now()); // a first key on disk before any request
    return new WebSessions(o, ring);
  }

  /** A new session for `principal`: the bearer token, when it expires, and its CSRF token. */
  async issue(principal: string): Promise<LoginAnswer> {
    const now = this.o.clock.now();
    const key = await this.ring.current(now);
    const csrfToken = randomBytes(24).toString('base64url');
    const expiresAt = now + this.o.tokenTtlMs;
    const token = await new SignJWT({ csrf: csrfHash(csrfToken) })
      .setProtectedHeader({ alg: SESSION_ALG, kid: key.kid, typ: 'JWT' })
      .setIssuer(SESSION_ISSUER)
      .setAudience(SESSION_AUDIENCE)
      .setSubject(principal)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(expiresAt / 1000))
      .setJti(randomBytes(12).toString('base64url'))
      .sign(key.privateKey);
    return { token, expiresAt: Math.floor(expiresAt / 1000) * 1000, csrfToken };
  }

  /** The session a bearer or cookie token stands for; GatewayRefusal 401 with its code otherwise. */
  async verify(token: string): Promise<Session> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== SESSION_ALG) throw refuse(RefusalCode.badToken, `the token's algorithm is ${String(header.alg).slice(0, 20)}; this gateway issues ${SESSION_ALG} only`);
      kid = header.kid;
    } catch (err) {
      if (err instanceof GatewayRefusal) throw err;
      throw refuse(RefusalCode.badToken, 'the token is not a JWS this gateway issues; log in again (POST /api/v1/login)');
    }
    const key = kid === undefined ? undefined : this.ring.find(kid);
    if (!key) throw refuse(RefusalCode.badSignature, 'the token was signed by a key this gateway does not hold; log in again');
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: [SESSION_ALG],
        issuer: SESSION_ISSUER,
        audience: SESSION_AUDIENCE,
        currentDate: new Date(this.o.clock.now()),
        requiredClaims: ['exp', 'sub'],
      });
      if (typeof payload['csrf'] !== 'string') throw refuse(RefusalCode.badToken, 'the token carries no session binding; log in again');
      return { principal: payload.sub!, csrfHash: payload['csrf'], expiresAt: payload.exp! * 1000 };
    } catch (err) {
      if (err instanceof GatewayRefusal) throw err;
      if (err instanceof errors.JWTExpired) throw refuse(RefusalCode.tokenExpired, `the token expired at ${new Date(Number(err.payload.exp) * 1000).toISOString()}; log in again`);
      if (err instanceof errors.JWSSignatureVerificationFailed) throw refuse(RefusalCode.badSignature, 'the token signature does not verify; it is forged or altered');
      throw refuse(RefusalCode.badToken, 'the token is not one this gateway issues; log in again');
    }
  }
}

/** The value a session's `csrf` claim holds for a CSRF token. */
export function csrfHash(csrfToken: string): string {
  return createHash('sha256').update(csrfToken, 'utf8').digest('base64url');
}

/** Whether `header` (X-CSRF-Token) is the CSRF token of `session`, compared in constant time. */
export function csrfMatches(session: Session, header: string | undefined): boolean {
  if (!header) return false;
  const a = Buffer.from(csrfHash(header));
  const b = Buffer.from(session.csrfHash);
  return a.length === b.length && timingSafeEqual(a, b);
}

function refuse(code: RefusalCode, reason: string): GatewayRefusal {
  return new GatewayRefusal(401, code, reason);
}
