import { SluiceError } from '@sluice/common';
import { DockerApiError, containerName, engineAnswers, type DockerEngine } from './docker-launcher.js';

/**
 * The Swarm part of the Engine API that the swarm launcher and `sluice shutdown` use: swarm mode,
 * the app's overlay network, its secrets and its services, each found by the labels Sluice puts
 * on everything it creates (`sluice.app`, `sluice.launcher=swarm`, `sluice.container`).
 */

export const SWARM_LABEL = { launcher: 'sluice.launcher', app: 'sluice.app', container: 'sluice.container', version: 'sluice.version' } as const;

export interface SwarmTask {
  ID: string;
  Status: { State: string; Err?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } };
  DesiredState: string;
  NodeID?: string;
}

/** Task states after which a task never runs again (restart policy none: neither does its service). */
const TERMINAL = new Set(['complete', 'failed', 'shutdown', 'rejected', 'orphaned', 'remove']);
export const isTerminal = (t: SwarmTask): boolean => TERMINAL.has(t.Status.State);

/** What an app has in the swarm (every kind found by its `sluice.app` label). */
export interface AppObjects {
  services: { ID: string; Spec: { Name: string; Labels?: Record<string, string> } }[];
  secrets: { ID: string; Spec: { Name: string; Labels?: Record<string, string> } }[];
  networks: { Id: string; Name: string }[];
}

export class SwarmApi {
  constructor(readonly engine: DockerEngine) {}

  /** The engine answers and is a swarm manager; otherwise one line saying how to make it one. */
  async checkManager(): Promise<void> {
    await engineAnswers(this.engine);
    const info = (await this.engine.call('GET', '/info', undefined, 10_000)) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
    const state = info.Swarm?.LocalNodeState ?? 'inactive';
    if (state !== 'active') {
      throw new SluiceError('NOT_SWARM_MANAGER', `the Docker engine at unix://${this.engine.socketPath} is not in swarm mode (${state || 'inactive'}): run docker swarm init --advertise-addr 127.0.0.1 (or this node's address)`);
    }
    if (!info.Swarm?.ControlAvailable) {
      throw new SluiceError('NOT_SWARM_MANAGER', `the Docker engine at unix://${this.engine.socketPath} is a swarm worker, not a manager: run STRAM on a manager node (docker node ls there)`);
    }
  }

  /** A filter on labels, as the Engine API wants it in a query string. */
  static labels(...pairs: string[]): string {
    return encodeURIComponent(JSON.stringify({ label: pairs }));
  }

  /** The app's overlay network (attachable, labelled), made once; an existing one (a recovered app's) is reused. */
  async ensureNetwork(app: string, labels: Record<string, string>): Promise<string> {
    const name = containerName(app, 'net');
    const found = (await this.engine.call('GET', `/networks?filters=${SwarmApi.labels(`${SWARM_LABEL.app}=${app}`)}`)) as { Id: string; Name: string }[];
    const mine = found.find((n) => n.Name === name);
    if (mine) return mine.Id;
    const made = (await this.engine.call('POST', '/networks/create', {
      Name: name,
      Driver: 'overlay',
      Attachable: true,
      CheckDuplicate: true,
      Labels: { ...labels, [SWARM_LABEL.launcher]: 'swarm', [SWARM_LABEL.app]: app },
    })) as { Id: string };
    return made.Id;
  }

  /** The address the tasks on this node reach the host by (docker_gwbridge's gateway): where a STRAM outside the swarm is reached. */
  async hostGateway(): Promise<string | undefined> {
    try {
      const n = (await this.engine.call('GET', '/networks/docker_gwbridge')) as { IPAM?: { Config?: { Gateway?: string }[] } };
      return n.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
    } catch (err) {
      if (err instanceof DockerApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async createSecret(name: string, data: string, labels: Record<string, string>): Promise<string> {
    const made = (await this.engine.call('POST', '/secrets/create', { Name: name, Labels: labels, Data: Buffer.from(data, 'utf8').toString('base64') })) as { ID: string };
    return made.ID;
  }

  async createService(spec: Record<string, unknown>): Promise<string> {
    return ((await this.engine.call('POST', '/services/create', spec)) as { ID: string }).ID;
  }

  async tasks(service: string): Promise<SwarmTask[]> {
    return (await this.engine.call('GET', `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: [service] }))}`)) as SwarmTask[];
  }

  /** Removes a service, secret or network; one already gone is fine. */
  async remove(kind: 'services' | 'secrets' | 'networks', id: string): Promise<void> {
    try {
      await this.engine.call('DELETE', `/${kind}/${encodeURIComponent(id)}`);
    } catch (err) {
      if (!(err instanceof DockerApiError) || err.status !== 404) throw err;
    }
  }

  /** Everything carrying `labels` (all of `sluice.app=<app>`'s, or one container's). */
  async find(...labels: string[]): Promise<AppObjects> {
    const f = SwarmApi.labels(...labels);
    const [services, secrets, networks] = await Promise.all([
      this.engine.call('GET', `/services?filters=${f}`),
      this.engine.call('GET', `/secrets?filters=${f}`),
      this.engine.call('GET', `/networks?filters=${f}`),
    ]);
    return { services, secrets, networks } as AppObjects;
  }

  /**
   * Removes every service, secret and network of an app (its end, or `sluice shutdown` after its
   * STRAM died). Services first: a secret in use or a network with tasks on it cannot go until
   * their tasks have; those are retried for a while.
   */
  async removeApp(app: string, timeoutMs = 30_000): Promise<{ services: number; secrets: number; networks: number }> {
    const all = await this.find(`${SWARM_LABEL.app}=${app}`);
    for (const s of all.services) await this.remove('services', s.ID);
    const deadline = Date.now() + timeoutMs;
    for (const [kind, ids] of [
      ['secrets', all.secrets.map((s) => s.ID)],
      ['networks', all.networks.map((n) => n.Id)],
    ] as const) {
      for (const id of ids) {
        for (;;) {
          try {
            await this.remove(kind, id);
            break;
          } catch (err) {
            // 400/409/500 "in use": its tasks are still stopping.
            if (Date.now() > deadline) throw err;
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      }
    }
    return { services: all.services.length, secrets: all.secrets.length, networks: all.networks.length };
  }
}
