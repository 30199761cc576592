import Table from 'cli-table3';
import type { Command } from 'commander';
import { formatDuration } from '@sluice/common';
import { DockerEngine, SwarmApi, processAlive, type CertificateStatus, type TokenStatus } from '@sluice/stram';
import { dockerHostSocket } from './launcher-options.js';
import { durationOrSeconds, flag } from '../flags.js';
import { withExamples } from '../help.js';
import { compact } from '../terminal.js';
import { ExitCode } from '../report.js';
import { GatewayClient, addGatewayFlags, checkGatewayFlags, type GatewayFlags } from './gateway-client.js';
import { addAppFlag, shutdownViaGateway, statusViaGateway } from './gateway-commands.js';
import { appStatus, openApp, type AppStatus } from './runtime-client.js';

export const APP_DIR = ['--app-dir <dir>', 'the app directory', { shownDefault: 'the most recent under .sluice/apps' }] as const;

const DEFAULT_WATCH_MS = 2_000;
/** What the default (not --wide) status fits: a terminal a little wider than the classic 80. */
const NARROW_COLUMNS = 100;

interface StatusFlags extends GatewayFlags {
  appDir?: string;
  app?: string;
  json?: boolean;
  wide?: boolean;
  watch?: number | true;
}

/** `sluice status` and `sluice shutdown`. */
export function registerStatusCommands(program: Command): void {
  const status = program
    .command('status')
    .description('show a running app: containers and operators with their stats')
    .addOption(flag(...APP_DIR))
    .addOption(flag('--json', 'print one JSON object instead of tables'))
    .addOption(flag('--wide', 'add the token columns (expiry, last renewal, renewal failures) and each operator\'s container'))
    .addOption(flag<number | true>('--watch [interval]', 'redraw every interval until Ctrl-C (a bare number is seconds)', { parse: durationOrSeconds, shownDefault: '2s' }))
    .action(async (opts: StatusFlags) => {
      checkGatewayFlags({ ...opts }, ['appDir']);
      const render = (status: AppStatus): string => renderStatus(status, { wide: opts.wide ?? false });
      // One login per command, also for --watch.
      const gateway = opts.gateway !== undefined ? await GatewayClient.login({ ...opts, gateway: opts.gateway }) : undefined;
      const show = async (): Promise<string> => {
        if (gateway) return statusViaGateway(gateway, opts, render);
        const status = await appStatus(opts.appDir);
        return opts.json ? `${JSON.stringify(status)}\n` : render(status);
      };
      if (opts.watch === undefined) process.stdout.write(await show());
      else await watch(show, opts.watch === true ? DEFAULT_WATCH_MS : opts.watch);
    });
  addAppFlag(addGatewayFlags(status, 'ask'));
  withExamples(status, ['status', 'status --watch', 'status --wide', 'status --app-dir .sluice/apps/wordcount-1a2b3c4d --json', 'status --gateway http://gw.example.com:8443 --app wordcount-1a2b3c4d']);
  const shutdown = program
    .command('shutdown')
    .description('shut a running app down: containers stop, credentials and spool files are removed')
    .addOption(flag(...APP_DIR))
    .addOption(flag('--wait <duration>', 'how long to wait for STRAM to exit (a bare number is seconds)', { parse: durationOrSeconds, default: '60s' }))
    .action(async (opts: GatewayFlags & { appDir?: string; app?: string; wait: number }) => {
      checkGatewayFlags({ ...opts }, ['appDir']);
      if (opts.gateway !== undefined) return shutdownViaGateway({ ...opts, gateway: opts.gateway });
      const client = openApp(opts.appDir);
      if (!processAlive(client.info.pid)) {
        await removeLeftovers(client.info.appId, client.info.pid);
        return;
      }
      await client.post('/ws/v1/shutdown');
      process.stdout.write(`shutdown requested for ${client.info.appId}\n`);
      const deadline = Date.now() + opts.wait;
      while (processAlive(client.info.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (processAlive(client.info.pid)) {
        process.stderr.write(`STRAM (pid ${client.info.pid}) is still running after ${formatDuration(opts.wait)}\n`);
        process.exitCode = ExitCode.failed;
      } else {
        process.stdout.write(`${client.info.appId} stopped\n`);
      }
    });
  addAppFlag(addGatewayFlags(shutdown, 'stop it'));
  withExamples(shutdown, ['shutdown', 'shutdown --app-dir .sluice/apps/wordcount-1a2b3c4d --wait 30s', 'shutdown --gateway http://gw.example.com:8443 --app wordcount-1a2b3c4d']);
}

/**
 * `sluice shutdown` of an app whose STRAM was killed: what it had running in a Docker swarm
 * (services, secrets, its network: all labelled with the app id) is removed; with no engine
 * answering there is nothing of the kind to remove.
 */
async function removeLeftovers(appId: string, pid: number): Promise<void> {
  const api = new SwarmApi(new DockerEngine(dockerHostSocket(process.env['DOCKER_HOST'])));
  const n = (await api.engine.ping()) ? await api.removeApp(appId) : { services: 0, secrets: 0, networks: 0 };
  const removed = n.services + n.secrets + n.networks > 0 ? `removed what it left in the swarm: ${n.services} services, ${n.secrets} secrets, ${n.networks} networks` : 'it left nothing in a Docker swarm';
  process.stdout.write(`STRAM of ${appId} (pid ${pid}) is not running; ${removed}\n`);
}

/**
 * Redraws `show()` every `intervalMs` until SIGINT/SIGTERM: in place on a terminal, one snapshot
 * after another (a blank line between) when piped.
 */
async function watch(show: () => Promise<string>, intervalMs: number): Promise<void> {
  let stopped = false;
  let wake: () => void = () => undefined;
  const stop = (): void => {
    stopped = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (let first = true; !stopped; first = false) {
      const text = await show();
      if (process.stdout.isTTY) process.stdout.write(`\x1b[H\x1b[2J${text}`);
      else process.stdout.write(first ? text : `\n${text}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, intervalMs);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** The latest failures, one short line each (`--json` has their stacks), cut to `width` when given. */
function failureLines(s: AppStatus, width: number | undefined): string[] {
  const all = s.containers.flatMap((c) => (c.failures ?? []).map((f) => ({ ...f, container: c.id })));
  const latest = all.sort((x, y) => x.at.localeCompare(y.at)).slice(-5);
  return latest.map((f) => {
    const what = f.operator ? `${f.container} ${f.operator}` : f.container;
    const then = f.restartAfterMs === null ? '' : ` (restarted after ${formatDuration(f.restartAfterMs)})`;
    const line = `failure ${f.at} ${what}: ${f.message.split('\n')[0]}${then}`;
    return width === undefined || line.length <= width ? line : `${line.slice(0, width - 1)}…`;
  });
}

/** `text` in lines of at most `width` columns, broken between words, continued with an indent of two. */
export function wrapWords(text: string, width: number | undefined): string[] {
  if (width === undefined || text.length <= width) return [text];
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line === '' ? word : `${line} ${word}`;
    if (next.length <= width || line.trim() === '') line = next;
    else {
      lines.push(line);
      line = `  ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

/**
 * The status tables. By default they fit 100 columns: counts are compact (1.2M) and the token
 * columns, each an ISO time, are left to `wide`, which also shows every number in full.
 */
export function renderStatus(s: AppStatus, options: { wide: boolean; now?: number } = { wide: false }): string {
  const wide = options.wide;
  const now = options.now ?? Date.now();
  const a = s.app as { id: string; name: string; state: string; secure: boolean; tls?: boolean; uptimeMs: number; committedWindow: number; rest: string; failure?: { reason: string; at: string } | null };
  const lines = [`app ${a.id} (${a.name}): ${a.state === 'failed' ? 'FAILED' : a.state}, ${a.secure ? 'secure' : 'INSECURE'}, TLS ${a.tls ? 'on' : 'off'}, up ${Math.round(a.uptimeMs / 1000)}s, committed window ${a.committedWindow}`];
  if (typeof s.app['owner'] === 'string') lines.push(ownerLine(s.app['owner'], s.app['realUser']));
  // The reason is the one thing a FAILED app has to say: wrapped to fit, never cut.
  if (a.failure) lines.push(...wrapWords(`FAILED at ${a.failure.at}: ${a.failure.reason}`, wide ? undefined : NARROW_COLUMNS));
  lines.push(...failureLines(s, wide ? undefined : NARROW_COLUMNS));
  const t = s.app['tokens'] as { renewals: number; reissues: number; failures: number; failing: number; keyRolls: number } | undefined;
  if (t) {
    const failing = t.failing > 0 ? `, RENEWAL FAILING for ${t.failing} container(s)` : '';
    lines.push(`tokens: ${t.renewals} renewals, ${t.reissues} reissues, ${t.failures} failures, ${t.keyRolls} master key rolls${failing}`);
  }
  for (const st of (s.app['stores'] as { system: string; generation: number; expiry: string | null; renewals: number; reissues: number; failures: number; consecutiveFailures: number; lastError: string | null }[] | undefined) ?? []) {
    const failing = st.consecutiveFailures > 0 ? `, RENEWAL FAILING (${st.consecutiveFailures}): ${st.lastError ?? ''}` : '';
    lines.push(`store ${st.system}: credential #${st.generation} valid until ${st.expiry ?? '?'}, ${st.renewals} renewals, ${st.reissues} reissues, ${st.failures} failures${failing}`);
  }
  const certs = certificateLine(s);
  if (certs) lines.push(certs);
  const takeovers = s.app['subscriberTakeovers'] as { refused: number; takenOver: number } | undefined;
  if (takeovers) lines.push(`subscriber takeovers: ${takeovers.refused} refused by buffer servers, ${takeovers.takenOver} inputs taken over`);
  const stalled = s.operators.filter((o) => o.stalled).map((o) => o.id);
  if (stalled.length > 0) lines.push(`STALLED: ${stalled.join(' ')} (window stopped while upstream windows go on)`);
  const n = (x: number): string => (wide ? String(x) : compact(x));
  // Plain text when piped (no ANSI colours in files or other programs' input).
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  const tokenHead = wide ? ['deployed', 'token expiry', 'last renewal', 'renewal failures'] : [];
  // On an orchestrator a container is a service and its task, not a pid on this machine.
  const swarm = s.containers.some((c) => c.service);
  const where = (c: (typeof s.containers)[number]): (string | number)[] => (swarm ? [c.service ?? '-', !c.task ? '-' : wide ? c.task : c.task.slice(0, 12)] : [c.pid ?? '-']);
  const ct = new Table({ ...style, head: ['container', 'state', ...(swarm ? ['service', 'task'] : ['pid']), 'restarts', 'operators', 'heartbeats', 'last heartbeat', ...tokenHead] });
  for (const c of s.containers) {
    const tk = (c as { tokens?: TokenStatus | null }).tokens;
    const failures = !tk ? '-' : tk.consecutiveFailures > 0 ? `${tk.failures} (failing: ${tk.lastError ?? ''})` : String(tk.failures);
    const last = c.lastHeartbeat === null ? '-' : wide ? c.lastHeartbeat : `${formatAge(now - Date.parse(c.lastHeartbeat))} ago`;
    const tokenCells = wide ? [c.deployed ? 'yes' : 'no', c.tokenExpiry ?? '-', tk?.lastRenewal ?? '-', failures] : [];
    const restart = !c.restartAt ? '' : wide ? `, restart at ${c.restartAt}` : `, restart in ${formatAge(Date.parse(c.restartAt) - now)}`;
    const state = `${c.state}${c.exit ? ` (${c.exit.code ?? c.exit.signal})` : ''}${restart}`;
    const requested = (c as { requestedRestarts?: number }).requestedRestarts ?? 0;
    const restarts = `${c.restarts ?? 0}${requested > 0 ? ` (${requested} asked)` : ''}`;
    ct.push([c.id, state, ...where(c), restarts, c.operators.join(' '), n(c.heartbeats), last, ...tokenCells]);
  }
  const containerHead = wide ? ['container'] : [];
  const ot = new Table({ ...style, head: ['operator', ...containerHead, 'window', 'tuples in', 'out', 'in/s', 'out/s', 'latency', 'checkpoint', 'stalled'] });
  for (const o of s.operators) {
    const container = wide ? [o.container] : [];
    ot.push([o.id, ...container, o.window, n(o.tuplesIn), n(o.tuplesOut), n(o.tuplesInPerSecond), n(o.tuplesOutPerSecond), `${o.latencyMs.toFixed(1)}ms`, o.checkpoint, o.stalled ? 'STALLED' : 'no']);
  }
  return `${lines.join('\n')}\n${ct.toString()}\n${ot.toString()}\n`;
}

/**
 * `certificates: 4 held, next expiry 2026-…Z (c3), 12 issued` under TLS, with `RENEWAL FAILING
 * for c2 (reason)` while STRAM refuses a container's CSRs or one is overdue (cert-health.ts).
 */
function certificateLine(s: AppStatus): string | undefined {
  const held = s.containers.flatMap((c) => {
    const cert = (c as { certificate?: CertificateStatus | null }).certificate;
    return cert ? [{ id: c.id, cert }] : [];
  });
  if (held.length === 0) return undefined;
  const valid = held.filter((h) => h.cert.notAfter !== null).sort((a, b) => Date.parse(a.cert.notAfter!) - Date.parse(b.cert.notAfter!));
  const next = valid[0] ? `, next expiry ${valid[0].cert.notAfter} (${valid[0].id})` : '';
  const issued = held.reduce((sum, h) => sum + h.cert.issued, 0);
  const failing = held.filter((h) => h.cert.failing).map((h) => `${h.id}${h.cert.lastError ? ` (${h.cert.lastError})` : ''}`);
  return `certificates: ${valid.length} held${next}, ${issued} issued${failing.length > 0 ? `, RENEWAL FAILING for ${failing.join(', ')}` : ''}`;
}

/** `owner alice@EXAMPLE.TEST (via HTTP/gw@EXAMPLE.TEST)`: who the app runs as, and who launched it for them. */
function ownerLine(owner: string, realUser: unknown): string {
  return typeof realUser === 'string' && realUser !== '' ? `owner ${owner} (via ${realUser})` : `owner ${owner}`;
}

/** 0.4s, 12s, 3m, 2h: how long ago, in a few characters. */
function formatAge(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  return s < 10 ? `${s.toFixed(1)}s` : s < 120 ? `${Math.round(s)}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}
