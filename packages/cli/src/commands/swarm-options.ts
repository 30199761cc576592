import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SluiceError, type Logger } from '@sluice/common';
import { DockerApiError, DockerEngine, SwarmApi, SwarmLauncher, type StramOptions } from '@sluice/stram';

/**
 * `--launcher swarm` (docs/swarm.md): the swarm launcher, its image found or built from this
 * checkout (saying which), and the address its tasks reach this STRAM by.
 */

/** The STRAM options a launcher implies. */
export type LauncherStramOptions = Pick<StramOptions, 'launcher' | 'containerEntry' | 'host' | 'advertiseHost' | 'containerBindHost'>;

export interface SwarmFlags {
  dockerImage: string;
  advertiseHost?: string;
  swarmNetwork?: string;
  swarmConstraint?: string[];
  swarmLabel?: string[];
  swarmCpus?: number;
  swarmMemory?: number;
}

/** Bases the image can be built on with no registry: the public one if the engine has it, else the local one scripts/docker-engine.sh makes. */
const BASES = ['node:20-bookworm-slim', 'local/node-min:latest'];

export async function swarmLauncherOptions(flags: SwarmFlags, socketPath: string, logLevel: string, logger: Logger): Promise<LauncherStramOptions> {
  const labels: Record<string, string> = {};
  for (const l of flags.swarmLabel ?? []) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new SluiceError('BAD_CONFIG', `--swarm-label must be key=value, not "${l}"`);
    labels[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const root = workspaceRoot();
  const api = new SwarmApi(new DockerEngine(socketPath));
  // Swarm mode first: its one line says what to do before any image is built.
  await api.checkManager();
  await findOrBuildImage(api.engine, flags.dockerImage, root);
  const launcher = new SwarmLauncher({
    image: flags.dockerImage,
    socketPath,
    logLevel,
    logger,
    labels,
    ...(root ? { sourceRoot: root } : {}),
    ...(flags.swarmNetwork ? { network: flags.swarmNetwork } : {}),
    ...(flags.swarmConstraint ? { constraints: flags.swarmConstraint } : {}),
    ...(flags.swarmCpus ? { cpus: flags.swarmCpus } : {}),
    ...(flags.swarmMemory ? { memoryBytes: flags.swarmMemory } : {}),
  });
  // A STRAM outside the swarm's networks is reached from the tasks on this node through docker_gwbridge.
  const advertiseHost = flags.advertiseHost ?? (await api.hostGateway());
  if (!advertiseHost) {
    throw new SluiceError('BAD_CONFIG', 'the swarm launcher cannot tell how tasks reach this STRAM (no docker_gwbridge network on this node yet): give --advertise-host <this node\'s address>');
  }
  return { launcher, host: '0.0.0.0', advertiseHost, containerBindHost: '0.0.0.0' };
}

/** The checkout this CLI runs from (the image's build context), if it runs from one. */
function workspaceRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml')) && dirname(dir) !== dir) dir = dirname(dir);
  return existsSync(join(dir, 'pnpm-workspace.yaml')) ? dir : undefined;
}

async function has(engine: DockerEngine, image: string): Promise<boolean> {
  try {
    await engine.call('GET', `/images/${encodeURIComponent(image)}/json`, undefined, 10_000);
    return true;
  } catch (err) {
    if (err instanceof DockerApiError && err.status === 404) return false;
    throw err;
  }
}

/** Uses the image if the engine has it; else builds it from the checkout (docker/Dockerfile) on a base the engine has. Says which on stderr. */
async function findOrBuildImage(engine: DockerEngine, image: string, root: string | undefined): Promise<void> {
  if (await has(engine, image)) {
    process.stderr.write(`swarm: using image ${image} (found in the engine)\n`);
    return;
  }
  const dockerfile = root && join(root, 'docker', 'Dockerfile');
  if (!dockerfile || !existsSync(dockerfile)) {
    throw new SluiceError('BAD_CONFIG', `docker image ${image} is not in the engine and this CLI runs from no checkout to build it from; build it: docker build -f docker/Dockerfile -t ${image} .`);
  }
  let base: string | undefined;
  for (const b of BASES) if (await has(engine, b)) base ??= b;
  if (!base) throw new SluiceError('BAD_CONFIG', `docker image ${image} is not in the engine, nor a base to build it on (${BASES.join(' or ')}): run bash scripts/docker-engine.sh start`);
  process.stderr.write(`swarm: building image ${image} from ${root} on ${base}...\n`);
  try {
    await promisify(execFile)('docker', ['build', '-q', '-f', dockerfile, '--build-arg', `BASE=${base}`, '-t', image, root!], { maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const why = e.code === 'ENOENT' ? 'no docker CLI on PATH' : (e.stderr ?? e.message).trim().split('\n').at(-1);
    throw new SluiceError('BAD_CONFIG', `cannot build docker image ${image}: ${why}; build it: docker build -f docker/Dockerfile -t ${image} .`, { cause: err });
  }
  process.stderr.write(`swarm: built image ${image}\n`);
}
