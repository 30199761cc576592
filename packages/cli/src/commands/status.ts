import Table from 'cli-table3';
import type { Command } from 'commander';
import { formatDuration } from '@sluice/common';
import { processAlive, type TokenStatus } from '@sluice/stram';
import { durationOrSeconds, flag } from '../flags.js';
import { withExamples } from '../help.js';
import { ExitCode } from '../report.js';
import { appStatus, openApp, type AppStatus } from './runtime-client.js';

const APP_DIR = ['--app-dir <dir>', 'the app directory', { shownDefault: 'the most recent under .sluice/apps' }] as const;

/** `sluice status` and `sluice shutdown`. */
export function registerStatusCommands(program: Command): void {
  const status = program
    .command('status')
    .description('show a running app: containers and operators with their stats')
    .addOption(flag(...APP_DIR))
    .addOption(flag('--json', 'print one JSON object instead of tables'))
    .action(async (opts: { appDir?: string; json?: boolean }) => {
      const status = await appStatus(opts.appDir);
      process.stdout.write(opts.json ? `${JSON.stringify(status)}\n` : renderStatus(status));
    });
  withExamples(status, ['status', 'status --app-dir .sluice/apps/wordcount-1a2b3c4d --json']);
  const shutdown = program
    .command('shutdown')
    .description('shut a running app down: containers stop, credentials and spool files are removed')
    .addOption(flag(...APP_DIR))
    .addOption(flag('--wait <duration>', 'how long to wait for STRAM to exit (a bare number is seconds)', { parse: durationOrSeconds, default: '60s' }))
    .action(async (opts: { appDir?: string; wait: number }) => {
      const client = openApp(opts.appDir);
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
  withExamples(shutdown, ['shutdown', 'shutdown --app-dir .sluice/apps/wordcount-1a2b3c4d --wait 30s']);
}

/** The latest failures, one short line each (`--json` has their stacks). */
function failureLines(s: AppStatus): string[] {
  const all = s.containers.flatMap((c) => (c.failures ?? []).map((f) => ({ ...f, container: c.id })));
  const latest = all.sort((x, y) => x.at.localeCompare(y.at)).slice(-5);
  return latest.map((f) => {
    const what = f.operator ? `${f.container} ${f.operator}` : f.container;
    const then = f.restartAfterMs === null ? '' : ` (restarted after ${formatDuration(f.restartAfterMs)})`;
    return `failure ${f.at} ${what}: ${f.message.split('\n')[0]}${then}`;
  });
}

export function renderStatus(s: AppStatus): string {
  const a = s.app as { id: string; name: string; state: string; secure: boolean; uptimeMs: number; committedWindow: number; rest: string; failure?: { reason: string; at: string } | null };
  const lines = [`app ${a.id} (${a.name}): ${a.state === 'failed' ? 'FAILED' : a.state}, ${a.secure ? 'secure' : 'INSECURE'}, up ${Math.round(a.uptimeMs / 1000)}s, committed window ${a.committedWindow}`];
  if (a.failure) lines.push(`FAILED at ${a.failure.at}: ${a.failure.reason}`);
  lines.push(...failureLines(s));
  const t = s.app['tokens'] as { renewals: number; reissues: number; failures: number; failing: number; keyRolls: number } | undefined;
  if (t) {
    const failing = t.failing > 0 ? `, RENEWAL FAILING for ${t.failing} container(s)` : '';
    lines.push(`tokens: ${t.renewals} renewals, ${t.reissues} reissues, ${t.failures} failures, ${t.keyRolls} master key rolls${failing}`);
  }
  const takeovers = s.app['subscriberTakeovers'] as { refused: number; takenOver: number } | undefined;
  if (takeovers) lines.push(`subscriber takeovers: ${takeovers.refused} refused by buffer servers, ${takeovers.takenOver} inputs taken over`);
  const stalled = s.operators.filter((o) => o.stalled).map((o) => o.id);
  if (stalled.length > 0) lines.push(`STALLED: ${stalled.join(' ')} (window stopped while upstream windows go on)`);
  // Plain text when piped (no ANSI colours in files or other programs' input).
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  const ct = new Table({ ...style, head: ['container', 'state', 'pid', 'restarts', 'operators', 'heartbeats', 'last heartbeat', 'deployed', 'token expiry', 'last renewal', 'renewal failures'] });
  for (const c of s.containers) {
    const tk = (c as { tokens?: TokenStatus | null }).tokens;
    const failures = !tk ? '-' : tk.consecutiveFailures > 0 ? `${tk.failures} (failing: ${tk.lastError ?? ''})` : String(tk.failures);
    const state = `${c.state}${c.exit ? ` (${c.exit.code ?? c.exit.signal})` : ''}${c.restartAt ? `, restart at ${c.restartAt}` : ''}`;
    ct.push([c.id, state, c.pid ?? '-', c.restarts ?? 0, c.operators.join(' '), c.heartbeats, c.lastHeartbeat ?? '-', c.deployed ? 'yes' : 'no', c.tokenExpiry ?? '-', tk?.lastRenewal ?? '-', failures]);
  }
  const ot = new Table({ ...style, head: ['operator', 'container', 'window', 'tuples in', 'tuples out', 'tuples/s', 'latency ms', 'checkpoint', 'stalled'] });
  for (const o of s.operators) ot.push([o.id, o.container, o.window, o.tuplesIn, o.tuplesOut, o.tuplesPerSecond, o.latencyMs.toFixed(1), o.checkpoint, o.stalled ? 'STALLED' : 'no']);
  return `${lines.join('\n')}\n${ct.toString()}\n${ot.toString()}\n`;
}
