import { hostname } from 'node:os';
import { Option, type Command } from 'commander';
import { SluiceError, type Logger } from '@sluice/common';
import { DockerLauncher } from '@sluice/stram';
import { flag, size } from '../flags.js';
import { containerEntry } from './container-entry.js';
import { swarmLauncherOptions, type LauncherStramOptions, type SwarmFlags } from './swarm-options.js';

/** `--launcher local|docker|swarm` and the Docker and Swarm launchers' settings, shared by `sluice launch` and `sluice demo` (docs/docker.md, docs/swarm.md). */
export interface LauncherFlags extends SwarmFlags {
  launcher: 'local' | 'docker' | 'swarm';
  dockerNetwork?: string;
  dockerImage: string;
  dockerSocket?: string;
  advertiseHost?: string;
}

export function addLauncherOptions(cmd: Command): Command {
  return cmd
    .addOption(flag('--launcher <kind>', 'how containers start: local (child processes), docker (one Docker container each) or swarm (one Docker Swarm service each)', { choices: ['local', 'docker', 'swarm'], default: 'local' }))
    .addOption(flag('--docker-network <name>', 'docker launcher: the user-defined network STRAM and the containers share'))
    .addOption(flag('--docker-image <image>', 'docker and swarm launchers: the Sluice image the containers run (swarm: built from this checkout if missing)', { default: 'sluice:local' }))
    .addOption(flag('--docker-socket <path>', 'docker and swarm launchers: the Docker Engine API socket', { shownDefault: 'the one $DOCKER_HOST names, else /var/run/docker.sock' }))
    .addOption(flag('--advertise-host <host>', 'docker and swarm launchers: the name or address containers reach STRAM by', { shownDefault: "docker: this host's name; swarm: this node's docker_gwbridge gateway" }))
    .addOption(flag('--swarm-network <name>', 'swarm launcher: an existing attachable overlay network to run on, kept at the end', { shownDefault: 'one the app makes and removes, sluice-<app id>-net' }))
    .addOption(repeatable('--swarm-constraint <expr>', 'swarm launcher: a placement constraint for every service, repeatable (node.role==worker, node.labels.zone==a)'))
    .addOption(repeatable('--swarm-label <key=value>', 'swarm launcher: a label on every service, task, secret and the network, repeatable'))
    .addOption(flag('--swarm-cpus <n>', 'swarm launcher: CPU limit per container (1.5 = one and a half cores)', { parse: cpus }))
    .addOption(flag('--swarm-memory <size>', 'swarm launcher: memory limit per container (512m, 2g)', { parse: size }));
}

function repeatable(flags: string, description: string): Option {
  return new Option(flags, description).argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
}

const cpus = (text: string, name: string): number => {
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) throw new SluiceError('BAD_CONFIG', `${name} must be a positive number of CPUs such as 0.5 or 2, not "${text}"`);
  return n;
};

/**
 * The STRAM options a launcher implies. Docker: STRAM and every buffer server listen on 0.0.0.0
 * and are reached by name on the network, so STRAM should itself run in a container on it.
 */
export async function launcherOptions(flags: LauncherFlags, logLevel: string, logger: Logger): Promise<LauncherStramOptions> {
  if (flags.launcher === 'local') return { containerEntry: containerEntry() };
  if (flags.launcher === 'swarm') return swarmLauncherOptions(flags, flags.dockerSocket ?? dockerHostSocket(process.env['DOCKER_HOST']), logLevel, logger);
  if (!flags.dockerNetwork) throw new SluiceError('BAD_CONFIG', '--launcher docker needs --docker-network (a user-defined network: docker network create sluice)');
  return {
    launcher: new DockerLauncher({ image: flags.dockerImage, network: flags.dockerNetwork, socketPath: flags.dockerSocket ?? dockerHostSocket(process.env['DOCKER_HOST']), logLevel, logger }),
    host: '0.0.0.0',
    advertiseHost: flags.advertiseHost ?? hostname(),
    containerBindHost: '0.0.0.0',
  };
}

/** The socket `DOCKER_HOST` names (`unix:///path`), as the docker CLI reads it; /var/run/docker.sock without one. */
export function dockerHostSocket(dockerHost: string | undefined): string {
  if (!dockerHost) return '/var/run/docker.sock';
  if (dockerHost.startsWith('unix://')) return dockerHost.slice('unix://'.length);
  throw new SluiceError('BAD_CONFIG', `DOCKER_HOST=${dockerHost} is not a unix socket; the docker launcher talks to the engine on one (DOCKER_HOST=unix:///var/run/docker.sock, or --docker-socket)`);
}
