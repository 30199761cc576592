/**
 * The application model shared by STRAM (which plans it) and containers (which run it).
 * Contract between packages; implementations live beside this file (operator.ts, define.ts,
 * validate.ts, plan.ts).
 */

/** Where a stream's tuples travel: `container` = in-process queue (same container), `separate` = through a buffer server. */
export type Locality = 'container' | 'separate';

export interface StreamDefinition {
  /** `operator.port` of the output port. */
  from: string;
  /** `operator.port` of each input port. */
  to: string[];
  locality?: Locality;
}

export interface OperatorDefinition {
  /**
   * Makes a fresh instance (one per physical partition). `config` holds the launch's entries this
   * operator sees, unparsed (app-wide `key`s and its own `operator.key`s, app/config.ts); an
   * operator that declares a schema reads them parsed and typed as `this.config` instead.
   */
  create(config: Record<string, unknown>): unknown;
  /** Number of physical partitions (default 1). */
  partitions?: number;
  /**
   * The external stores this operator's instances write to or read from, e.g. `['postgres']`
   * (docs/stores.md): only the containers that run it receive those stores' credentials.
   */
  uses?: string[];
}

export interface AppDefinition {
  name: string;
  operators: Record<string, OperatorDefinition>;
  streams: Record<string, StreamDefinition>;
}

/** What validation learns by instantiating each operator once. */
export interface LogicalOperator {
  name: string;
  partitions: number;
  inputs: string[];
  outputs: string[];
  /** External stores it uses (OperatorDefinition.uses); absent = none. */
  uses?: string[];
}

export interface LogicalStream {
  name: string;
  from: { operator: string; port: string };
  to: { operator: string; port: string }[];
  locality: Locality;
}

export interface LogicalPlan {
  app: string;
  operators: LogicalOperator[];
  /** Topologically sorted (inputs first). */
  order: string[];
  streams: LogicalStream[];
}

export interface PhysicalOperator {
  /** `name#partition`, e.g. `count#1`. */
  id: string;
  operator: string;
  partition: number;
  partitions: number;
  container: string;
}

export interface PhysicalContainer {
  /** e.g. `c1`; stable for the life of the app (a replacement keeps the id, with a new token). */
  id: string;
  operators: string[];
  /** The id of the buffer server this container hosts (e.g. `bs-c1`). */
  bufferServer: string;
}

export interface PhysicalPlan {
  logical: LogicalPlan;
  containers: PhysicalContainer[];
  operators: PhysicalOperator[];
}
