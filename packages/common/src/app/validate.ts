import { SluiceError } from '../errors.js';
import { checkConfigKeys, configSchemaOf, declaredKeys, entriesFor, parseConfig, type ConfigEntries } from './config.js';
import { bindConfig, hooksOf, portsOf, type OperatorPorts } from './operator.js';
import type { AppDefinition, Locality, LogicalOperator, LogicalPlan, LogicalStream } from './types.js';

/**
 * Launch-time validation of an application (issue "application API"): invalid DAGs are refused
 * with an INVALID_DAG SluiceError whose message names the operator, port or stream at fault.
 * Pure apart from calling each operator's `create(config)` once to discover its ports.
 */

/** Names end up in physical ids (`name#p`), buffer-server stream names and checkpoint paths. */
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,127}$/;

function invalid(message: string): SluiceError {
  return new SluiceError('INVALID_DAG', message);
}

/**
 * Creates one instance of an operator and binds the config it declares (config.ts): how STRAM
 * validates an app and how a container runs it, so both read the same entries the same way.
 */
export function instantiateOperator(app: AppDefinition, name: string, config: ConfigEntries = {}): object {
  const instance = createOperator(app, name, config);
  configureOperator(name, instance, config);
  return instance;
}

/** Calls `create` with the operator's entries, turning a failing or non-object `create` into INVALID_DAG. */
function createOperator(app: AppDefinition, name: string, config: ConfigEntries): object {
  const def = app.operators[name];
  if (!def || typeof def.create !== 'function') throw invalid(`operator "${name}" has no create(config) function`);
  let instance: unknown;
  try {
    instance = def.create(entriesFor(config, name));
  } catch (err) {
    throw new SluiceError('INVALID_DAG', `operator "${name}": create(config) failed: ${(err as Error).message}`, { cause: err });
  }
  if (instance === null || typeof instance !== 'object') throw invalid(`operator "${name}": create(config) must return an operator instance`);
  return instance;
}

function configureOperator(name: string, instance: object, config: ConfigEntries): void {
  const schema = configSchemaOf(name, instance);
  if (schema) bindConfig(instance, parseConfig(name, schema, entriesFor(config, name)));
}

/** Splits `operator.port`. */
function endpoint(text: unknown, stream: string, role: 'from' | 'to'): { operator: string; port: string } {
  const s = typeof text === 'string' ? text : '';
  const dot = s.indexOf('.');
  if (dot <= 0 || dot === s.length - 1) throw invalid(`stream "${stream}": ${role} "${String(text)}" must be "operator.port"`);
  return { operator: s.slice(0, dot), port: s.slice(dot + 1) };
}

function checkNames(kind: string, names: string[]): void {
  const seen = new Map<string, string>();
  for (const name of names) {
    if (!NAME.test(name)) throw invalid(`${kind} name "${name}" is invalid: use a letter then letters, digits, "_" or "-" (at most 128)`);
    // Case-insensitive: names become directory names (checkpoints) on case-insensitive file systems.
    const key = name.toLowerCase();
    const other = seen.get(key);
    if (other !== undefined) throw invalid(`duplicate ${kind} name "${name}" (clashes with "${other}")`);
    seen.set(key, name);
  }
}

export function validateApp(app: AppDefinition, config: ConfigEntries = {}): LogicalPlan {
  if (!app || typeof app.name !== 'string' || !NAME.test(app.name)) {
    throw invalid(`app name "${String(app?.name)}" is invalid: use a letter then letters, digits, "_" or "-"`);
  }
  const opNames = Object.keys(app.operators ?? {});
  const streamNames = Object.keys(app.streams ?? {});
  if (opNames.length === 0) throw invalid(`app "${app.name}" has no operators`);
  checkNames('operator', opNames);
  checkNames('stream', streamNames);

  const ports = new Map<string, OperatorPorts>();
  const instances = new Map<string, object>();
  const operators: LogicalOperator[] = [];
  for (const name of opNames) {
    const def = app.operators[name]!;
    const partitions = def.partitions ?? 1;
    if (!Number.isSafeInteger(partitions) || partitions < 1) throw invalid(`operator "${name}": partitions must be an integer ≥ 1, got ${String(partitions)}`);
    const instance = createOperator(app, name, config);
    instances.set(name, instance);
    const p = portsOf(instance);
    for (const port of [...p.inputs.keys(), ...p.outputs.keys()]) {
      if (!NAME.test(port)) throw invalid(`operator "${name}": port name "${port}" is invalid`);
    }
    if (p.inputs.size === 0 && typeof hooksOf(instance).emitTuples !== 'function') {
      throw invalid(`operator "${name}" has no input ports and no emitTuples(w): an input operator must emit tuples`);
    }
    ports.set(name, p);
    const uses = usesOf(name, def.uses);
    operators.push({ name, partitions, inputs: [...p.inputs.keys()], outputs: [...p.outputs.keys()], ...(uses.length > 0 ? { uses } : {}) });
  }
  // Every key first (a typo is the likelier mistake), then every value.
  checkConfigKeys(config, new Map([...instances].map(([name, instance]) => [name, declaredKeys(configSchemaOf(name, instance))])));
  for (const [name, instance] of instances) configureOperator(name, instance, config);
  const partitionsOf = (name: string): number => operators.find((o) => o.name === name)!.partitions;

  const usedBy = new Map<string, string>(); // "op.port" → stream
  const claim = (key: string, stream: string): void => {
    const other = usedBy.get(key);
    if (other !== undefined) {
      throw invalid(other === stream ? `stream "${stream}" lists port "${key}" twice` : `port "${key}" is joined to two streams: "${other}" and "${stream}"`);
    }
    usedBy.set(key, stream);
  };
  const streams: LogicalStream[] = [];
  for (const name of streamNames) {
    const def = app.streams[name]!;
    const from = endpoint(def.from, name, 'from');
    const fromPorts = ports.get(from.operator);
    if (!fromPorts) throw invalid(`stream "${name}": unknown operator "${from.operator}" in from "${def.from}"`);
    if (!fromPorts.outputs.has(from.port)) {
      const hint = fromPorts.inputs.has(from.port) ? ' (it is an input port)' : '';
      throw invalid(`stream "${name}": operator "${from.operator}" has no output port "${from.port}"${hint}`);
    }
    claim(`${from.operator}.${from.port}`, name);
    if (!Array.isArray(def.to) || def.to.length === 0) throw invalid(`stream "${name}" has no sinks: "to" must list at least one "operator.port"`);
    const locality: Locality = def.locality ?? 'separate';
    if (locality !== 'container' && locality !== 'separate') throw invalid(`stream "${name}": locality must be "container" or "separate", got "${String(locality)}"`);
    const to = def.to.map((t) => {
      const sink = endpoint(t, name, 'to');
      const sinkPorts = ports.get(sink.operator);
      if (!sinkPorts) throw invalid(`stream "${name}": unknown operator "${sink.operator}" in to "${t}"`);
      if (!sinkPorts.inputs.has(sink.port)) {
        const hint = sinkPorts.outputs.has(sink.port) ? ' (it is an output port)' : '';
        throw invalid(`stream "${name}": operator "${sink.operator}" has no input port "${sink.port}"${hint}`);
      }
      claim(`${sink.operator}.${sink.port}`, name);
      if (locality === 'container' && partitionsOf(sink.operator) !== partitionsOf(from.operator)) {
        throw invalid(
          `stream "${name}" has container locality but "${from.operator}" has ${partitionsOf(from.operator)} partitions and "${sink.operator}" has ${partitionsOf(sink.operator)}; they must match`,
        );
      }
      return sink;
    });
    streams.push({ name, from, to, locality });
  }

  for (const op of operators) {
    for (const port of op.inputs) {
      if (!usedBy.has(`${op.name}.${port}`)) throw invalid(`input port "${op.name}.${port}" is not connected to any stream`);
    }
  }

  const order = topologicalOrder(opNames, streams);
  return { app: app.name, operators, order, streams };
}

/** Kahn's algorithm, stable in definition order; on a cycle, names its path (`a -> b -> a`). */
function topologicalOrder(names: string[], streams: LogicalStream[]): string[] {
  const next = new Map<string, string[]>(names.map((n) => [n, []]));
  const indegree = new Map<string, number>(names.map((n) => [n, 0]));
  for (const s of streams) {
    for (const t of s.to) {
      next.get(s.from.operator)!.push(t.operator);
      indegree.set(t.operator, indegree.get(t.operator)! + 1);
    }
  }
  const order: string[] = [];
  const ready = names.filter((n) => indegree.get(n) === 0);
  while (ready.length > 0) {
    const n = ready.shift()!;
    order.push(n);
    for (const m of next.get(n)!) {
      const d = indegree.get(m)! - 1;
      indegree.set(m, d);
      if (d === 0) ready.push(m);
    }
  }
  if (order.length === names.length) return order;
  throw invalid(`the DAG has a cycle: ${findCycle(names.filter((n) => indegree.get(n)! > 0), next).join(' -> ')}`);
}

function findCycle(candidates: string[], next: Map<string, string[]>): string[] {
  const inCycleSet = new Set(candidates);
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 'visiting');
    path.push(n);
    for (const m of next.get(n)!) {
      if (!inCycleSet.has(m)) continue;
      if (state.get(m) === 'visiting') return [...path.slice(path.indexOf(m)), m];
      if (!state.has(m)) {
        const found = visit(m);
        if (found) return found;
      }
    }
    path.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of candidates) {
    if (!state.has(n)) {
      const found = visit(n);
      if (found) return found;
    }
  }
  return candidates;
}

/** The external stores an operator declares it uses: known systems, each once, sorted. */
export const STORE_SYSTEMS = ['postgres'] as const;

function usesOf(name: string, uses: unknown): string[] {
  if (uses === undefined) return [];
  if (!Array.isArray(uses) || uses.some((u) => !(STORE_SYSTEMS as readonly unknown[]).includes(u))) {
    throw invalid(`operator "${name}": uses must list external stores among ${STORE_SYSTEMS.join(', ')}, got ${JSON.stringify(uses)}`);
  }
  return [...new Set(uses as string[])].sort();
}
