import { describe, expect, it } from 'vitest';
import { SluiceError } from '@sluice/common';
import { recoverStoreOptions, storeOptions, storeSettings } from './store-options.js';

/** `sluice launch`'s store flags (docs/stores.md): what STRAM is given, and the refusals. */
describe('store flags', () => {
  const code = (f: Parameters<typeof storeOptions>[0]): string | undefined => {
    try {
      storeOptions(f);
    } catch (err) {
      if (err instanceof SluiceError) return err.code;
      throw err;
    }
    return undefined;
  };

  it('a postgres:// checkpoint store also names the server; the password file goes along', () => {
    expect(storeOptions({ checkpointStore: 'postgres://admin@127.0.0.1:5432/apps', postgresPasswordFile: '/p' })).toEqual({
      postgres: { url: 'postgres://admin@127.0.0.1:5432/apps', passwordFile: '/p' },
      checkpointStore: 'postgres',
    });
    expect(storeOptions({ checkpointStore: 'file' })).toEqual({ checkpointStore: 'file' });
    expect(storeOptions({})).toEqual({});
  });

  it('refuses an unknown checkpoint store and a server without its password file', () => {
    expect(code({ checkpointStore: 's3' })).toBe('BAD_USAGE');
    expect(code({ postgres: 'postgres://admin@127.0.0.1/apps' })).toBe('BAD_USAGE');
  });

  it('on --recover each store flag may come alone (the app directory has the rest); a relative password file is made absolute', () => {
    expect(recoverStoreOptions({})).toEqual({});
    expect(recoverStoreOptions({ postgres: 'postgres://admin@127.0.0.1/apps' })).toEqual({ postgres: { url: 'postgres://admin@127.0.0.1/apps' } });
    expect(recoverStoreOptions({ postgresPasswordFile: 'pw', storeLifetime: 5_000 })).toEqual({ postgres: { passwordFile: `${process.cwd()}/pw` }, storeLifetimeMs: 5_000 });
  });

  it("through a gateway the store flags are settings of the request (the server is the gateway's)", () => {
    expect(storeSettings({ checkpointStore: 'postgres', storeLifetime: 3_000, storeMaxLifetime: 9_000 })).toEqual({ checkpointStore: 'postgres', storeLifetimeMs: 3_000, storeMaxLifetimeMs: 9_000 });
  });
});
