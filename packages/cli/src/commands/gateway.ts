import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { SluiceError, type Logger } from '@sluice/common';
import { DEFAULT_KEY_ROLL_MS, DEFAULT_TOKEN_TTL_MS, Gateway, GatewayStores, KerberosAcceptor, KeytabLogin, type StoreConfig } from '@sluice/gateway';
import { duration, flag, logFormatFlag, logLevelFlag, port, required } from '../flags.js';
import { withExamples } from '../help.js';
import { terminalLogging, type LogFormat } from '../log-output.js';
import { untilStopSignal } from '../signals.js';

interface GatewayFlags {
  host: string;
  port: number;
  keytab?: string;
  principal: string;
  stateDir: string;
  proxyUsers?: string;
  policy?: string;
  tokenTtl?: number;
  keyRoll?: number;
  logLevel?: string;
  logFormat?: LogFormat;
  insecureDevLogin?: boolean;
  store?: Record<string, string>;
  storePasswordFile?: Record<string, string>;
}

/**
 * `sluice gateway` (docs/security.md "The gateway"): the HTTP front door that launches and watches
 * apps for Kerberos users. It runs in the foreground, logs to stderr, prints `listening URL` on
 * stdout once it serves, and on SIGTERM or SIGINT stops serving; the apps it launched run on.
 */
export function registerGatewayCommand(program: Command): void {
  const cmd = program
    .command('gateway')
    .description('run the gateway: the Kerberos (SPNEGO) HTTP API that launches and watches apps as their callers')
    .addOption(required('--principal <principal>', "the gateway's service principal, HTTP/<host>@REALM"))
    .addOption(required('--state-dir <dir>', "the gateway's own directory: its signing keys, app registry and the apps' directories (0700)"))
    .addOption(flag('--keytab <file>', "the gateway's keytab (0600)", { shownDefault: '$KRB5_KTNAME' }))
    .addOption(flag('--host <host>', 'address to listen on', { default: '127.0.0.1' }))
    .addOption(flag('--port <port>', 'port to listen on (0: any free port)', { parse: port, default: '0' }))
    .addOption(flag('--proxy-users <globs>', 'comma-separated principals the gateway may launch for (* and ? match)', { shownDefault: '*@<the realm of --principal>' }))
    .addOption(flag('--policy <file>', 'who may do what: roles, groups and bindings (YAML or JSON), reloaded on change; check it with sluice policy check', { shownDefault: 'none: nobody holds a role (default deny)' }))
    .addOption(flag('--token-ttl <duration>', 'lifetime of a login session (bearer token and cookie)', { parse: duration, shownDefault: '10m' }))
    .addOption(flag('--key-roll <duration>', 'how long one key signs sessions before the next takes over', { parse: duration, shownDefault: '1h' }))
    .addOption(namedFlag('--store <name=url>', 'a store apps may ask for by name, repeatable: NAME=postgres://role@host:port/database (a privileged role, no password; docs/stores.md)'))
    .addOption(namedFlag('--store-password-file <name=file>', "repeatable: NAME=FILE, the file (0600, on this machine) holding store NAME's role password"))
    .addOption(flag('--insecure-dev-login', 'INSECURE, development only: the web console signs anyone in as any principal they type (every page says so in red)'))
    .addOption(logLevelFlag('log level (logs go to stderr)', { shownDefault: '$SLUICE_LOG_LEVEL, else info' }))
    .addOption(logFormatFlag('how log lines read on stderr'))
    .action(async (flags: GatewayFlags) => {
      const logger = terminalLogging('gateway', flags.logLevel, flags.logFormat);
      const keytab = flags.keytab ?? process.env['KRB5_KTNAME']?.replace(/^FILE:/, '');
      if (!keytab) throw new SluiceError('BAD_USAGE', 'give --keytab FILE (or set KRB5_KTNAME): the keytab of --principal');
      // Checked before anything is written or a ticket is got: a bad store leaves no state behind.
      const stores = GatewayStores.open(gatewayStores(flags.store ?? {}, flags.storePasswordFile ?? {}));
      const stateDir = resolve(flags.stateDir);
      // The replay cache lives with the gateway's other state: a restart still refuses a replayed ticket.
      const replayCacheDir = join(stateDir, 'rcache');
      mkdirSync(replayCacheDir, { recursive: true, mode: 0o700 });
      const acceptor = new KerberosAcceptor({ keytab, principal: flags.principal, replayCacheDir });
      const login = await keytabLogin(keytab, flags.principal, join(stateDir, 'krb5cc'), logger);
      const gateway = await Gateway.start({
        stateDir,
        principal: flags.principal,
        acceptor,
        host: flags.host,
        port: flags.port,
        tokenTtlMs: flags.tokenTtl ?? DEFAULT_TOKEN_TTL_MS,
        keyRollMs: flags.keyRoll ?? DEFAULT_KEY_ROLL_MS,
        ...(flags.policy !== undefined ? { policyFile: resolve(flags.policy) } : {}),
        stores,
        ...(flags.proxyUsers !== undefined ? { proxyUsers: flags.proxyUsers.split(',').map((g) => g.trim()).filter(Boolean) } : {}),
        launchCommand: [process.execPath, fileURLToPath(new URL('../../bin/sluice.js', import.meta.url))],
        builtinApps: { demo: fileURLToPath(new URL('../demo/wordcount.js', import.meta.url)) },
        logger,
        insecureDevLogin: flags.insecureDevLogin === true,
        keytabFigures: () => ({ logins: login.logins, failures: login.failures, failuresSinceLogin: login.failuresSinceLogin, expiresAt: login.expiresAt }),
      }).catch(async (err: unknown) => {
        await login.stop();
        throw err;
      });
      process.stdout.write(`listening ${gateway.url}\n`);
      const signal = await untilStopSignal();
      logger.info({ signal }, 'gateway stopping; its apps run on');
      await Promise.allSettled([gateway.close(), login.stop()]);
    });
  withExamples(cmd, [
    'gateway --port 8443 --keytab /etc/sluice/http.keytab --principal HTTP/gw.example.com@EXAMPLE.COM --state-dir /var/lib/sluice-gateway --policy /etc/sluice/policy.yaml',
    'gateway ... --store pg=postgres://sluice_admin@db.example.com:5432/apps --store-password-file pg=/etc/sluice/pg-admin',
  ]);
}

/** A repeatable `NAME=VALUE` flag, gathered into a record (a name given twice is refused). */
function namedFlag(flags: string, description: string): Option {
  const name = new Option(flags).long ?? flags;
  return flag<Record<string, string>>(flags, description).argParser((text: string, previous: Record<string, string> | undefined) => {
    const eq = text.indexOf('=');
    if (eq <= 0 || eq === text.length - 1) throw new SluiceError('BAD_USAGE', `${name} must be NAME=VALUE, not "${text.replace(/:[^@/]*@/, ':***@')}"`);
    const key = text.slice(0, eq);
    if (previous?.[key] !== undefined) throw new SluiceError('BAD_USAGE', `${name} names store ${key} twice`);
    return { ...previous, [key]: text.slice(eq + 1) };
  });
}

/** `--store` and `--store-password-file` paired by name: each store needs both (the gateway checks the rest at start). */
function gatewayStores(urls: Record<string, string>, files: Record<string, string>): Record<string, StoreConfig> {
  for (const name of Object.keys(files)) if (urls[name] === undefined) throw new SluiceError('BAD_USAGE', `--store-password-file names store ${name}, but no --store ${name}=URL is given`);
  return Object.fromEntries(
    Object.entries(urls).map(([name, url]) => {
      const file = files[name];
      if (file === undefined) throw new SluiceError('BAD_USAGE', `--store ${name} needs --store-password-file ${name}=FILE (the role password, in a 0600 file)`);
      return [name, { url, passwordFile: resolve(file) }];
    }),
  );
}

/**
 * The gateway's own login from its keytab, kept fresh for as long as it runs. A keytab the KDC
 * refuses (wrong keys, another principal, not a keytab) stops the start in one line; a KDC that
 * does not answer yet does not: the login is retried while the gateway serves.
 */
async function keytabLogin(keytab: string, principal: string, ccacheFile: string, logger: Logger): Promise<KeytabLogin> {
  let first: SluiceError | undefined;
  const login = new KeytabLogin({ keytab, principal, ccacheFile, logger, observer: { login: () => undefined, failure: (err) => (first ??= err) } });
  if (!(await login.start()) && first && !/Cannot contact any KDC|Cannot resolve network address/i.test(first.message)) {
    await login.stop();
    throw first;
  }
  return login;
}
