import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { SluiceError, systemClock, type Clock, type Logger } from '@sluice/common';
import { CONSOLE_PREFIX, GatewayRefusal, RefusalCode, type Action } from './api.js';
import { Authorizer, ProxyUsers, type Decision } from './access.js';
import { AppLauncher } from './app-launcher.js';
import { AuditLog, auditDecision } from './audit-log.js';
import { STATE_CHANGING, authenticate, type Caller, type NegotiateAcceptor } from './auth.js';
import { DEFAULT_MAX_BODY_BYTES, sendJson } from './http-io.js';
import { GatewayMetrics, type KeytabLoginFigures } from './metrics.js';
import { appState, Registry } from './registry.js';
import { PolicyFile } from './policy-file.js';
import { GatewayStores } from './stores.js';
import { findApp, matchRoute, type RouteParts } from './routes.js';
import { StramProxy } from './stram-proxy.js';
import { serveConsole, type ConsoleOptions } from './console/serve.js';
import { StaticFiles } from './console/static-files.js';
import { LiveStreams } from './console/live.js';
import { WebSessions } from './web-session.js';

/**
 * `sluice gateway` (docs/security.md "The gateway"): the HTTP server in front of the apps. It
 * authenticates every request (auth.ts), authorises it (access.ts, the one decision point),
 * audits it (audit-log.ts), and answers from the registry, the launcher or the app's STRAM. Bad input of any kind is one refusal with its code;
 * a handler's bug is a 500 with nothing of the error in the body, never a crash.
 */

export interface GatewayOptions {
  stateDir: string;
  /** The gateway's own principal, `HTTP/<host>@REALM`: the realUser of every app it launches. */
  principal: string;
  acceptor: NegotiateAcceptor;
  /** How to run `sluice` and where the built-in apps are (the CLI knows; this package cannot import it). */
  launchCommand: readonly string[];
  builtinApps: Readonly<Record<string, string>>;
  logger: Logger;
  host?: string;
  port?: number;
  /** Whom the gateway may launch for (globs); default everyone of its own realm. */
  proxyUsers?: readonly string[];
  /** The policy file (YAML or JSON), reloaded on change; without one nobody holds a role. */
  policyFile?: string;
  /** The stores a launch may name (stores.ts `GatewayStores.open`, which checks them); none without. */
  stores?: GatewayStores;
  tokenTtlMs?: number;
  keyRollMs?: number;
  maxBodyBytes?: number;
  clock?: Clock;
  /** The keytab login's figures, for /metrics and the console's security health. */
  keytabFigures?: () => KeytabLoginFigures;
  /** `--insecure-dev-login`: the console signs anyone in as any principal they type, and says so in red on every page. */
  insecureDevLogin?: boolean;
  /** How often the console's live figures poll an app's STRAM (default 1s). */
  consoleLiveMs?: number;
}

export const DEFAULT_TOKEN_TTL_MS = 10 * 60_000;
export const DEFAULT_KEY_ROLL_MS = 60 * 60_000;

export class Gateway {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly metrics: GatewayMetrics,
    private readonly parts: RouteParts,
  ) {}

  static async start(options: GatewayOptions): Promise<Gateway> {
    const o = { host: '127.0.0.1', port: 0, tokenTtlMs: DEFAULT_TOKEN_TTL_MS, keyRollMs: DEFAULT_KEY_ROLL_MS, maxBodyBytes: DEFAULT_MAX_BODY_BYTES, clock: systemClock, ...options };
    if (o.tokenTtlMs < 1_000) throw new SluiceError('BAD_CONFIG', '--token-ttl must be at least 1s');
    if (o.keyRollMs < o.tokenTtlMs) throw new SluiceError('BAD_CONFIG', '--key-roll must be at least --token-ttl (a key signs for at least one token lifetime)');
    const stores = o.stores ?? GatewayStores.open();
    mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    const registry = Registry.open(o.stateDir);
    const sessions = await WebSessions.open({ stateDir: o.stateDir, tokenTtlMs: o.tokenTtlMs, keyRollMs: o.keyRollMs, clock: o.clock });
    const metrics = new GatewayMetrics({ appStates: () => registry.list().map(appState), ...(o.keytabFigures ? { keytab: o.keytabFigures } : {}) });
    const reloads = { applied: () => metrics.policyReloads.inc({ outcome: 'applied' }), rejected: () => metrics.policyReloads.inc({ outcome: 'rejected' }) };
    const policy = o.policyFile ? PolicyFile.open(o.policyFile, { logger: o.logger, reloads }) : PolicyFile.none({ logger: o.logger, reloads });
    if (!o.policyFile) o.logger.warn('no --policy: nobody holds a role, so nobody may launch (default deny)');
    const proxyUsers = o.proxyUsers ? new ProxyUsers(o.proxyUsers) : ProxyUsers.ofRealm(o.principal);
    const parts: RouteParts = {
      registry,
      sessions,
      metrics,
      logger: o.logger,
      maxBodyBytes: o.maxBodyBytes,
      secureCookie: false,
      authz: new Authorizer(() => policy.current(), proxyUsers),
      policy,
      audit: AuditLog.open(o.stateDir),
      launcher: new AppLauncher({ stateDir: o.stateDir, launchCommand: o.launchCommand, builtinApps: o.builtinApps, gatewayPrincipal: o.principal, stores, logger: o.logger }),
      proxy: new StramProxy({ clock: o.clock, logger: o.logger }),
    };
    if (o.insecureDevLogin) o.logger.warn('--insecure-dev-login: the console signs anyone in as any principal; never expose this gateway');
    const consoleOptions: ConsoleOptions = { acceptor: o.acceptor, devLogin: o.insecureDevLogin ?? false, keytab: o.keytabFigures, live: new LiveStreams(o.consoleLiveMs ?? 1_000, o.logger), statics: StaticFiles.load() };
    const server = createServer({ headersTimeout: 10_000, requestTimeout: 120_000, maxHeaderSize: 32 * 1024 }, (req, res) => {
      void serve(parts, consoleOptions, req, res);
    });
    server.keepAliveTimeout = 5_000;
    server.on('clientError', answerClientError);
    await listen(server, o.host, o.port);
    const { port } = server.address() as AddressInfo;
    const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
    o.logger.info({ url, principal: o.principal, stateDir: o.stateDir, apps: registry.list().length, proxyUsers: proxyUsers.globs, policy: policy.file ?? null, stores: stores.names }, 'gateway serving');
    return new Gateway(server, url, metrics, parts);
  }

  /** Stops serving; the apps it launched run on. */
  close(): Promise<void> {
    this.parts.policy.close();
    return new Promise((resolve) => {
      this.server.close(() => {
        this.parts.audit.close();
        resolve();
      });
      this.server.closeAllConnections();
    });
  }
}

/** Bytes that are not HTTP, or headers over the limit: one refusal and the socket closed, nothing more. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, text] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : [400, 'Bad Request'];
  const body = `${JSON.stringify(new GatewayRefusal(status, RefusalCode.badRequest, status === 431 ? 'the request headers are over the limit' : 'the request is not HTTP the gateway can read').body())}\n`;
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'is in use; stop what listens there or choose another --port' : `cannot be listened on (${err.message})`;
      reject(new SluiceError('LISTEN_FAILED', `${host}:${port} ${why}`, { cause: err }));
    });
    server.listen(port, host, () => resolve());
  });
}

async function serve(p: RouteParts, c: ConsoleOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const method = req.method ?? 'GET';
  let label = 'unknown';
  let decided: { caller: Caller; action: Action; app: string; decision: Decision } | undefined;
  try {
    if (method === 'GET' && path === '/metrics') {
      label = '/metrics';
      const text = await p.metrics.text();
      res.writeHead(200, { 'content-type': p.metrics.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    if (path === CONSOLE_PREFIX || path.startsWith(`${CONSOLE_PREFIX}/`)) {
      label = await serveConsole(p, c, req, res, path);
      return;
    }
    const match = matchRoute(method, path);
    if (match === undefined) throw new GatewayRefusal(404, RefusalCode.notFound, `no route ${method} ${path.slice(0, 100)}; the API is under /api/v1`);
    if (match === 'wrong-method') throw new GatewayRefusal(405, RefusalCode.badRequest, `${method} is not allowed on ${path.slice(0, 100)}`);
    label = match.route.route;
    let caller;
    try {
      caller = await authenticate(req, c.acceptor, p.sessions, match.route.only);
    } catch (err) {
      if (err instanceof GatewayRefusal) p.metrics.authFailures.inc({ code: err.code });
      throw err;
    }
    const { action } = match.route;
    const entry = match.route.route.includes('{id}') ? findApp(p.registry, match.id) : undefined;
    decided = { caller, action, app: entry?.id ?? '', decision: p.authz.authorize(caller.principal, action, entry) };
    if (!decided.decision.allowed) {
      p.metrics.denials.inc({ permission: decided.decision.permission ?? '' });
      throw p.authz.refusal(caller.principal, action, decided.decision, entry);
    }
    const answer = await match.route.handle(p, caller, req, entry, match.container);
    if (answer.app) decided.app = answer.app;
    // Recorded before the answer leaves: a client that has its answer finds the record.
    if (STATE_CHANGING.has(method)) auditDecision(p.audit, p.logger, decided, answer.status);
    sendJson(res, answer.status, answer.body, answer.headers);
  } catch (err) {
    if (decided && (!decided.decision.allowed || STATE_CHANGING.has(method))) auditDecision(p.audit, p.logger, decided, err instanceof GatewayRefusal ? err.status : 500);
    refuse(p.logger, req, res, err, label);
  } finally {
    p.metrics.requests.inc({ route: label, status: String(res.statusCode) });
    req.resume();
  }
}

function refuse(logger: Logger, req: IncomingMessage, res: ServerResponse, err: unknown, route: string): void {
  const refusal =
    err instanceof GatewayRefusal ? err : err instanceof SluiceError && err.code === 'STATE_IO' ? new GatewayRefusal(500, RefusalCode.internal, 'the gateway cannot write its state; see its log') : undefined;
  if (refusal) logger.warn({ method: req.method, route, status: refusal.status, code: refusal.code, reason: refusal.message }, 'request refused');
  else logger.error({ method: req.method, route, err: (err as Error).message }, 'request failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const r = refusal ?? new GatewayRefusal(500, RefusalCode.internal, 'internal error; see the gateway log');
  sendJson(res, r.status, r.body(), r.status === 401 ? { 'www-authenticate': 'Negotiate' } : {});
}
