import { SluiceError } from '@sluice/common';

/**
 * The `kerberos` addon, loaded on first use rather than when the CLI starts: it links MIT's
 * GSSAPI library, which a worker container (or any machine that never talks to a gateway) need
 * not have. Every `sluice` command loads this package; only the Kerberos paths load the addon.
 */

type Kerberos = typeof import('kerberos');

let loading: Promise<Kerberos> | undefined;

export function kerberosLib(): Promise<Kerberos> {
  loading ??= import('kerberos').then(
    (m) => m.default,
    (err: unknown) => {
      loading = undefined;
      throw new SluiceError('BAD_CONFIG', `the Kerberos library could not be loaded (${(err as Error).message.split('\n')[0]}): install MIT Kerberos (Debian: libgssapi-krb5-2; scripts/kerberos.sh ensure)`, { cause: err });
    },
  );
  return loading;
}
