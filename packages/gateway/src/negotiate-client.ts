import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SluiceError } from '@sluice/common';
import { kerberosLib } from './kerberos-lib.js';

const run = promisify(execFile);

/**
 * The client side of `Authorization: Negotiate` (docs/guide.md "Through a gateway"): a
 * Kerberos token for `HTTP@<gateway host>`, from the ticket cache (KRB5CCNAME or the default)
 * or, given a keytab and principal, from that keytab into a private in-memory ticket cache.
 */

export interface NegotiateOptions {
  /** A client keytab to authenticate from instead of the ticket cache; needs `principal`. */
  keytab?: string;
  /** The client principal (`alice@EXAMPLE.TEST`): the one to use from the cache or the keytab. */
  principal?: string;
}

/** `http://localhost:8443/...` → `HTTP@localhost`: the service a gateway's keytab holds. */
export function gatewayService(gatewayUrl: string): string {
  let host: string;
  try {
    host = new URL(gatewayUrl).hostname;
  } catch {
    throw new SluiceError('BAD_USAGE', `--gateway ${JSON.stringify(gatewayUrl)} is not a URL: give e.g. http://gateway.example.com:8443`);
  }
  if (!host) throw new SluiceError('BAD_USAGE', `--gateway ${JSON.stringify(gatewayUrl)} names no host`);
  return `HTTP@${host.replace(/^\[|\]$/g, '')}`;
}

// GSSAPI takes the ticket cache and the client keytab from the process environment only, so a
// call that sets them runs alone and puts the previous values back.
let inFlight: Promise<unknown> = Promise.resolve();

function withEnv<T>(vars: Record<string, string>, f: () => Promise<T>): Promise<T> {
  const next = inFlight.then(async () => {
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    Object.assign(process.env, vars);
    try {
      return await f();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
  inFlight = next.catch(() => undefined);
  return next;
}

/** `Negotiate <base64>` for the gateway at `gatewayUrl`, or SluiceError NO_TICKET in one line. */
export async function negotiateHeader(gatewayUrl: string, options: NegotiateOptions = {}): Promise<string> {
  const service = gatewayService(gatewayUrl);
  if (options.keytab !== undefined && options.principal === undefined) {
    throw new SluiceError('BAD_USAGE', '--keytab needs --principal (the principal whose keys it holds)');
  }
  const step = async (): Promise<string> => {
    const kerberos = await kerberosLib();
    const client = await kerberos.initializeClient(service, {
      mechOID: kerberos.GSS_MECH_OID_SPNEGO,
      ...(options.principal !== undefined ? { principal: options.principal } : {}),
    });
    return client.step('');
  };
  try {
    const token =
      options.keytab !== undefined
        ? await withEnv(
            {
              KRB5_CLIENT_KTNAME: `FILE:${isAbsolute(options.keytab) ? options.keytab : resolve(options.keytab)}`,
              // A private cache: the keytab's tickets never land in the person's own cache.
              KRB5CCNAME: `MEMORY:sluice-${randomBytes(8).toString('hex')}`,
            },
            step,
          )
        : await withEnv({}, step);
    return `Negotiate ${token}`;
  } catch (err) {
    throw await noTicket(err, gatewayUrl, service, options);
  }
}

async function noTicket(err: unknown, gatewayUrl: string, service: string, options: NegotiateOptions): Promise<SluiceError> {
  const detail = (err instanceof Error ? err.message : String(err)).replace(/^.*Minor code may provide more information:\s*/s, '').trim();
  const unknown = /Server (\S+) not found in Kerberos database/.exec(detail);
  if (unknown) {
    return new SluiceError(
      'NO_TICKET',
      `the KDC knows no service ${unknown[1]} for the gateway ${gatewayUrl}: give --gateway with the host name of the gateway's principal (HTTP/<host>), not an IP address or an alias`,
      { cause: err },
    );
  }
  if (options.keytab !== undefined) {
    return new SluiceError('NO_TICKET', `cannot get a Kerberos ticket for ${options.principal} from keytab ${options.keytab} (${service}): ${detail}`, { cause: err });
  }
  const who = options.principal ?? (await cachePrincipal());
  const realm = who === undefined ? defaultRealm() : undefined;
  const name = who ?? (realm ? `realm ${realm}` : 'this user');
  const hint = who ?? (realm ? `<you>@${realm}` : '<you>@<REALM>');
  const why = /expired/i.test(detail) ? ' (the ticket expired)' : /Cannot contact any KDC/i.test(detail) ? ` (${detail})` : '';
  return new SluiceError('NO_TICKET', `no valid Kerberos ticket for ${name}${why}: run kinit ${hint} (or give --keytab and --principal)`, { cause: err });
}

/** `default_realm` of the Kerberos configuration in use (KRB5_CONFIG, else /etc/krb5.conf), if it names one. */
function defaultRealm(): string | undefined {
  for (const file of (process.env['KRB5_CONFIG'] ?? '/etc/krb5.conf').split(':').filter(Boolean)) {
    try {
      const m = /^\s*default_realm\s*=\s*(\S+)/m.exec(readFileSync(file, 'utf8'));
      if (m) return m[1];
    } catch {
      // not readable: try the next file, else name no realm
    }
  }
  return undefined;
}

/** The default principal of the ticket cache in use (klist), if there is one. */
async function cachePrincipal(): Promise<string | undefined> {
  try {
    const { stdout } = await run('klist', [], { timeout: 5_000 });
    return /^Default principal:\s*(\S+)/m.exec(stdout)?.[1];
  } catch (err) {
    // klist exits 1 for an expired cache but still prints its principal.
    const stdout = (err as { stdout?: string }).stdout ?? '';
    return /^Default principal:\s*(\S+)/m.exec(stdout)?.[1];
  }
}
