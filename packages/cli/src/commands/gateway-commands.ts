import Table from 'cli-table3';
import type { Command } from 'commander';
import { SluiceError, formatDuration, isoTime } from '@sluice/common';
import { AppState, type AppSummary, type LaunchRequest } from '@sluice/gateway';
import { flag } from '../flags.js';
import { withExamples } from '../help.js';
import { invocation } from '../invocation.js';
import { ExitCode } from '../report.js';
import { GatewayClient, addGatewayFlags, type GatewayFlags } from './gateway-client.js';
import type { AppStatus } from './runtime-client.js';

/**
 * What `sluice launch | status | shutdown --gateway URL` do, and `sluice list` and `sluice
 * whoami` (docs/guide.md "Through a gateway"): the same output as the local commands, from the
 * gateway's API. A refusal is the gateway's code and reason in one line (GATEWAY_REFUSED).
 */

type Flags = GatewayFlags & { gateway: string };

/** `--app <id>`: which of the caller's apps (default: the most recent that runs). */
export function addAppFlag(cmd: Command): Command {
  return cmd.addOption(flag('--app <id>', '--gateway: the app, by its id', { shownDefault: 'your most recent running app' }));
}

/** `sluice list` and `sluice whoami`; they exist only with a gateway. */
export function registerGatewayClientCommands(program: Command): void {
  const list = addGatewayFlags(program.command('list').description('list the apps a gateway runs that you may see: id, name, owner, state, started'), 'ask')
    .addOption(flag('--json', 'print a JSON array instead of a table'))
    .action(async (opts: GatewayFlags & { json?: boolean }) => {
      const client = await GatewayClient.login(need(opts, 'list'));
      const apps = await client.apps();
      process.stdout.write(opts.json ? `${JSON.stringify(apps)}\n` : renderList(apps));
    });
  withExamples(list, ['list --gateway http://gw.example.com:8443', 'list --gateway http://gw.example.com:8443 --json']);
  const whoami = addGatewayFlags(program.command('whoami').description('who a gateway takes you for: principal, groups, roles and permissions'), 'ask')
    .addOption(flag('--json', 'print one JSON object'))
    .action(async (opts: GatewayFlags & { json?: boolean }) => {
      const client = await GatewayClient.login(need(opts, 'whoami'));
      const me = await client.whoami();
      const lines = [
        `principal:   ${me.principal}`,
        ...(me.realUser ? [`real user:   ${me.realUser}`] : []),
        `groups:      ${(me.groups ?? []).join(', ') || '-'}`,
        `roles:       ${me.roles.join(', ') || '-'}`,
        `permissions: ${me.permissions.join(', ') || '-'}`,
      ];
      process.stdout.write(opts.json ? `${JSON.stringify(me)}\n` : `${lines.join('\n')}\n`);
    });
  withExamples(whoami, ['whoami --gateway http://gw.example.com:8443', 'whoami --gateway http://gw.example.com:8443 --keytab ~/alice.keytab --principal alice@EXAMPLE.COM']);
}

export function need(opts: GatewayFlags, command: string): Flags {
  // A usage error of our own: commander's "required option" would not say what the command is for.
  if (opts.gateway === undefined) throw new SluiceError('BAD_USAGE', `sluice ${command} asks a gateway: give --gateway <url>`);
  return opts as Flags;
}

export function renderList(apps: readonly AppSummary[]): string {
  const style = process.stdout.isTTY ? {} : { style: { head: [], border: [] } };
  const table = new Table({ ...style, head: ['id', 'name', 'owner', 'state', 'started'] });
  for (const a of apps) table.push([a.id, a.name, a.realUser ? `${a.owner} (via ${a.realUser})` : a.owner, a.state, isoTime(a.startedAt)]);
  return `${table.toString()}\n`;
}

/** `sluice launch APP --gateway URL`: the app path as the gateway's machine sees it (the same machine, or a shared path). */
export async function launchViaGateway(opts: Flags, request: LaunchRequest): Promise<void> {
  const client = await GatewayClient.login(opts);
  const { id } = await client.launch(request);
  const entry = (await client.apps()).find((a) => a.id === id);
  const cli = invocation();
  const at = `--gateway ${client.url} --app ${id}`;
  process.stdout.write(
    `launched ${id} through ${client.url}\n` +
      (entry ? `  owner:    ${entry.owner}${entry.realUser ? ` (via ${entry.realUser})` : ''}\n` : '') +
      `  status:   ${cli} status ${at}\n` +
      `  stop:     ${cli} shutdown ${at}\n`,
  );
}

/** `sluice status --gateway URL [--app ID]`: STRAM's status, proxied; a stopped app's one line. */
export async function statusViaGateway(client: GatewayClient, opts: { app?: string; json?: boolean }, render: (s: AppStatus) => string): Promise<string> {
  const detail = await client.app(await client.pick(opts.app));
  if (opts.json) return `${JSON.stringify(detail)}\n`;
  if (detail.status) return render(detail.status as AppStatus);
  return `app ${detail.id} (${detail.name}): ${detail.state}, owner ${detail.owner}, started ${isoTime(detail.startedAt)}\n`;
}

/** `sluice shutdown --gateway URL [--app ID]`: asks, then waits (up to `wait`) until the gateway sees it stopped. */
export async function shutdownViaGateway(opts: Flags & { app?: string; wait: number }): Promise<void> {
  const client = await GatewayClient.login(opts);
  const id = await client.pick(opts.app);
  await client.shutdown(id);
  process.stdout.write(`shutdown requested for ${id}\n`);
  const deadline = Date.now() + opts.wait;
  const running = async (): Promise<boolean> => {
    const state = (await client.apps()).find((a) => a.id === id)?.state;
    return state === AppState.running || state === AppState.unreachable;
  };
  while ((await running()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (await running()) {
    process.stderr.write(`${id} is still running after ${formatDuration(opts.wait)}\n`);
    process.exitCode = ExitCode.failed;
  } else {
    process.stdout.write(`${id} stopped\n`);
  }
}
