import { boundNamesAt, deployFor } from '@sluice/common';
import type { AgentTable } from './agent-table.js';
import type { ContainerAgent } from './container-agent.js';

/**
 * A container's deploy (docs/architecture.md "Processes"): sent once every container it reads
 * from has reported its buffer server, with the operators restoring from the container's restore
 * window when it is a replacement, and the subscriber names its buffer server is to hold for the
 * downstream containers (docs/protocol.md "Subscriber names": reserved before any of them learns
 * where the server is). Returns whether it was sent.
 */
export function offerDeploy(agent: ContainerAgent, agents: AgentTable): boolean {
  const r = agent.record;
  if (r.deployed) return false;
  if (!agents.upstreamOf(r.id).every((id) => agents.get(id)?.record.bufferServerUrl)) return false;
  const restore = r.restore > 0 ? new Map(r.operators.map((op) => [op, r.restore])) : undefined;
  agent.send({ c: 'deploy', operators: deployFor(agents.plan, r.id, agents.bufferServerUrls(), restore), boundNames: boundNamesAt(agents.plan, r.id) });
  r.deployed = true;
  return true;
}
