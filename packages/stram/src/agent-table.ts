import { subscriptionsOf, type PhysicalPlan } from '@sluice/common';
import type { ContainerAgent } from './container-agent.js';
import type { ContainerRecord } from './container-table.js';

/** Every container's agent, and who reads from whom in the plan (computed once). */
export class AgentTable implements Iterable<ContainerAgent> {
  private readonly byId: ReadonlyMap<string, ContainerAgent>;
  private readonly upstreams = new Map<string, string[]>();
  /** Which container hosts each buffer server. */
  private hostOf: Map<string, string> | undefined;

  constructor(
    readonly plan: PhysicalPlan,
    agents: readonly ContainerAgent[],
  ) {
    this.byId = new Map(agents.map((a) => [a.id, a]));
  }

  [Symbol.iterator](): Iterator<ContainerAgent> {
    return this.byId.values();
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): ContainerAgent | undefined {
    return this.byId.get(id);
  }

  /** The agent of the container that hosts buffer server `bs`. */
  ofBufferServer(bs: string): ContainerAgent | undefined {
    for (const a of this.byId.values()) if (a.record.bufferServer === bs) return a;
    return undefined;
  }

  /** The containers whose buffer servers container `id` reads from. */
  upstreamOf(id: string): string[] {
    let ids = this.upstreams.get(id);
    if (!ids) {
      // Built once: per container it made every container's first heartbeat cost O(containers).
      this.hostOf ??= new Map(this.plan.containers.map((c) => [c.bufferServer, c.id]));
      const byBs = this.hostOf;
      ids = [...subscriptionsOf(this.plan, id).keys()].map((bs) => byBs.get(bs)!);
      this.upstreams.set(id, ids);
    }
    return ids;
  }

  /** The containers that read, through a buffer server, from container `id`'s buffer server. */
  downstreamOf(id: string): ContainerAgent[] {
    return [...this.byId.values()].filter((a) => a.id !== id && this.upstreamOf(a.id).includes(id));
  }

  /** The buffer-server URL of every container that has reported one. */
  bufferServerUrls(): Map<string, string> {
    const urls = new Map<string, string>();
    for (const a of this.byId.values()) if (a.record.bufferServerUrl) urls.set(a.id, a.record.bufferServerUrl);
    return urls;
  }

  records(): Map<string, ContainerRecord> {
    return new Map([...this.byId].map(([id, a]) => [id, a.record]));
  }
}
