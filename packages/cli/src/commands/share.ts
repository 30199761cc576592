import type { Command } from 'commander';
import { SluiceError } from '@sluice/common';
import { GROUP_PREFIX, type AppPermissions } from '@sluice/gateway';
import { flag } from '../flags.js';
import { withExamples } from '../help.js';
import { addGatewayFlags, type GatewayFlags, GatewayClient } from './gateway-client.js';
import { need } from './gateway-commands.js';

interface ShareFlags extends GatewayFlags {
  with?: string[];
  manage?: boolean;
  revoke?: boolean;
}

/**
 * `sluice share APP --gateway URL --with bob [--manage] [--revoke]` (docs/security.md "Who may do
 * what"): whom besides its owner an app shows itself to (view) or obeys (manage, which includes
 * view). Reads the app's shares, changes them, writes them back; a revoke counts from the
 * gateway's next request. Without --with it prints the shares.
 */
export function registerShareCommand(program: Command): void {
  const cmd = addGatewayFlags(program.command('share').argument('<app>', 'the app id (sluice list --gateway URL)').description("let others view or manage an app of yours through a gateway, or take that back"), 'share')
    .addOption(flag('--with <who...>', 'principals (bob, bob@REALM) or groups (group:ops), as several words or comma-separated', { shownDefault: 'nobody: print the shares' }))
    .addOption(flag('--manage', 'share manage (shut it down, and view): without it, view only'))
    .addOption(flag('--revoke', 'take the share back: all of it, or with --manage only manage'))
    .action(async (app: string, opts: ShareFlags) => {
      const client = await GatewayClient.login(need(opts, 'share'));
      let grants = await client.permissions(app);
      const named = (opts.with ?? []).flatMap((w) => w.split(',')).map((w) => w.trim()).filter(Boolean);
      if (opts.with !== undefined && named.length === 0) throw new SluiceError('BAD_USAGE', '--with needs a principal or group:<name>');
      if (named.length > 0) {
        // A bare name is of the caller's own realm, as kinit takes it.
        const realm = (await client.whoami()).principal.split('@')[1] ?? '';
        const who = named.map((w) => (w.startsWith(GROUP_PREFIX) || w.includes('@') ? w : `${w}@${realm}`));
        grants = await client.setPermissions(app, change(grants, who, opts));
      }
      process.stdout.write(`app ${app} is shared with\n  view:   ${grants.view.join(', ') || '-'}\n  manage: ${grants.manage.join(', ') || '-'}\n`);
    });
  withExamples(cmd, ['share a1b2c3 --gateway http://gw.example.com:8443 --with bob', 'share a1b2c3 --gateway http://gw.example.com:8443 --with group:ops --manage', 'share a1b2c3 --gateway http://gw.example.com:8443 --with bob --revoke']);
}

/** The shares after granting or revoking `who`. */
export function change(grants: AppPermissions, who: readonly string[], o: { manage?: boolean; revoke?: boolean }): AppPermissions {
  const without = (list: string[]) => list.filter((e) => !who.includes(e));
  const plus = (list: string[]) => [...without(list), ...who];
  if (o.revoke) return o.manage ? { view: plus(grants.view), manage: without(grants.manage) } : { view: without(grants.view), manage: without(grants.manage) };
  return o.manage ? { view: without(grants.view), manage: plus(grants.manage) } : { view: plus(grants.view), manage: grants.manage };
}
