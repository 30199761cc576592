import { z } from 'zod';

/**
 * The gateway's HTTP API, in one place (docs/security.md "The gateway API"): JSON under
 * `/api/v1`, the request bodies it accepts (zod schemas, strict), the answers it gives, and the
 * stable refusal codes. The server, the CLI client and the tests all import these; nothing
 * else spells a route or a code.
 */

export const API_PREFIX = '/api/v1';

/** The routes under API_PREFIX (`{id}` an app id, `{cid}` one of its containers); the metrics route `/metrics` is outside it. */
export const ApiRoute = {
  whoami: '/whoami',
  login: '/login',
  apps: '/apps',
  app: '/apps/{id}',
  shutdown: '/apps/{id}/shutdown',
  restartContainer: '/apps/{id}/containers/{cid}/restart',
  permissions: '/apps/{id}/permissions',
  audit: '/audit',
  policy: '/policy',
} as const;
export type ApiRoute = (typeof ApiRoute)[keyof typeof ApiRoute];

/** The full path of a route: `apiPath(ApiRoute.shutdown, id)` → `/api/v1/apps/<id>/shutdown`. */
export function apiPath(route: ApiRoute, id = '', container = ''): string {
  return `${API_PREFIX}${route.replace('{id}', encodeURIComponent(id)).replace('{cid}', encodeURIComponent(container))}`;
}

/** `GET /api/v1/whoami`. `realUser` is empty unless someone acts for the principal. */
export interface WhoAmI {
  principal: string;
  realUser: string;
  groups: string[];
  roles: string[];
  permissions: string[];
}

/** `POST /api/v1/login` (Negotiate) answers this and sets the `sluice_session` cookie. */
export interface LoginAnswer {
  token: string;
  /** ms since the epoch. */
  expiresAt: number;
  /** Echo this in `X-CSRF-Token` on every state-changing request made with the cookie. */
  csrfToken: string;
}

export const SESSION_COOKIE = 'sluice_session';
export const CSRF_HEADER = 'x-csrf-token';

/** The web console's pages, same origin as the API (docs/console.md). */
export const CONSOLE_PREFIX = '/console';
/** The cookie (HttpOnly, SameSite=Strict) that hands a console page its session's CSRF token. */
export const CONSOLE_CSRF_COOKIE = 'sluice_csrf';

export const AppState = {
  running: 'RUNNING',
  /** Its STRAM is not answering but its lock is held (starting, or recovering). */
  unreachable: 'UNREACHABLE',
  finished: 'FINISHED',
  failed: 'FAILED',
} as const;
export type AppState = (typeof AppState)[keyof typeof AppState];

/** One row of `GET /api/v1/apps`. */
export interface AppSummary {
  id: string;
  name: string;
  owner: string;
  realUser: string;
  state: AppState;
  /** ms since the epoch. */
  startedAt: number;
}

/**
 * `GET /api/v1/apps/{id}`: the registry's view and STRAM's status, proxied (`/ws/v1/app`,
 * containers, operators); a FAILED app's last status from the report it left; null once it
 * finished.
 */
export interface AppDetail extends AppSummary {
  status: { app: Record<string, unknown>; containers: unknown[]; operators: unknown[] } | null;
}

/** `POST /api/v1/apps/{id}/shutdown` → 202. */
export interface ShutdownAnswer {
  id: string;
  shutdown: 'requested';
}

/** `POST /api/v1/apps/{id}/containers/{cid}/restart` → 202: STRAM is replacing the container (docs/console.md "Actions"). */
export interface RestartContainerAnswer {
  id: string;
  container: string;
  restart: 'requested';
}

/**
 * `POST /api/v1/apps`: `app` is an app folder or built module on the gateway's machine (as
 * `sluice launch` takes), or `demo` for the built-in word count; `config` as `--config`;
 * `settings` the launch flags by their long names (`windowMs`, `heartbeatInterval`,
 * `checkpointStore` "file" or "postgres", `storeLifetimeMs`, ...); `store` the name of one of the
 * gateway's stores (`sluice gateway --store NAME=URL`) the app gets as its PostgreSQL
 * (docs/stores.md "Through a gateway").
 */
export const LaunchRequest = z.strictObject({
  app: z.string().min(1).max(4096),
  config: z.record(z.string(), z.unknown()).default({}),
  store: z.string().min(1).max(64).optional(),
  settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
});
export type LaunchRequest = z.infer<typeof LaunchRequest>;

/** `POST /api/v1/apps` → 201. */
export interface LaunchAnswer {
  id: string;
}

/** A share names a principal (`bob@EXAMPLE.COM`) or a group of the policy (`group:ops`). */
const shareEntry = z
  .string()
  .min(1)
  .max(256)
  .regex(/^(group:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}|[^\s@,*?]+@[^\s@,*?]+)$/, 'a share names a principal (bob@EXAMPLE.COM) or a group (group:ops)');

/** `GET|PUT /api/v1/apps/{id}/permissions`: who besides the owner may view or manage the app (manage includes view). */
export const AppPermissions = z.strictObject({
  view: z.array(shareEntry).max(256).default([]),
  manage: z.array(shareEntry).max(256).default([]),
});
export type AppPermissions = z.infer<typeof AppPermissions>;

/** Every refusal's body. `permission` names what a FORBIDDEN caller lacked; `app` is the registry's view of an APP_UNREACHABLE app. */
export interface Refusal {
  error: RefusalCode;
  reason: string;
  permission?: string;
  app?: AppSummary;
}

export const RefusalCode = {
  /** No Authorization header, bearer or cookie: 401 with `WWW-Authenticate: Negotiate`. */
  noCredentials: 'NO_CREDENTIALS',
  /** A Negotiate token that is not valid base64, truncated, garbage, or refused by GSSAPI. */
  negotiateFailed: 'NEGOTIATE_FAILED',
  /** A Negotiate token the gateway has already accepted once. */
  replayed: 'REPLAYED',
  /** A ticket for another service principal than the gateway's. */
  wrongService: 'WRONG_SERVICE',
  tokenExpired: 'TOKEN_EXPIRED',
  /** A bearer or cookie token signed by a key the gateway does not hold (forged, altered, another gateway). */
  badSignature: 'BAD_SIGNATURE',
  /** Not a JWS the gateway issues: unparseable, `alg: none`, another algorithm or issuer. */
  badToken: 'BAD_TOKEN',
  /** A state-changing request authenticated by the cookie without its X-CSRF-Token. */
  csrf: 'CSRF_TOKEN_MISSING',
  forbidden: 'FORBIDDEN',
  notFound: 'NOT_FOUND',
  badRequest: 'BAD_REQUEST',
  /** The app's STRAM did not answer a proxied call. */
  appUnreachable: 'APP_UNREACHABLE',
  /** A shutdown or container restart of an app that has already finished or FAILED (409). */
  notRunning: 'APP_NOT_RUNNING',
  /** A restart of a container that is not running: launching, or already being replaced (409). */
  containerBusy: 'CONTAINER_BUSY',
  /** `sluice launch` did not start the app (not the request's fault): its one line is the reason. */
  launchFailed: 'LAUNCH_FAILED',
  /** A request body over the gateway's limit. */
  tooLarge: 'BODY_TOO_LARGE',
  internal: 'INTERNAL',
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];

/** A refusal the server turns into its status and JSON body; thrown by the auth and route code. */
export class GatewayRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: RefusalCode,
    reason: string,
    readonly permission?: string,
    readonly app?: AppSummary,
  ) {
    super(reason);
  }

  body(): Refusal {
    return { error: this.code, reason: this.message, ...(this.permission ? { permission: this.permission } : {}), ...(this.app ? { app: this.app } : {}) };
  }
}

/**
 * Permissions a policy's roles grant (docs/security.md "Who may do what"). Default deny: without
 * a role a principal holds none; an app's owner views and manages it regardless, and a share
 * lets others view or manage one app. MANAGE_OTHER_USERS_APPS includes viewing them.
 */
export const Permission = {
  launchApps: 'LAUNCH_APPS',
  viewOtherUsersApps: 'VIEW_OTHER_USERS_APPS',
  manageOtherUsersApps: 'MANAGE_OTHER_USERS_APPS',
  viewAudit: 'VIEW_AUDIT',
  managePolicy: 'MANAGE_POLICY',
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

/** What a request asks to do: every route names one, authorization decides it, the audit records it. */
export const Action = {
  whoami: 'whoami',
  login: 'login',
  listApps: 'apps.list',
  launch: 'apps.launch',
  viewApp: 'app.view',
  shutdown: 'app.shutdown',
  restartContainer: 'app.container.restart',
  viewPermissions: 'app.permissions.view',
  share: 'app.share',
  readAudit: 'audit.read',
  readPolicy: 'policy.read',
} as const;
export type Action = (typeof Action)[keyof typeof Action];

export const Outcome = { allowed: 'allowed', denied: 'denied' } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/**
 * One line of `<state-dir>/audit.jsonl` and one element of `GET /api/v1/audit`: who asked for
 * what, whether it was allowed, and the rule that decided (`owner`, `share:view:bob@R`,
 * `role:admin`, `default-deny`, ...). `status` is the HTTP status answered; `app` is empty when
 * the request named none.
 */
export interface AuditRecord {
  time: string;
  principal: string;
  realUser: string;
  action: Action;
  app: string;
  outcome: Outcome;
  rule: string;
  status: number;
}

/** `GET /api/v1/policy` (MANAGE_POLICY): the policy in force, where it was read from and when. The file is the only way to change it. */
export interface PolicyAnswer {
  file: string | null;
  /** ms since the epoch. */
  loadedAt: number;
  /** The last reload's faults, when the file on disk failed validation and the one in force is older. */
  rejected: string[];
  policy: { roles: Record<string, string[]>; groups: Record<string, string[]>; bindings: { role: string; principals: string[]; groups: string[] }[] };
}
