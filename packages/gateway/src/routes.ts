import type { IncomingMessage } from 'node:http';
import type { Logger } from '@sluice/common';
import {
  API_PREFIX,
  Action,
  ApiRoute,
  AppPermissions,
  GatewayRefusal,
  LaunchRequest,
  RefusalCode,
  type AppDetail,
  type AuditRecord,
  type PolicyAnswer,
  type AppSummary,
  type LaunchAnswer,
  type LoginAnswer,
  type RestartContainerAnswer,
  type ShutdownAnswer,
  type WhoAmI,
} from './api.js';
import type { Authorizer } from './access.js';
import type { AppLauncher } from './app-launcher.js';
import { MAX_AUDIT_READ, type AuditLog } from './audit-log.js';
import { Via, type Caller } from './auth.js';
import { readJson } from './http-io.js';
import { startSession } from './session-cookies.js';
import type { GatewayMetrics } from './metrics.js';
import type { PolicyFile } from './policy-file.js';
import { summaryOf, type AppEntry, type Registry } from './registry.js';
import type { StramProxy } from './stram-proxy.js';
import type { WebSessions } from './web-session.js';

/**
 * The API's routes (docs/security.md "The gateway API"): each names its method, template and
 * action, and a handler from an authorised caller to an answer. Handlers refuse bad input by
 * throwing GatewayRefusal; the server turns that into the status and JSON body.
 */

export interface RouteParts {
  registry: Registry;
  launcher: AppLauncher;
  proxy: StramProxy;
  sessions: WebSessions;
  authz: Authorizer;
  policy: PolicyFile;
  audit: AuditLog;
  metrics: GatewayMetrics;
  logger: Logger;
  maxBodyBytes: number;
  /** Whether the session cookie gets `Secure` (served over TLS). */
  secureCookie: boolean;
}

export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string | string[]>;
  /** The app a launch created, for its audit record. */
  app?: string;
}

/**
 * One route. The server authenticates the caller, finds the app of an `{id}` route, and asks
 * authorize() for `action` before the handler runs: handlers never decide who may call them.
 */
export interface Route {
  method: 'GET' | 'POST' | 'PUT';
  route: ApiRoute;
  action: Action;
  /** Login takes a Kerberos ticket only; every other route any credential. */
  only?: Via;
  /** `entry` is the app an `{id}` route names, `container` what its `{cid}` names. */
  handle(p: RouteParts, caller: Caller, req: IncomingMessage, entry: AppEntry | undefined, container: string): Promise<Answer>;
}

const ok = (body: unknown, status = 200): Answer => ({ status, body });

export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    route: ApiRoute.whoami,
    action: Action.whoami,
    handle: async (p, caller) => {
      const policy = p.policy.current();
      return ok({ principal: caller.principal, realUser: '', groups: policy.groups.of(caller.principal), roles: policy.rolesOf(caller.principal), permissions: policy.permissionsOf(caller.principal) } satisfies WhoAmI);
    },
  },
  {
    method: 'POST',
    route: ApiRoute.login,
    action: Action.login,
    only: Via.negotiate,
    handle: async (p, caller) => {
      const { answer, cookies } = await startSession(p, caller.principal, 'api');
      return { status: 200, body: answer satisfies LoginAnswer, headers: { 'set-cookie': cookies } };
    },
  },
  {
    method: 'GET',
    route: ApiRoute.apps,
    action: Action.listApps,
    handle: async (p, caller) => ok(p.registry.list().filter((e) => p.authz.authorize(caller.principal, Action.viewApp, e).allowed).map((e) => summaryOf(e)) satisfies AppSummary[]),
  },
  {
    method: 'POST',
    route: ApiRoute.apps,
    action: Action.launch,
    handle: async (p, caller, req) => {
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
      return { ...ok({ id: entry.id } satisfies LaunchAnswer, 201), app: entry.id };
    },
  },
  {
    method: 'GET',
    route: ApiRoute.app,
    action: Action.viewApp,
    handle: async (p, caller, _req, entry) => ok((await p.proxy.status(entry!, caller.principal, p.authz.scopes(caller.principal, entry!))) satisfies AppDetail),
  },
  {
    method: 'POST',
    route: ApiRoute.shutdown,
    action: Action.shutdown,
    handle: async (p, caller, _req, entry) => {
      await p.proxy.shutdown(entry!, caller.principal, p.authz.scopes(caller.principal, entry!));
      p.logger.info({ app: entry!.id, by: caller.principal }, 'shutdown requested');
      return ok({ id: entry!.id, shutdown: 'requested' } satisfies ShutdownAnswer, 202);
    },
  },
  {
    method: 'POST',
    route: ApiRoute.restartContainer,
    action: Action.restartContainer,
    handle: async (p, caller, _req, entry, container) => {
      await p.proxy.restartContainer(entry!, caller.principal, p.authz.scopes(caller.principal, entry!), container);
      p.logger.info({ app: entry!.id, container, by: caller.principal }, 'container restart requested');
      return ok({ id: entry!.id, container, restart: 'requested' } satisfies RestartContainerAnswer, 202);
    },
  },
  {
    method: 'GET',
    route: ApiRoute.permissions,
    action: Action.viewPermissions,
    handle: async (_p, _caller, _req, entry) => ok(entry!.grants satisfies AppPermissions),
  },
  {
    method: 'PUT',
    route: ApiRoute.permissions,
    action: Action.share,
    handle: async (p, _caller, req, entry) => {
      const grants = await readJson(req, AppPermissions, p.maxBodyBytes);
      p.logger.info({ app: entry!.id, view: grants.view, manage: grants.manage }, 'app shared');
      return ok(p.registry.setGrants(entry!.id, grants).grants satisfies AppPermissions);
    },
  },
  {
    method: 'GET',
    route: ApiRoute.audit,
    action: Action.readAudit,
    handle: async (p, _caller, req) => {
      const query = new URL(req.url ?? '/', 'http://gateway').searchParams;
      const limit = query.has('limit') ? Number(query.get('limit')) : 1_000;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_READ) throw new GatewayRefusal(400, RefusalCode.badRequest, `limit must be a whole number from 1 to ${MAX_AUDIT_READ}`);
      return ok(p.audit.read(limit, query.get('app') ?? undefined) satisfies AuditRecord[]);
    },
  },
  {
    method: 'GET',
    route: ApiRoute.policy,
    action: Action.readPolicy,
    handle: async (p) => ok(p.policy.answer() satisfies PolicyAnswer),
  },
];

/** The app an `{id}` route names: 404 when this gateway has none of that id. */
export function findApp(registry: Registry, id: string): AppEntry {
  const entry = registry.get(id);
  if (!entry) throw new GatewayRefusal(404, RefusalCode.notFound, `no app ${id.slice(0, 100)} on this gateway`);
  return entry;
}

/** The route a method and path name, with the app id and container; undefined for a path outside the API. */
export function matchRoute(method: string, path: string): { route: Route; id: string; container: string } | 'wrong-method' | undefined {
  if (!path.startsWith(`${API_PREFIX}/`)) return undefined;
  const rest = path.slice(API_PREFIX.length);
  let found = false;
  for (const route of ROUTES) {
    const m = templateOf(route.route).exec(rest);
    if (!m) continue;
    found = true;
    if (route.method === method) return { route, id: m[1] ?? '', container: m[2] ?? '' };
  }
  return found ? 'wrong-method' : undefined;
}

const templates = new Map<string, RegExp>();
function templateOf(route: ApiRoute): RegExp {
  let re = templates.get(route);
  if (!re) {
    re = new RegExp(`^${route.replace('{id}', '([A-Za-z0-9_.-]{1,200})').replace('{cid}', '([A-Za-z0-9_-]{1,64})')}/?$`);
    templates.set(route, re);
  }
  return re;
}
