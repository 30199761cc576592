import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WORDCOUNT, runCli, tempDir } from './helpers/runtime-cli.js';

/**
 * The docker launcher checks its engine before anything is written (docs/docker.md): with no
 * engine where DOCKER_HOST points, `sluice launch --launcher docker` says so in one line, exits
 * non-zero at once, and leaves no app directory behind. No Docker needed: the socket does not exist.
 */
describe('sluice launch --launcher docker without an engine', () => {
  const tmp = tempDir('sluice-docker-check-');
  afterAll(() => tmp.remove());

  it('fails once, with one line saying what is missing and how to start it, and no app directory debris', async () => {
    const socket = join(tmp.path, 'no-such-docker.sock');
    const r = await runCli(['launch', WORDCOUNT, '--launcher', 'docker', '--docker-network', 'sluice'], tmp.path, { DOCKER_HOST: `unix://${socket}` });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^sluice( launch)?: /);
    expect(lines[0]!.replace(/^sluice( launch)?: /, '')).toBe(
      `docker engine not reachable at unix://${socket}: connect ENOENT ${socket}; start it with 'bash scripts/docker-engine.sh start' or set DOCKER_HOST [ENGINE_UNREACHABLE]`,
    );
    expect(existsSync(join(tmp.path, '.sluice'))).toBe(false);
    expect(readdirSync(tmp.path)).toEqual([]);
  });

  it('a DOCKER_HOST that is not a unix socket is refused, naming it', async () => {
    const r = await runCli(['launch', WORDCOUNT, '--launcher', 'docker', '--docker-network', 'sluice'], tmp.path, { DOCKER_HOST: 'tcp://127.0.0.1:2375' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/DOCKER_HOST=tcp:\/\/127\.0\.0\.1:2375 is not a unix socket.*\[BAD_CONFIG\]/);
    expect(readdirSync(tmp.path)).toEqual([]);
  });
});
