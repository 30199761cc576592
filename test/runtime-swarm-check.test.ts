import { createServer, type Server } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/runtime-cli.js';

/**
 * The swarm launcher checks up front (docs/swarm.md): no engine, an engine not in swarm mode, or a
 * swarm worker instead of a manager each give one line saying what to do, a non-zero exit and no
 * app directory. The engine here is a stand-in answering the Engine API's /_ping and /info on a
 * real unix socket, so no Docker is needed and no real engine's swarm mode is touched.
 */

async function fakeEngine(socket: string, swarm: { LocalNodeState: string; ControlAvailable: boolean }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/_ping') return void res.end('OK');
    if (req.url === '/info') return void res.setHeader('content-type', 'application/json').end(JSON.stringify({ Swarm: swarm }));
    res.statusCode = 404;
    res.setHeader('content-type', 'application/json').end(JSON.stringify({ message: 'not here' }));
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return server;
}

/** The one line a refused `sluice demo --launcher swarm` prints, without the `sluice demo: ` prefix. */
async function refusal(dir: string, socket: string): Promise<string> {
  const r = await runCli(['demo', '--launcher', 'swarm', '--duration', '1s'], dir, { DOCKER_HOST: `unix://${socket}` });
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(readdirSync(dir).filter((f) => !f.endsWith('.sock'))).toEqual([]);
  return lines[0]!.replace(/^sluice( demo)?: /, '');
}

describe('sluice demo --launcher swarm checks its engine first', () => {
  const tmp = tempDir('sluice-swarm-check-');
  const servers: Server[] = [];
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    tmp.remove();
  });

  it('no engine: one line saying how to start one', async () => {
    const socket = join(tmp.path, 'none.sock');
    expect(await refusal(tmp.path, socket)).toBe(`docker engine not reachable at unix://${socket}: connect ENOENT ${socket}; start it with 'bash scripts/docker-engine.sh start' or set DOCKER_HOST [ENGINE_UNREACHABLE]`);
  });

  it('an engine not in swarm mode: one line saying to run docker swarm init', async () => {
    const socket = join(tmp.path, 'plain.sock');
    servers.push(await fakeEngine(socket, { LocalNodeState: 'inactive', ControlAvailable: false }));
    expect(await refusal(tmp.path, socket)).toBe(`the Docker engine at unix://${socket} is not in swarm mode (inactive): run docker swarm init --advertise-addr 127.0.0.1 (or this node's address) [NOT_SWARM_MANAGER]`);
  });

  it('a swarm worker: one line saying to run STRAM on a manager', async () => {
    const socket = join(tmp.path, 'worker.sock');
    servers.push(await fakeEngine(socket, { LocalNodeState: 'active', ControlAvailable: false }));
    expect(await refusal(tmp.path, socket)).toBe(`the Docker engine at unix://${socket} is a swarm worker, not a manager: run STRAM on a manager node (docker node ls there) [NOT_SWARM_MANAGER]`);
  });
});
