import type { Logger } from '../logger.js';

/**
 * The operator API users write applications against (issue "application API"): an operator is a
 * class whose ports are instance fields made with `this.input(...)` / `this.output()`; the
 * field names are the port names. Lifecycle hooks are optional methods (OperatorHooks) that the
 * container calls when present:
 *
 *   setup(ctx) → restore(state)? → [beginWindow(w) → process… → endWindow(w)]* → teardown()
 *
 * Input operators (no input ports) implement `emitTuples(w)`, called once per window between
 * beginWindow and endWindow.
 */

export interface OperatorContext {
  /** Physical id, `name#partition`. */
  id: string;
  /** Logical operator name. */
  name: string;
  partition: number;
  partitions: number;
  /** The application directory (checkpoints, output files). */
  appDir: string;
  logger: Logger;
}

/** Optional lifecycle hooks; any may be async except `checkpoint` / `restore` / port callbacks. */
export interface OperatorHooks {
  setup?(ctx: OperatorContext): void | Promise<void>;
  beginWindow?(w: number): void | Promise<void>;
  endWindow?(w: number): void | Promise<void>;
  teardown?(): void | Promise<void>;
  /** A snapshot of the operator's state (structured-clone/JSON-able), taken after endWindow. */
  checkpoint?(): unknown;
  /** Called after setup with the state `checkpoint()` returned, when restarting from a checkpoint. */
  restore?(state: unknown): void;
  /** Input operators only: emit this window's tuples on the output ports. */
  emitTuples?(w: number): void | Promise<void>;
}

/** Brand instead of `instanceof`: the app module and the runtime may load different copies of this file. */
const PORT_BRAND = Symbol.for('sluice.port');

export interface InputPortOptions<T> {
  /**
   * Key used to route tuples to this operator's partitions; the runtime uses
   * `partitionKey(t) & 0x7fffffff`. Default: a hash of the tuple's JSON.
   */
  partitionKey?: (t: T) => number;
}

export class InputPort<T = unknown> {
  readonly [PORT_BRAND] = 'input' as const;
  readonly partitionKey: ((t: T) => number) | undefined;

  constructor(
    readonly process: (t: T) => void,
    options: InputPortOptions<T> = {},
  ) {
    this.partitionKey = options.partitionKey;
  }
}

export class OutputPort<T = unknown> {
  readonly [PORT_BRAND] = 'output' as const;
  private sink: ((t: T) => void) | undefined;

  /** Sends a tuple downstream. Tuples emitted on an unconnected port are dropped. */
  emit(t: T): void {
    this.sink?.(t);
  }

  /** Runtime only: where emitted tuples go. */
  connect(sink: ((t: T) => void) | undefined): void {
    this.sink = sink;
  }
}

export abstract class Operator {
  /** An input port: `process` is called for every tuple that arrives on it. */
  protected input<T>(process: (t: T) => void, options?: InputPortOptions<T>): InputPort<T> {
    return new InputPort(process, options);
  }

  /** An output port: call `emit(t)` on it inside a window. */
  protected output<T>(): OutputPort<T> {
    return new OutputPort<T>();
  }
}

export function isInputPort(v: unknown): v is InputPort {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[PORT_BRAND] === 'input';
}

export function isOutputPort(v: unknown): v is OutputPort {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[PORT_BRAND] === 'output';
}

export interface OperatorPorts {
  inputs: Map<string, InputPort>;
  outputs: Map<string, OutputPort>;
}

/** The ports of an operator instance, by field name, in declaration order. */
export function portsOf(instance: object): OperatorPorts {
  const inputs = new Map<string, InputPort>();
  const outputs = new Map<string, OutputPort>();
  for (const [name, value] of Object.entries(instance)) {
    if (isInputPort(value)) inputs.set(name, value);
    else if (isOutputPort(value)) outputs.set(name, value);
  }
  return { inputs, outputs };
}

/** The hooks an instance implements (methods looked up on the instance, so subclasses need no `override`). */
export function hooksOf(instance: object): OperatorHooks {
  return instance as OperatorHooks;
}
