import type { Logger } from '@sluice/common';
import { CONSOLE_CSRF_COOKIE, SESSION_COOKIE, type LoginAnswer } from './api.js';
import type { GatewayMetrics } from './metrics.js';
import type { WebSessions } from './web-session.js';

/**
 * Starting a web session, for the API's login and the console's sign-in alike: the token, the
 * `sluice_session` cookie (HttpOnly, SameSite=Strict, Secure under TLS) and, for the console,
 * a second cookie of the same kind that carries the CSRF token to the pages the server renders
 * (script never reads a cookie; the token reaches the page inside its HTML).
 */

export interface SessionParts {
  sessions: WebSessions;
  metrics: GatewayMetrics;
  logger: Logger;
  secureCookie: boolean;
}

export interface StartedSession {
  answer: LoginAnswer;
  cookies: string[];
}

function cookie(name: string, value: string, maxAge: number, secure: boolean): string {
  return `${name}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

export async function startSession(p: SessionParts, principal: string, via: 'api' | 'console'): Promise<StartedSession> {
  const answer = await p.sessions.issue(principal);
  p.metrics.logins.inc();
  p.logger.info({ principal, via, expiresAt: new Date(answer.expiresAt).toISOString() }, 'session issued');
  const maxAge = Math.max(0, Math.floor((answer.expiresAt - Date.now()) / 1000));
  const cookies = [cookie(SESSION_COOKIE, answer.token, maxAge, p.secureCookie)];
  if (via === 'console') cookies.push(cookie(CONSOLE_CSRF_COOKIE, answer.csrfToken, maxAge, p.secureCookie));
  return { answer, cookies };
}

/** The cookies that end a session in the browser. */
export function endedSessionCookies(secure: boolean): string[] {
  return [cookie(SESSION_COOKIE, '', 0, secure), cookie(CONSOLE_CSRF_COOKIE, '', 0, secure)];
}
