/**
 * @sluice/app: what an application is written against — operators and their ports, the DAG
 * declaration, and the few helpers an operator needs (an atomic file write for idempotent output,
 * the string hash for partition keys), and zod's `z` for the config schemas operators declare
 * (`Operator.withConfig(schema)`; docs/guide.md "Config"). The runtime (STRAM, containers, buffer servers) is not
 * here: an app depends on this package alone, and its tests on @sluice/container's runLocal.
 * docs/guide.md "Write an app" shows its use; PostgresWindowSink is an output for the app's
 * PostgreSQL schema (docs/stores.md).
 */
export { Operator, InputPort, OutputPort, type ConfiguredOperator, type InputPortOptions, type OperatorContext, type OperatorHooks } from '@sluice/common';
export { defineApp, type AppDefinition, type Locality, type OperatorDefinition, type StreamDefinition } from '@sluice/common';
export { hashString, writeFileAtomic, type AtomicWriteOptions, type Logger } from '@sluice/common';
export { z, type ConfigEntries, type ConfigSchema } from '@sluice/common';
export { PostgresWindowSink } from './postgres-sink.js';
