import type { z } from 'zod';
import { SluiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConfigSchema } from './config.js';

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
  /**
   * The current credential of an external store this container's operators use (docs/stores.md),
   * e.g. `store('postgres')`: host, port, database, user, password, schema. It changes when STRAM
   * renews or replaces it: read it on every (re)connect, never keep a copy. Secret: never log it.
   */
  store?(system: string): Readonly<Record<string, string>> | undefined;
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

/** Where the runtime keeps an instance's parsed config; `Symbol.for` for the same reason as PORT_BRAND. */
const CONFIG = Symbol.for('sluice.config');

/** An operator class that declares its config: `static config` is the schema, `this.config` the parsed values. */
export type ConfiguredOperator<S extends ConfigSchema> = (abstract new () => Operator & { readonly config: z.output<S> }) & { readonly config: S };

export abstract class Operator {
  /**
   * A base class for an operator that declares the config it accepts (docs/guide.md "Config"):
   * `class Generator extends Operator.withConfig(z.object({ seed: z.number().int() }))`. The
   * runtime parses the launch's entries with the schema and binds the result once the operator is
   * created, so `this.config` is typed and can be read from `setup()` on (not in the constructor).
   */
  static withConfig<S extends ConfigSchema>(schema: S): ConfiguredOperator<S> {
    abstract class Configured extends Operator {
      static readonly config = schema;
      get config(): z.output<S> {
        const bound = (this as Record<symbol, unknown>)[CONFIG];
        if (bound === undefined) {
          throw new SluiceError('BAD_CONFIG', `${this.constructor.name}: this.config is bound once the operator is created; read it in setup() or later, not in the constructor`);
        }
        return bound as z.output<S>;
      }
    }
    return Configured;
  }

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

/** Runtime only: gives an instance the config its schema parsed (validate.ts configureOperator). */
export function bindConfig(instance: object, config: Record<string, unknown>): void {
  Object.defineProperty(instance, CONFIG, { value: Object.freeze(config), enumerable: false });
}

/** The hooks an instance implements (methods looked up on the instance, so subclasses need no `override`). */
export function hooksOf(instance: object): OperatorHooks {
  return instance as OperatorHooks;
}
