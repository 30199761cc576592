import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SluiceError } from '@sluice/common';
import type { RecoverOptions, StramOptions } from '@sluice/stram';
import { duration, flag } from '../flags.js';

/**
 * `sluice launch`'s external-store flags (docs/stores.md): the PostgreSQL server and privileged
 * role the PostgreSQL provider issues the app's credentials with (the password only ever in a
 * 0600 file, never on the command line), where checkpoints go, and the store credentials' lifetimes.
 */
export interface StoreFlags {
  postgres?: string;
  postgresPasswordFile?: string;
  checkpointStore?: string;
  storeLifetime?: number;
  storeMaxLifetime?: number;
}

export function addStoreOptions(cmd: Command): Command {
  return cmd
    .addOption(flag('--postgres <url>', 'PostgreSQL server and privileged role for per-app store credentials: postgres://role@host:port/database (no password)'))
    .addOption(flag('--postgres-password-file <file>', "file (mode 0600) holding --postgres's role password on its first line"))
    .addOption(flag('--checkpoint-store <where>', 'where operators checkpoint: file (the app directory) or postgres (the app\'s schema; a postgres:// URL also sets --postgres)', { shownDefault: 'file' }))
    .addOption(flag('--store-lifetime <duration>', 'store credentials are accepted this long after each renewal (renewed at 75% of it)', { parse: duration, shownDefault: '1h' }))
    .addOption(flag('--store-max-lifetime <duration>', 'store credentials are replaced by new ones at 75% of this', { parse: duration, shownDefault: '1d' }));
}

export function storeOptions(f: StoreFlags): Partial<StramOptions> {
  const { postgres, ...rest } = recoverStoreOptions(f);
  if (postgres?.url !== undefined && postgres.passwordFile === undefined) throw new SluiceError('BAD_USAGE', '--postgres needs --postgres-password-file (the role password, in a 0600 file)');
  return { ...rest, ...(postgres?.url !== undefined ? { postgres: { url: postgres.url, passwordFile: postgres.passwordFile! } } : {}) };
}

/**
 * The store flags given on `--recover`: each may be left out, the app directory holds what the app
 * was launched with (STRAM checks that what is given agrees: docs/stores.md "A STRAM restart").
 */
export function recoverStoreOptions(f: StoreFlags): Pick<RecoverOptions, 'postgres' | 'checkpointStore' | 'storeLifetimeMs' | 'storeMaxLifetimeMs'> {
  const where = f.checkpointStore;
  const url = where && /^postgres(ql)?:\/\//.test(where) ? where : f.postgres;
  if (where !== undefined && where !== 'file' && where !== 'postgres' && url !== where) {
    throw new SluiceError('BAD_USAGE', `--checkpoint-store must be file, postgres or a postgres:// URL, not "${where}"`);
  }
  const postgres = { ...(url !== undefined ? { url } : {}), ...(f.postgresPasswordFile !== undefined ? { passwordFile: resolve(f.postgresPasswordFile) } : {}) };
  return {
    ...(Object.keys(postgres).length > 0 ? { postgres } : {}),
    ...(where !== undefined ? { checkpointStore: where === 'file' ? 'file' : 'postgres' } : {}),
    ...(f.storeLifetime !== undefined ? { storeLifetimeMs: f.storeLifetime } : {}),
    ...(f.storeMaxLifetime !== undefined ? { storeMaxLifetimeMs: f.storeMaxLifetime } : {}),
  };
}

/** The store flags as a gateway's launch request names them (`settings`; the server itself is the request's `store`). */
export function storeSettings(f: StoreFlags): Record<string, string | number> {
  return {
    ...(f.checkpointStore !== undefined ? { checkpointStore: f.checkpointStore } : {}),
    ...(f.storeLifetime !== undefined ? { storeLifetimeMs: f.storeLifetime } : {}),
    ...(f.storeMaxLifetime !== undefined ? { storeMaxLifetimeMs: f.storeMaxLifetime } : {}),
  };
}
