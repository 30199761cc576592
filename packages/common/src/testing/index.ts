/** Test helpers: `@sluice/common/testing`. Not part of the runtime. */
export { TestPostgres } from './postgres-cluster.js';
