import { hostname } from 'node:os';
import type { Command } from 'commander';
import { SluiceError, type Logger } from '@sluice/common';
import { DockerLauncher, type StramOptions } from '@sluice/stram';
import { flag } from '../flags.js';
import { containerEntry } from './container-entry.js';

/** `--launcher local|docker` and the Docker launcher's settings, shared by `sluice launch` and `sluice demo` (docs/docker.md). */
export interface LauncherFlags {
  launcher: 'local' | 'docker';
  dockerNetwork?: string;
  dockerImage: string;
  dockerSocket?: string;
  advertiseHost?: string;
}

export function addLauncherOptions(cmd: Command): Command {
  return cmd
    .addOption(flag('--launcher <kind>', 'how containers start: local (child processes) or docker (one Docker container each)', { choices: ['local', 'docker'], default: 'local' }))
    .addOption(flag('--docker-network <name>', 'docker launcher: the user-defined network STRAM and the containers share'))
    .addOption(flag('--docker-image <image>', 'docker launcher: the Sluice image the containers run', { default: 'sluice:local' }))
    .addOption(flag('--docker-socket <path>', 'docker launcher: the Docker Engine API socket', { shownDefault: 'the one $DOCKER_HOST names, else /var/run/docker.sock' }))
    .addOption(flag('--advertise-host <host>', 'docker launcher: the name containers reach STRAM by', { shownDefault: "this host's name, its container name in Docker" }));
}

/**
 * The STRAM options a launcher implies. Docker: STRAM and every buffer server listen on 0.0.0.0
 * and are reached by name on the network, so STRAM should itself run in a container on it.
 */
export function launcherOptions(flags: LauncherFlags, logLevel: string, logger: Logger): Pick<StramOptions, 'launcher' | 'containerEntry' | 'host' | 'advertiseHost' | 'containerBindHost'> {
  if (flags.launcher === 'local') return { containerEntry: containerEntry() };
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
