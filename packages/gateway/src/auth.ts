import type { IncomingMessage } from 'node:http';
import { CSRF_HEADER, GatewayRefusal, RefusalCode, SESSION_COOKIE } from './api.js';
import { cookieValue } from './http-io.js';
import { csrfMatches, type Session, type WebSessions } from './web-session.js';

/**
 * Who is calling (docs/security.md "Authenticating to the gateway"): a SPNEGO ticket
 * (`Authorization: Negotiate`), a session token (`Authorization: Bearer`), or the session cookie.
 * The Authorization header wins over the cookie. A cookie comes with every request a browser
 * makes, so a request that changes state made with it must also carry the session's CSRF token.
 */

/** Accepts a SPNEGO `Authorization` header (the Kerberos acceptor), or throws GatewayRefusal 401. */
export interface NegotiateAcceptor {
  accept(header: string | undefined): Promise<{ principal: string }>;
}

export const Via = { negotiate: 'negotiate', bearer: 'bearer', cookie: 'cookie' } as const;
export type Via = (typeof Via)[keyof typeof Via];

export interface Caller {
  principal: string;
  via: Via;
}

/** Methods that change state: a cookie needs its CSRF token for them, and each is audited. */
export const STATE_CHANGING: ReadonlySet<string> = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);

export function noCredentials(reason = 'no credentials: send "Authorization: Negotiate" (kinit, then curl --negotiate -u :), a bearer token from POST /api/v1/login, or its cookie'): GatewayRefusal {
  return new GatewayRefusal(401, RefusalCode.noCredentials, reason);
}

export async function authenticate(req: IncomingMessage, acceptor: NegotiateAcceptor, sessions: WebSessions, only?: Via): Promise<Caller> {
  const authorization = req.headers.authorization;
  const scheme = authorization?.split(' ', 1)[0]?.toLowerCase();
  if (scheme === 'negotiate') return { principal: (await acceptor.accept(authorization)).principal, via: Via.negotiate };
  if (only === Via.negotiate) throw noCredentials('log in with "Authorization: Negotiate" (a Kerberos ticket for the gateway)');
  if (scheme === 'bearer') return { principal: (await sessions.verify(authorization!.slice(7).trim())).principal, via: Via.bearer };
  if (authorization !== undefined) throw noCredentials(`the Authorization scheme "${(scheme ?? '').slice(0, 20)}" is not Negotiate or Bearer`);
  const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
  if (cookie === undefined) throw noCredentials();
  const session: Session = await sessions.verify(cookie);
  const csrf = req.headers[CSRF_HEADER];
  if (STATE_CHANGING.has(req.method ?? '') && !csrfMatches(session, typeof csrf === 'string' ? csrf : undefined)) {
    throw new GatewayRefusal(403, RefusalCode.csrf, `a ${req.method} with the session cookie needs the session's ${CSRF_HEADER} header (the csrfToken login returned)`);
  }
  return { principal: session.principal, via: Via.cookie };
}
