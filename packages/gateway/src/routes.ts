import type { IncomingMessage } from 'node:http';
import type { Logger } from '@sluice/common';
import {
  API_PREFIX,
  ApiRoute,
  AppPermissions,
  GatewayRefusal,
  LaunchRequest,
  Permission,
  RefusalCode,
  SESSION_COOKIE,
  type AppDetail,
  type AppSummary,
  type LaunchAnswer,
  type LoginAnswer,
  type ShutdownAnswer,
  type WhoAmI,
} from './api.js';
import { ProxyUsers, mayView, requireManage, requireOwner, requireView } from './access.js';
import type { AppLauncher } from './app-launcher.js';
import { Via, type Caller } from './auth.js';
import { readJson } from './http-io.js';
import type { GatewayMetrics } from './metrics.js';
import { summaryOf, type AppEntry, type Registry } from './registry.js';
import type { StramProxy } from './stram-proxy.js';
import type { WebSessions } from './web-session.js';

/**
 * The API's routes (docs/security.md "The gateway API"): each names its method and template, who
 * may call it, and a handler from an authenticated caller to an answer. Handlers refuse by
 * throwing GatewayRefusal; the server turns that into the status and JSON body.
 */

export interface RouteParts {
  registry: Registry;
  launcher: AppLauncher;
  proxy: StramProxy;
  sessions: WebSessions;
  proxyUsers: ProxyUsers;
  metrics: GatewayMetrics;
  logger: Logger;
  maxBodyBytes: number;
  /** Whether the session cookie gets `Secure` (served over TLS). */
  secureCookie: boolean;
}

export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT';
  route: ApiRoute;
  /** Login takes a Kerberos ticket only; every other route any credential. */
  only?: Via;
  handle(p: RouteParts, caller: Caller, req: IncomingMessage, id: string): Promise<Answer>;
}

const ok = (body: unknown, status = 200): Answer => ({ status, body });

export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    route: ApiRoute.whoami,
    handle: async (p, caller) => ok({ principal: caller.principal, realUser: '', roles: [], permissions: p.proxyUsers.allows(caller.principal) ? [Permission.launchApps] : [] } satisfies WhoAmI),
  },
  {
    method: 'POST',
    route: ApiRoute.login,
    only: Via.negotiate,
    handle: async (p, caller) => {
      const answer: LoginAnswer = await p.sessions.issue(caller.principal);
      p.metrics.logins.inc();
      p.logger.info({ principal: caller.principal, expiresAt: new Date(answer.expiresAt).toISOString() }, 'session issued');
      const maxAge = Math.max(0, Math.floor((answer.expiresAt - Date.now()) / 1000));
      const cookie = `${SESSION_COOKIE}=${answer.token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}${p.secureCookie ? '; Secure' : ''}`;
      return { status: 200, body: answer, headers: { 'set-cookie': cookie } };
    },
  },
  {
    method: 'GET',
    route: ApiRoute.apps,
    handle: async (p, caller) => ok(p.registry.list().filter((e) => mayView(e, caller.principal)).map((e) => summaryOf(e)) satisfies AppSummary[]),
  },
  {
    method: 'POST',
    route: ApiRoute.apps,
    handle: async (p, caller, req) => {
      if (!p.proxyUsers.allows(caller.principal)) {
        throw new GatewayRefusal(403, RefusalCode.forbidden, `the gateway may not act for ${caller.principal} (its proxy users are ${p.proxyUsers.globs.join(', ') || 'nobody'})`, Permission.launchApps);
      }
      const request = await readJson(req, LaunchRequest, p.maxBodyBytes);
      let entry: AppEntry;
      try {
        const launch = p.launcher.start(request, caller.principal);
        p.registry.add(launch.entry);
        entry = await launch.started.catch((err: unknown) => {
          p.registry.remove(launch.entry.id);
          throw err;
        });
      } catch (err) {
        p.metrics.launches.inc({ outcome: 'refused' });
        throw err;
      }
      p.registry.add(entry);
      p.metrics.launches.inc({ outcome: 'launched' });
      return ok({ id: entry.id } satisfies LaunchAnswer, 201);
    },
  },
  {
    method: 'GET',
    route: ApiRoute.app,
    handle: async (p, caller, _req, id) => {
      const entry = find(p, id);
      requireView(entry, caller.principal);
      return ok((await p.proxy.status(entry, caller.principal)) satisfies AppDetail);
    },
  },
  {
    method: 'POST',
    route: ApiRoute.shutdown,
    handle: async (p, caller, _req, id) => {
      const entry = find(p, id);
      requireManage(entry, caller.principal);
      await p.proxy.shutdown(entry, caller.principal);
      p.logger.info({ app: id, by: caller.principal }, 'shutdown requested');
      return ok({ id, shutdown: 'requested' } satisfies ShutdownAnswer, 202);
    },
  },
  {
    method: 'GET',
    route: ApiRoute.permissions,
    handle: async (p, caller, _req, id) => {
      const entry = find(p, id);
      requireView(entry, caller.principal);
      return ok(entry.grants satisfies AppPermissions);
    },
  },
  {
    method: 'PUT',
    route: ApiRoute.permissions,
    handle: async (p, caller, req, id) => {
      const entry = find(p, id);
      requireOwner(entry, caller.principal);
      const grants = await readJson(req, AppPermissions, p.maxBodyBytes);
      p.logger.info({ app: id, view: grants.view, manage: grants.manage }, 'app shared');
      return ok(p.registry.setGrants(id, grants).grants satisfies AppPermissions);
    },
  },
];

function find(p: RouteParts, id: string): AppEntry {
  const entry = p.registry.get(id);
  if (!entry) throw new GatewayRefusal(404, RefusalCode.notFound, `no app ${id.slice(0, 100)} on this gateway`);
  return entry;
}

/** The route a method and path name, with the app id; undefined for a path outside the API. */
export function matchRoute(method: string, path: string): { route: Route; id: string } | 'wrong-method' | undefined {
  if (!path.startsWith(`${API_PREFIX}/`)) return undefined;
  const rest = path.slice(API_PREFIX.length);
  let found = false;
  for (const route of ROUTES) {
    const m = templateOf(route.route).exec(rest);
    if (!m) continue;
    found = true;
    if (route.method === method) return { route, id: m[1] ?? '' };
  }
  return found ? 'wrong-method' : undefined;
}

const templates = new Map<string, RegExp>();
function templateOf(route: ApiRoute): RegExp {
  let re = templates.get(route);
  if (!re) {
    re = new RegExp(`^${route.replace('{id}', '([A-Za-z0-9_.-]{1,200})')}/?$`);
    templates.set(route, re);
  }
  return re;
}
