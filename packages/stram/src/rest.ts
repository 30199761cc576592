import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignJWT, decodeJwt, errors, jwtVerify } from 'jose';
import type { Clock, Logger } from '@sluice/common';
import { bind, closeListener, type Listener } from './listener.js';
import type { StramMetrics } from './metrics.js';
import type { RestartRequest } from './replacement.js';

/**
 * STRAM's REST API (docs/architecture.md "Processes"): app info, containers, operators with stats, all three at once, shutdown, restarting a container, and
 * Prometheus `/metrics`. Every request needs a web-service token: an HS256 JWT signed with a
 * per-app key kept in `<appDir>/stram/web-key`, audience = app id, issued to the launching user
 * into `<appDir>/web-token` (0600). Refusals are 401 with a reason code; nothing secret is ever
 * in a response.
 */

export const WEB_TOKEN_ISSUER = 'sluice-stram';

export interface WebTokenClaims {
  app: string;
  user: string;
  now: number;
  ttlMs: number;
  /** What the token may do (`view`, `manage`); a token without a scope, as the app's own web-token file, may do everything. */
  scope?: readonly WebScope[];
}

/** Scopes of a web-service token: `view` reads the app, `manage` also shuts it down and restarts its containers. */
export const WebScope = { view: 'view', manage: 'manage' } as const;
export type WebScope = (typeof WebScope)[keyof typeof WebScope];

/** Who a verified token names and what it may do (undefined: no scope claim, full access). */
export interface WebTokenSubject {
  user: string;
  scope: readonly string[] | undefined;
}

/** Signs a web-service token (HS256) for `user` on `app`. */
export async function signWebToken(key: Uint8Array, c: WebTokenClaims): Promise<string> {
  const iat = Math.floor(c.now / 1000);
  return new SignJWT(c.scope ? { scope: [...c.scope] } : {})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(WEB_TOKEN_ISSUER)
    .setSubject(c.user)
    .setAudience(c.app)
    .setIssuedAt(iat)
    .setExpirationTime(Math.floor((c.now + c.ttlMs) / 1000))
    .setJti(randomBytes(12).toString('base64url'))
    .sign(key);
}

export const RestAuthFailure = {
  missing: 'missing',
  malformed: 'malformed',
  expired: 'expired',
  wrongApp: 'wrong-app',
  badSignature: 'bad-signature',
  invalid: 'invalid',
} as const;
export type RestAuthFailure = (typeof RestAuthFailure)[keyof typeof RestAuthFailure];

export class RestAuthError extends Error {
  constructor(
    readonly reason: RestAuthFailure,
    message: string,
  ) {
    super(message);
  }
}

/** Checks an Authorization header; returns the token's subject and scope or throws RestAuthError. */
export async function verifyWebToken(header: string | undefined, key: Uint8Array, app: string, now: number): Promise<WebTokenSubject> {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) throw new RestAuthError(RestAuthFailure.missing, 'no bearer token; send "Authorization: Bearer <contents of the app directory\'s web-token file>"');
  const jwt = m[1]!;
  try {
    const { payload } = await jwtVerify(jwt, key, { algorithms: ['HS256'], issuer: WEB_TOKEN_ISSUER, audience: app, currentDate: new Date(now), requiredClaims: ['exp', 'sub'] });
    const scope = payload['scope'];
    if (scope !== undefined && !(Array.isArray(scope) && scope.every((x) => typeof x === 'string'))) throw new RestAuthError(RestAuthFailure.malformed, 'web token scope is not a list of names');
    return { user: payload.sub!, scope: scope as string[] | undefined };
  } catch (err) {
    if (err instanceof RestAuthError) throw err;
    if (err instanceof errors.JWTExpired) throw new RestAuthError(RestAuthFailure.expired, `web token expired at ${new Date(Number(err.payload.exp) * 1000).toISOString()}; relaunch or ask the app owner for a new one`);
    if (err instanceof errors.JWSSignatureVerificationFailed || (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud')) {
      // Signed with another key: say whose, if it names another app (it cannot be trusted either way).
      let aud: unknown;
      try {
        aud = decodeJwt(jwt).aud;
      } catch {
        aud = undefined;
      }
      const auds = Array.isArray(aud) ? aud : [aud];
      if (aud !== undefined && !auds.includes(app)) throw new RestAuthError(RestAuthFailure.wrongApp, `web token is for app ${String(auds[0]).slice(0, 80)}, not ${app}`);
      throw new RestAuthError(RestAuthFailure.badSignature, 'web token signature does not verify; it is forged, altered or from another STRAM');
    }
    if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSEAlgNotAllowed) {
      throw new RestAuthError(RestAuthFailure.malformed, `web token is malformed (${(err as Error).message})`);
    }
    throw new RestAuthError(RestAuthFailure.invalid, `web token refused: ${(err as Error).message}`);
  }
}

/** What the REST API asks of STRAM: views without secrets, shutdown, and a container's restart. */
export interface RestBackend {
  app(): unknown;
  containers(): unknown;
  operators(): unknown;
  /** App, containers and operators in one answer (what the gateway shows for an app: one call where it made three). */
  status(): unknown;
  shutdown(reason: string): void;
  restart(container: string): RestartRequest;
}

/** `POST /ws/v1/containers/{id}/restart` → 202; 404 for a container the app has not, 409 while it cannot restart. */
export interface RestartAnswer {
  container: string;
  restart: 'requested';
}

const RESTART_PATH = /^\/ws\/v1\/containers\/([A-Za-z0-9_-]{1,64})\/restart$/;
const RESTART_ROUTE = 'POST /ws/v1/containers/{id}/restart';
const REFUSED_RESTART = { unknown: [404, 'not-found'], 'not-running': [409, 'not-running'], busy: [409, 'busy'] } as const;

export interface RestServerOptions {
  app: string;
  key: Uint8Array;
  backend: RestBackend;
  metrics: StramMetrics;
  clock: Clock;
  logger: Logger;
  host?: string;
  port?: number;
}

export class RestServer {
  private constructor(
    private readonly listener: Listener,
    readonly url: string,
  ) {}

  static async listen(o: RestServerOptions): Promise<RestServer> {
    return RestServer.serve(await bind(o.host ?? '127.0.0.1', o.port), o);
  }

  /** Serves the API on a listener bound beforehand (listener.ts says why). */
  static serve(listener: Listener, o: Omit<RestServerOptions, 'host' | 'port'>): RestServer {
    listener.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      handle(o, req, res).catch((err: unknown) => {
        o.logger.error({ err: (err as Error).message, path: req.url }, 'REST request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal', reason: 'internal error; see STRAM log' });
      });
    });
    // Longer than fetch's own 4 s idle keep-alive, so a client (the gateway proxying, `sluice status
    // --watch`) closes an idle connection before the server does and reuses it until then; shorter
    // and every call paid a new connection, or raced a close.
    listener.server.keepAliveTimeout = 5_000;
    return new RestServer(listener, `http://${listener.host}:${listener.port}`);
  }

  close(): Promise<void> {
    return closeListener(this.listener);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/** The scope each route needs: reading needs view, shutting down and restarting manage. */
const ROUTE_SCOPE: Record<string, WebScope> = {
  [RESTART_ROUTE]: WebScope.manage,
  'GET /ws/v1/app': WebScope.view,
  'GET /ws/v1/containers': WebScope.view,
  'GET /ws/v1/operators': WebScope.view,
  'GET /ws/v1/status': WebScope.view,
  'GET /metrics': WebScope.view,
  'POST /ws/v1/shutdown': WebScope.manage,
};

async function handle(o: Omit<RestServerOptions, 'host' | 'port'>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume(); // bodies are not read: no endpoint takes one
  let subject: WebTokenSubject;
  try {
    subject = await verifyWebToken(req.headers.authorization, o.key, o.app, o.clock.now());
  } catch (err) {
    if (!(err instanceof RestAuthError)) throw err;
    o.metrics.authFailures.inc({ endpoint: 'rest', reason: err.reason });
    o.logger.warn({ reason: err.reason, path: req.url }, 'REST request refused');
    send(res, 401, { error: 'unauthorized', reason: err.reason, message: err.message }, { 'www-authenticate': `Bearer realm="sluice", error="invalid_token"` });
    return;
  }
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const container = req.method === 'POST' ? RESTART_PATH.exec(path)?.[1] : undefined;
  const route = container !== undefined ? RESTART_ROUTE : `${req.method} ${path}`;
  const needs = ROUTE_SCOPE[route];
  if (needs && subject.scope !== undefined && !subject.scope.includes(needs)) {
    o.metrics.authFailures.inc({ endpoint: 'rest', reason: 'scope' });
    o.logger.warn({ reason: 'scope', path: req.url, user: subject.user, needs }, 'REST request refused');
    return send(res, 403, { error: 'forbidden', reason: 'scope', permission: needs, message: `this web token may ${subject.scope.join(', ') || 'do nothing'}; ${route} needs ${needs}` });
  }
  switch (route) {
    case 'GET /ws/v1/app':
      return send(res, 200, o.backend.app());
    case 'GET /ws/v1/containers':
      return send(res, 200, o.backend.containers());
    case 'GET /ws/v1/operators':
      return send(res, 200, o.backend.operators());
    case 'GET /ws/v1/status':
      return send(res, 200, o.backend.status());
    case 'POST /ws/v1/shutdown':
      send(res, 202, { shutdown: 'requested' });
      o.backend.shutdown('requested over REST');
      return;
    case RESTART_ROUTE: {
      const r = o.backend.restart(container!);
      if (r.refused === undefined) {
        o.logger.info({ container, user: subject.user }, 'container restart requested over REST');
        return send(res, 202, { container: container!, restart: 'requested' } satisfies RestartAnswer);
      }
      const [status, error] = REFUSED_RESTART[r.refused];
      return send(res, status, { error, reason: r.reason });
    }
    case 'GET /metrics': {
      const text = await o.metrics.text();
      res.writeHead(200, { 'content-type': o.metrics.contentType });
      res.end(text);
      return;
    }
    default:
      return send(res, 404, { error: 'not-found', reason: `no route ${route.slice(0, 100)}; see docs/guide.md` });
  }
}
