import type { Command } from 'commander';
import type { RestartAnswer } from '@sluice/stram';
import { flag } from '../flags.js';
import { withExamples } from '../help.js';
import { GatewayClient, addGatewayFlags, checkGatewayFlags, type GatewayFlags } from './gateway-client.js';
import { addAppFlag } from './gateway-commands.js';
import { openApp } from './runtime-client.js';
import { APP_DIR } from './status.js';

/**
 * `sluice restart-container CONTAINER`: STRAM replaces one container of a running app now (docs/guide.md
 * "Restarting a container"): the process is stopped, its replacement gets fresh credentials and
 * resumes from the committed window. It is not a failure: the restart strategy does not count it.
 * Through the app directory's web token, or a gateway (`--gateway URL --app ID`) as `sluice shutdown`.
 */
export function registerRestartCommand(program: Command): void {
  const restart = program
    .command('restart-container')
    .description('replace one container of a running app now; it resumes from the committed window')
    .argument('<container>', 'the container, by its id (c1, c2, ...: sluice status lists them)')
    .addOption(flag(...APP_DIR))
    .action(async (container: string, opts: GatewayFlags & { appDir?: string; app?: string }) => {
      checkGatewayFlags({ ...opts }, ['appDir']);
      if (opts.gateway !== undefined) {
        const client = await GatewayClient.login({ ...opts, gateway: opts.gateway });
        const id = await client.pick(opts.app);
        await client.restartContainer(id, container);
        process.stdout.write(`restart of ${container} requested for ${id}\n`);
        return;
      }
      const client = openApp(opts.appDir);
      await client.post<RestartAnswer>(`/ws/v1/containers/${encodeURIComponent(container)}/restart`, { 404: 'NO_SUCH_CONTAINER', 409: 'CONTAINER_BUSY' });
      process.stdout.write(`restart of ${container} requested for ${client.info.appId}\n`);
    });
  addAppFlag(addGatewayFlags(restart, 'restart it'));
  withExamples(restart, ['restart-container c2', 'restart-container c2 --app-dir .sluice/apps/wordcount-1a2b3c4d', 'restart-container c2 --gateway http://gw.example.com:8443 --app wordcount-1a2b3c4d']);
}
