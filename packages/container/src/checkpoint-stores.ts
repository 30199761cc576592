import { SluiceError, type Credentials } from '@sluice/common';
import { FileCheckpointStore, type CheckpointStore } from './checkpoint-store.js';
import { PostgresCheckpointStore, type PostgresLogin } from './postgres-checkpoint-store.js';

/** The checkpoint store a container's credentials name (settings.checkpointStore; docs/stores.md). */

function postgresLogin(c: Readonly<Credentials>): PostgresLogin {
  const s = c.stores?.['postgres'];
  const fields = ['host', 'port', 'database', 'user', 'password', 'schema'] as const;
  if (!s || fields.some((f) => typeof s[f] !== 'string')) {
    throw new SluiceError('BAD_CONFIG', `container ${c.container} checkpoints in PostgreSQL but its credentials hold no PostgreSQL store credential; relaunch the app`);
  }
  return { host: s['host']!, port: s['port']!, database: s['database']!, user: s['user']!, password: s['password']!, schema: s['schema']! };
}

export function openCheckpointStore(c: Readonly<Credentials>): CheckpointStore {
  return c.settings.checkpointStore === 'postgres' ? new PostgresCheckpointStore(postgresLogin(c)) : new FileCheckpointStore(c.appDir);
}

/** After a push: a PostgreSQL store connects with the credential just received from now on. */
export function refreshStoreLogin(store: CheckpointStore, c: Readonly<Credentials>): void {
  if (store instanceof PostgresCheckpointStore) store.useLogin(postgresLogin(c));
}
