import type { IncomingMessage, ServerResponse } from 'node:http';
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { AppDir } from '@sluice/stram';
import { Action, AppState, CONSOLE_CSRF_COOKIE, CONSOLE_PREFIX, GatewayRefusal, Permission, RefusalCode, SESSION_COOKIE, type AppDetail } from '../api.js';
import { auditDecision } from '../audit-log.js';
import { authenticate, noCredentials, type Caller, type NegotiateAcceptor } from '../auth.js';
import { cookieValue, readForm } from '../http-io.js';
import type { KeytabLoginFigures } from '../metrics.js';
import { summaryOf, type AppEntry } from '../registry.js';
import { findApp, type RouteParts } from '../routes.js';
import { endedSessionCookies, startSession } from '../session-cookies.js';
import { appPage, appsPage, logPage, type AppRow } from './app-pages.js';
import { auditPage, healthPage, signInPage, type AppRenewal } from './health-pages.js';
import { html } from './html.js';
import type { LiveStreams } from './live.js';
import { consolePath, page, sendHtml, type PageFrame, type Viewer } from './page.js';
import { StaticFiles } from './static-files.js';
import { figuresOf, liveOf, type AppFigures } from './views.js';

/**
 * The web console under `/console/` (docs/console.md): server-rendered pages from the same
 * registry, authorizer and STRAM proxy as the API. A request without a session gets the
 * sign-in page with 401 and `WWW-Authenticate: Negotiate`, so a browser holding a Kerberos
 * ticket answers with SPNEGO; the gateway then starts a cookie session and sends the browser
 * back to the page. Every page asks authorize() as the API does, and a denial is audited.
 */

export interface ConsoleOptions {
  acceptor: NegotiateAcceptor;
  /** `--insecure-dev-login`: a form that signs anyone in as any principal, and a red banner on every page. */
  devLogin: boolean;
  keytab: (() => KeytabLoginFigures) | undefined;
  /** The live figures' streams (how often they poll STRAM, how many may be open). */
  live: LiveStreams;
  statics: StaticFiles;
}

const AUDIT_ROWS = 200;
const LOG_LINES = 200;
const LOG_TAIL_BYTES = 64 * 1024;

/** Serves one console request; answers the route label for the request metric. */
export async function serveConsole(p: RouteParts, c: ConsoleOptions, req: IncomingMessage, res: ServerResponse, path: string): Promise<string> {
  const rest = path.slice(CONSOLE_PREFIX.length);
  const method = req.method ?? 'GET';
  const frame: PageFrame = { viewer: undefined, devLogin: c.devLogin };
  try {
    if (rest === '') {
      res.writeHead(308, { location: `${CONSOLE_PREFIX}/` }).end();
      return '/console';
    }
    if (rest.startsWith('/static/')) {
      c.statics.send(res, rest.slice('/static/'.length));
      return '/console/static';
    }
    if (rest === '/signed-out' && method === 'GET') {
      sendHtml(res, 200, page(frame, 'Signed out', html`<p>You are signed out. <a href="${consolePath('sign-in')}">Sign in again</a>.</p>`));
      return '/console/signed-out';
    }
    if (rest === '/dev-login' && method === 'POST' && c.devLogin) {
      const form = await readForm(req, p.maxBodyBytes);
      const principal = (form.get('principal') ?? '').trim();
      if (!/^[^\s@,*?]+@[^\s@,*?]+$/.test(principal)) throw new GatewayRefusal(400, RefusalCode.badRequest, 'give a principal such as alice@EXAMPLE.COM');
      p.logger.warn({ principal }, 'insecure development sign-in');
      const { cookies } = await startSession(p, principal, 'console');
      res.writeHead(303, { location: safeNext(form.get('next')), 'set-cookie': cookies, 'cache-control': 'no-store' }).end();
      return '/console/dev-login';
    }
    if (rest === '/sign-out' && method === 'POST') {
      const form = await readForm(req, p.maxBodyBytes);
      req.headers['x-csrf-token'] ??= form.get('csrf') ?? '';
      await authenticate(req, c.acceptor, p.sessions);
      res.writeHead(303, { location: consolePath('signed-out'), 'set-cookie': endedSessionCookies(p.secureCookie), 'cache-control': 'no-store' }).end();
      return '/console/sign-out';
    }
    if (method !== 'GET') throw new GatewayRefusal(404, RefusalCode.notFound, `no console action ${method} ${path.slice(0, 100)}; the console's actions go through the API under /api/v1`);
    const caller = await signedIn(p, c, req, res);
    if (!caller) return '/console/sign-in';
    frame.viewer = viewerOf(p, req, caller);
    return await servePage(p, c, frame, caller, req, res, rest);
  } catch (err) {
    return refusePage(p, c, frame, req, res, err);
  }
}

/** The caller of a console request; undefined when a Negotiate sign-in has just been answered with its cookies and a redirect back. */
async function signedIn(p: RouteParts, c: ConsoleOptions, req: IncomingMessage, res: ServerResponse): Promise<Caller | undefined> {
  const url = new URL(req.url ?? '/', 'http://gateway');
  // A browser that still sends Negotiate with a good session cookie is signed in already.
  const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
  if (/^negotiate /i.test(req.headers.authorization ?? '') && cookie !== undefined && (await p.sessions.verify(cookie).then(() => true, () => false))) delete req.headers.authorization;
  const caller = await authenticate(req, c.acceptor, p.sessions);
  if (caller.via !== 'negotiate') {
    if (url.pathname === consolePath('sign-in')) {
      res.writeHead(303, { location: safeNext(url.searchParams.get('next')), 'cache-control': 'no-store' }).end();
      return undefined;
    }
    return caller;
  }
  const { cookies } = await startSession(p, caller.principal, 'console');
  const back = url.pathname === consolePath('sign-in') ? safeNext(url.searchParams.get('next')) : `${url.pathname}${url.search}`;
  res.writeHead(303, { location: back, 'set-cookie': cookies, 'cache-control': 'no-store' }).end();
  return undefined;
}

/** Only a console path may be where a sign-in sends the browser next (no open redirect). */
function safeNext(next: string | null | undefined): string {
  return next && /^\/console\/[A-Za-z0-9_./%-]*$/.test(next) && !next.includes('//') ? next : `${CONSOLE_PREFIX}/`;
}

function viewerOf(p: RouteParts, req: IncomingMessage, caller: Caller): Viewer {
  return {
    principal: caller.principal,
    csrf: caller.via === 'cookie' ? (cookieValue(req.headers.cookie, CONSOLE_CSRF_COOKIE) ?? '') : '',
    canAudit: p.authz.authorize(caller.principal, Action.readAudit).allowed,
  };
}

/** authorize(), with a denial counted, audited and thrown as the API does. */
function allow(p: RouteParts, caller: Caller, action: Action, entry?: AppEntry): void {
  const decision = p.authz.authorize(caller.principal, action, entry);
  if (decision.allowed) return;
  p.metrics.denials.inc({ permission: decision.permission ?? '' });
  auditDecision(p.audit, p.logger, { caller, action, app: entry?.id ?? '', decision }, 403);
  throw p.authz.refusal(caller.principal, action, decision, entry);
}

async function detailOf(p: RouteParts, caller: Caller, entry: AppEntry): Promise<{ detail: AppDetail; figures: AppFigures | undefined }> {
  const detail = await p.proxy.status(entry, caller.principal, p.authz.scopes(caller.principal, entry));
  return { detail, figures: figuresOf(detail) };
}

/** The app's detail, or its registry view alone while its STRAM does not answer. */
async function detailOrSummary(p: RouteParts, caller: Caller, entry: AppEntry): Promise<{ detail: AppDetail; figures: AppFigures | undefined }> {
  try {
    return await detailOf(p, caller, entry);
  } catch (err) {
    if (err instanceof GatewayRefusal && err.code === RefusalCode.appUnreachable) return { detail: { ...summaryOf(entry), status: null }, figures: undefined };
    throw err;
  }
}

async function servePage(p: RouteParts, c: ConsoleOptions, frame: PageFrame, caller: Caller, req: IncomingMessage, res: ServerResponse, rest: string): Promise<string> {
  const now = Date.now();
  const visible = () => p.registry.list().filter((e) => p.authz.authorize(caller.principal, Action.viewApp, e).allowed);
  if (rest === '/' || rest === '/sign-in') {
    const rows: AppRow[] = await Promise.all(visible().map(async (e) => {
      const { detail, figures } = await detailOrSummary(p, caller, e);
      return { summary: summaryOf(e, detail.state), figures };
    }));
    sendHtml(res, 200, appsPage(frame, rows, now));
    return '/console/';
  }
  if (rest === '/security') {
    const apps: AppRenewal[] = [];
    for (const e of visible()) {
      const { figures } = await detailOrSummary(p, caller, e);
      if (!figures || figures.state.toUpperCase() !== AppState.running) continue;
      const expiries = figures.containers.map((x) => x.tokens?.expiry).filter((x): x is string => !!x).sort();
      apps.push({ app: e.id, containers: figures.containers.length, nextExpiry: expiries[0] ?? null, failing: figures.containers.filter((x) => (x.tokens?.consecutiveFailures ?? 0) > 0).map((x) => ({ container: x.id, failures: x.tokens!.consecutiveFailures, lastError: x.tokens!.lastError })) });
    }
    const byCode = (await p.metrics.authFailures.get()).values.map((v) => [String(v.labels['code']), v.value] as [string, number]);
    const byPermission = (await p.metrics.denials.get()).values.map((v) => [String(v.labels['permission']), v.value] as [string, number]);
    sendHtml(res, 200, healthPage(frame, { keytab: c.keytab?.(), refusals: { byCode, byPermission }, apps, tls: p.secureCookie, now }));
    return '/console/security';
  }
  if (rest === '/audit') {
    allow(p, caller, Action.readAudit);
    sendHtml(res, 200, auditPage(frame, p.audit.read(AUDIT_ROWS)));
    return '/console/audit';
  }
  const m = /^\/apps\/([A-Za-z0-9_.-]{1,200})(\/live|\/containers\/([A-Za-z0-9_-]{1,64})\/log)?\/?$/.exec(rest);
  if (!m) throw new GatewayRefusal(404, RefusalCode.notFound, `no console page ${rest.slice(0, 100)}`);
  const entry = findApp(p.registry, m[1]!);
  allow(p, caller, Action.viewApp, entry);
  if (m[2] === '/live') {
    const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
    c.live.start(res, {
      poll: async () => {
        const { detail, figures } = await detailOf(p, caller, entry);
        return figures ? liveOf(figures) : { ended: detail.state };
      },
      signedIn: async () => (cookie === undefined ? caller.via !== 'cookie' : p.sessions.verify(cookie).then(() => true, () => false)),
    });
    return '/console/apps/{id}/live';
  }
  if (m[3] !== undefined) {
    sendHtml(res, 200, logPage(frame, entry.id, m[3], tail(new AppDir(entry.appDir).containerLog(m[3]), m[3])));
    return '/console/apps/{id}/containers/{container}/log';
  }
  const { detail, figures } = await detailOrSummary(p, caller, entry);
  sendHtml(res, 200, appPage(frame, detail, figures, { canManage: p.authz.authorize(caller.principal, Action.shutdown, entry).allowed, now }));
  return '/console/apps/{id}';
}

/** The last lines of a log file; 404 when the container has none. */
function tail(file: string, container: string): string[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    throw new GatewayRefusal(404, RefusalCode.notFound, `container ${container} has no log in this app`);
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, LOG_TAIL_BYTES);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    const lines = buf.toString('utf8').split('\n').filter(Boolean);
    if (length < size) lines.shift(); // the first may be cut
    return lines.slice(-LOG_LINES);
  } finally {
    closeSync(fd);
  }
}

function refusePage(p: RouteParts, c: ConsoleOptions, frame: PageFrame, req: IncomingMessage, res: ServerResponse, err: unknown): string {
  const refusal = err instanceof GatewayRefusal ? err : undefined;
  if (refusal) p.logger.warn({ method: req.method, route: '/console', status: refusal.status, code: refusal.code, reason: refusal.message }, 'console request refused');
  else p.logger.error({ method: req.method, route: '/console', err: (err as Error).message }, 'console request failed');
  if (res.headersSent) {
    res.destroy();
    return '/console';
  }
  if (refusal?.status === 401) {
    p.metrics.authFailures.inc({ code: refusal.code });
    const url = new URL(req.url ?? '/', 'http://gateway');
    const next = url.pathname === consolePath('sign-in') ? safeNext(url.searchParams.get('next')) : safeNext(url.pathname);
    const reason = refusal.code === noCredentials().code ? 'You are not signed in.' : `Your sign-in was refused: ${refusal.message}`;
    sendHtml(res, 401, signInPage({ ...frame, viewer: undefined }, { reason, next, devLogin: c.devLogin }), { 'www-authenticate': 'Negotiate' });
    return '/console/sign-in';
  }
  const status = refusal?.status ?? 500;
  const lacks = refusal?.permission ? html`<p>You lack <strong>${refusal.permission}</strong>${refusal.permission === Permission.viewOtherUsersApps ? ' (or a share of this app)' : ''}.</p>` : '';
  sendHtml(res, status, page(frame, status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong', html`<p class="reason">${refusal ? refusal.message : 'internal error; see the gateway log'}</p>${lacks}<p><a href="${consolePath('')}">Back to the apps</a></p>`));
  return '/console';
}
