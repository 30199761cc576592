import { SluiceError } from '../errors.js';
import type { BoundNames, DeployOperator } from '../umbilical.js';
import { partitionFilter } from './partition.js';
import type { LogicalPlan, LogicalStream, PhysicalContainer, PhysicalOperator, PhysicalPlan } from './types.js';

/**
 * Logical DAG → physical plan (issue "application API"): one container per physical partition,
 * except that operators joined by `container`-locality streams share a container, partition i
 * with partition i. Containers are numbered c1..cN in topological order; the buffer server a
 * container hosts is `bs-<container>`. Pure: STRAM and tests call it, containers never need to.
 */

export function physicalId(operator: string, partition: number): string {
  return `${operator}#${partition}`;
}

export function bufferServerIdOf(container: string): string {
  return `bs-${container}`;
}

/** The container hosting buffer server `id` (the inverse of bufferServerIdOf); undefined for an id it did not make. */
export function containerOfBufferServer(id: string): string | undefined {
  return id.startsWith('bs-') && id.length > 3 ? id.slice(3) : undefined;
}

/** The name an operator's input subscribes under at its upstream buffer servers: `<operator id>.<port>`. */
export function subscriberName(operatorId: string, port: string): string {
  return `${operatorId}.${port}`;
}

export function planApp(logical: LogicalPlan): PhysicalPlan {
  // Union-find over operators joined by container-locality streams.
  const parent = new Map<string, string>(logical.operators.map((o) => [o.name, o.name]));
  const root = (n: string): string => {
    let r = n;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(n, r);
    return r;
  };
  for (const s of logical.streams) {
    if (s.locality !== 'container') continue;
    for (const t of s.to) parent.set(root(t.operator), root(s.from.operator));
  }

  const byName = new Map(logical.operators.map((o) => [o.name, o]));
  const containerOf = new Map<string, PhysicalContainer>(); // `${group}#${partition}` → container
  const containers: PhysicalContainer[] = [];
  const operators: PhysicalOperator[] = [];
  for (const name of logical.order) {
    const op = byName.get(name)!;
    for (let partition = 0; partition < op.partitions; partition++) {
      const key = `${root(name)}#${partition}`;
      let container = containerOf.get(key);
      if (!container) {
        const id = `c${containers.length + 1}`;
        container = { id, operators: [], bufferServer: bufferServerIdOf(id) };
        containers.push(container);
        containerOf.set(key, container);
      }
      const id = physicalId(name, partition);
      container.operators.push(id);
      operators.push({ id, operator: name, partition, partitions: op.partitions, container: container.id });
    }
  }
  return { logical, containers, operators };
}

function containerOrThrow(plan: PhysicalPlan, containerId: string): PhysicalContainer {
  const c = plan.containers.find((x) => x.id === containerId);
  if (!c) throw new SluiceError('BAD_CONFIG', `container "${containerId}" is not in the plan of app "${plan.logical.app}"`);
  return c;
}

function physicalOf(plan: PhysicalPlan, operator: string): PhysicalOperator[] {
  return plan.operators.filter((o) => o.operator === operator);
}

/** Streams read by this physical operator through buffer servers (not in-process). */
function remoteInputs(plan: PhysicalPlan, op: PhysicalOperator): { stream: LogicalStream; port: string }[] {
  const result: { stream: LogicalStream; port: string }[] = [];
  for (const s of plan.logical.streams) {
    for (const t of s.to) if (t.operator === op.operator && s.locality !== 'container') result.push({ stream: s, port: t.port });
  }
  return result;
}

/**
 * What STRAM sends a container in its `deploy` command. `bufferServerUrls` maps container id → the
 * ws URL its buffer server reported in its heartbeats; every upstream container must be known.
 * `restore` maps physical operator id → checkpoint window to restore from (absent = fresh start).
 */
export function deployFor(
  plan: PhysicalPlan,
  containerId: string,
  bufferServerUrls: ReadonlyMap<string, string>,
  restore?: ReadonlyMap<string, number>,
): DeployOperator[] {
  const container = containerOrThrow(plan, containerId);
  const partitionsOf = new Map(plan.logical.operators.map((o) => [o.name, o.partitions]));
  return container.operators.map((id) => {
    const op = plan.operators.find((o) => o.id === id)!;
    const inputs: DeployOperator['inputs'] = [];
    for (const s of plan.logical.streams) {
      for (const t of s.to) {
        if (t.operator !== op.operator) continue;
        if (s.locality === 'container') {
          inputs.push({ port: t.port, stream: s.name, upstreams: [], local: [physicalId(s.from.operator, op.partition)] });
          continue;
        }
        const filter = op.partitions > 1 ? partitionFilter(op.partition, op.partitions) : undefined;
        const upstreams = physicalOf(plan, s.from.operator).map((up) => {
          const url = bufferServerUrls.get(up.container);
          if (url === undefined) {
            throw new SluiceError('BAD_CONFIG', `no buffer server URL known for container "${up.container}" (upstream ${up.id} of ${op.id}); deploy upstream containers first`);
          }
          return { operator: up.id, bufferServer: bufferServerIdOf(up.container), url, ...(filter ? { partitions: filter } : {}) };
        });
        inputs.push({ port: t.port, stream: s.name, upstreams, local: [] });
      }
    }
    const outputs = plan.logical.streams
      .filter((s) => s.from.operator === op.operator)
      .map((s) => ({
        port: s.from.port,
        stream: s.name,
        partitioned: s.locality === 'separate' && s.to.some((t) => (partitionsOf.get(t.operator) ?? 1) > 1),
      }));
    return {
      id: op.id,
      operator: op.operator,
      partition: op.partition,
      partitions: op.partitions,
      inputs,
      outputs,
      restoreWindow: restore?.get(op.id) ?? 0,
    };
  });
}

/**
 * The streams this container reads from each upstream buffer server, so STRAM can mint subscribe
 * tokens scoped to exactly those (credentials `subscribe[bufferServerId]`). Streams are sorted.
 */
export function subscriptionsOf(plan: PhysicalPlan, containerId: string): Map<string, string[]> {
  const container = containerOrThrow(plan, containerId);
  const sets = new Map<string, Set<string>>();
  for (const id of container.operators) {
    const op = plan.operators.find((o) => o.id === id)!;
    for (const { stream } of remoteInputs(plan, op)) {
      for (const up of physicalOf(plan, stream.from.operator)) {
        const bs = bufferServerIdOf(up.container);
        let set = sets.get(bs);
        if (!set) sets.set(bs, (set = new Set()));
        set.add(stream.name);
      }
    }
  }
  return new Map([...sets].map(([bs, s]) => [bs, [...s].sort()]));
}

/**
 * Who subscribes under which name at this container's buffer server (docs/protocol.md "Subscriber
 * names"): for every stream it publishes, each downstream operator input's subscriber name and
 * the container that operator runs in. Sent in the container's `deploy`, so that its buffer server
 * holds the names for their containers before anyone subscribes.
 */
export function boundNamesAt(plan: PhysicalPlan, containerId: string): BoundNames {
  const container = containerOrThrow(plan, containerId);
  const hosted = new Set(container.operators.map((id) => plan.operators.find((o) => o.id === id)!.operator));
  const names: Record<string, Record<string, string>> = {};
  for (const op of plan.operators) {
    for (const { stream, port } of remoteInputs(plan, op)) {
      if (!hosted.has(stream.from.operator)) continue;
      (names[stream.name] ??= {})[subscriberName(op.id, port)] = op.container;
    }
  }
  return names;
}

/** The streams this container publishes to its own buffer server (outputs with a remote sink). */
export function publicationsOf(plan: PhysicalPlan, containerId: string): string[] {
  const container = containerOrThrow(plan, containerId);
  const names = new Set<string>();
  for (const id of container.operators) {
    const op = plan.operators.find((o) => o.id === id)!;
    for (const s of plan.logical.streams) if (s.from.operator === op.operator && s.locality === 'separate') names.add(s.name);
  }
  return [...names].sort();
}

/** The external stores container `containerId`'s operators use (docs/stores.md), sorted. */
export function storesOf(plan: PhysicalPlan, containerId: string): string[] {
  const container = containerOrThrow(plan, containerId);
  const uses = new Set<string>();
  for (const id of container.operators) {
    const op = plan.operators.find((o) => o.id === id)!;
    for (const u of plan.logical.operators.find((l) => l.name === op.operator)?.uses ?? []) uses.add(u);
  }
  return [...uses].sort();
}
