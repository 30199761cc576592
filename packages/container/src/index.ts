/** @sluice/container: the container runtime. The process entry is `@sluice/container/main`. */
export { Container, ExitCode, type ContainerOptions, type DataPlane } from './container.js';
export { FileCheckpointStore, type CheckpointStore } from './checkpoint-store.js';
export { WindowTracker, type StreamEvent, type TrackerAction } from './window-tracker.js';
export { UmbilicalClient, type UmbilicalClientOptions } from './umbilical-client.js';
export { runLocal, type LocalRun, type LocalRunOptions } from './local-run.js';
export { PostgresCheckpointStore, type PostgresLogin } from './postgres-checkpoint-store.js';
