import { resolve } from 'node:path';
import { SluiceError } from '@sluice/common';
import { adminUrl } from '@sluice/stram';
import { GatewayRefusal, RefusalCode } from './api.js';

/**
 * The stores a gateway offers the apps it launches (docs/stores.md "Through a gateway"): each a
 * name, a PostgreSQL server and privileged role (a URL without password) and the 0600 file that
 * holds the role's password. The privileged login stays on the gateway's machine: an app launched
 * with a store gets the URL and the file's path on its `sluice launch` command line (its STRAM, a
 * child of the gateway's launcher, reads the file; the password is never in an argv, an
 * environment or a request), and its containers only the app's own credential.
 */

export interface StoreConfig {
  /** `postgres://role@host:port/database`, no password. */
  url: string;
  /** Absolute path of the file (0600) holding the role's password on its first line. */
  passwordFile: string;
}

const NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export class GatewayStores {
  private constructor(private readonly stores: ReadonlyMap<string, StoreConfig>) {}

  /**
   * Checks every store at start, so a bad one stops the gateway in one line rather than failing
   * a launch later: a name, a postgres:// URL naming the role and no password, a readable 0600
   * password file that is not empty.
   */
  static open(stores: Readonly<Record<string, StoreConfig>> = {}): GatewayStores {
    const checked = new Map<string, StoreConfig>();
    for (const [name, s] of Object.entries(stores)) {
      if (!NAME.test(name)) throw new SluiceError('BAD_CONFIG', `store name "${name.slice(0, 64)}" must be lowercase letters, digits, _ or - (starting with a letter, at most 32)`);
      try {
        adminUrl(s.url, s.passwordFile);
      } catch (err) {
        throw new SluiceError('BAD_CONFIG', `store ${name}: ${(err as Error).message}`, { cause: err });
      }
      checked.set(name, { url: s.url, passwordFile: resolve(s.passwordFile) });
    }
    return new GatewayStores(checked);
  }

  get names(): string[] {
    return [...this.stores.keys()].sort();
  }

  /** The `sluice launch` flags that give an app store `name`: 400 BAD_REQUEST naming the known stores when there is none of that name. */
  launchArgs(name: string): string[] {
    const s = this.stores.get(name);
    if (!s) {
      const known = this.names.length > 0 ? `one of this gateway's stores: ${this.names.join(', ')}` : 'a store of this gateway, and it has none (sluice gateway --store NAME=URL)';
      throw new GatewayRefusal(400, RefusalCode.badRequest, `store "${name.slice(0, 64)}" is not ${known}`);
    }
    return [`--postgres=${s.url}`, `--postgres-password-file=${s.passwordFile}`];
  }
}
