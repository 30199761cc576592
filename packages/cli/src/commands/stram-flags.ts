import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { StramOptions } from '@sluice/stram';
import { duration, flag, port, positiveInt, type Parse } from '../flags.js';

/**
 * The STRAM settings `sluice launch` and `sluice demo` take as flags (docs/guide.md "The sluice command"):
 * windows, checkpoints, the heartbeat and token lifetimes (docs/architecture.md "Token lifetimes and
 * rotation"), the REST port. One table
 * declares each flag, reads it and names it in STRAM's errors. Defaults are STRAM's own, shown in
 * help only: a flag left out stays unset, so a recovered app keeps the settings it was saved with.
 */
interface StramFlag {
  flags: string;
  description: string;
  shownDefault: string;
  parse: Parse<number>;
}

const STRAM_FLAGS = {
  windowMs: { flags: '--window <duration>', description: 'streaming window length', shownDefault: '500ms', parse: duration },
  checkpointWindows: { flags: '--checkpoint-windows <n>', description: 'operators checkpoint every n windows', shownDefault: '60', parse: positiveInt },
  heartbeatIntervalMs: { flags: '--heartbeat-interval <duration>', description: 'container heartbeat interval', shownDefault: '1s', parse: duration },
  heartbeatTimeoutMs: { flags: '--heartbeat-timeout <duration>', description: 'a container silent this long is replaced', shownDefault: '30s', parse: duration },
  stramLossTimeoutMs: {
    flags: '--stram-loss-timeout <duration>',
    description: 'containers stream on without STRAM this long, then stop (longer than a STRAM restart)',
    shownDefault: '2m',
    parse: duration,
  },
  renewIntervalMs: { flags: '--renew-interval <duration>', description: 'STRAM token renew interval: tokens are renewed at 75% of it', shownDefault: '1d', parse: duration },
  maxLifetimeMs: { flags: '--max-lifetime <duration>', description: 'token max lifetime: tokens are reissued at 75% of it', shownDefault: '7d', parse: duration },
  keyUpdateIntervalMs: { flags: '--key-roll <duration>', description: 'master key update interval', shownDefault: '1d', parse: duration },
  removalScanIntervalMs: { flags: '--token-scan <duration>', description: 'expired token removal scan interval', shownDefault: '1h', parse: duration },
  certLifetimeMs: { flags: '--cert-lifetime <duration>', description: 'lifetime of container certificates under --tls on: renewed at 75% of it', shownDefault: '4h', parse: duration },
  caRotateMs: { flags: '--ca-rotate <duration>', description: 'under --tls on, rotate the app CA root this long after the last rotation (3 steps, a certificate lifetime apart)', shownDefault: 'just before the root (valid a year) would expire', parse: duration },
  restPort: {
    flags: '--rest-port <port>',
    description: 'port of the REST API and /metrics, so a Prometheus target stays put (in use: refused)',
    shownDefault: 'any free port',
    parse: port,
  },
} as const satisfies Partial<Record<keyof StramOptions, StramFlag>>;

export type StramFlagKey = keyof typeof STRAM_FLAGS;

export const WINDOW_FLAGS = ['windowMs', 'checkpointWindows', 'heartbeatIntervalMs', 'heartbeatTimeoutMs', 'stramLossTimeoutMs'] as const satisfies StramFlagKey[];
export const TOKEN_FLAGS = ['renewIntervalMs', 'maxLifetimeMs', 'keyUpdateIntervalMs', 'removalScanIntervalMs'] as const satisfies StramFlagKey[];

/**
 * `--tls on|off`: mutual TLS 1.3 on the umbilical and the data plane (docs/architecture.md
 * "Transport encryption"). On by default where containers talk across a network (the docker and
 * swarm launchers), off by default for local child processes on one host's loopback.
 */
export function tlsFlag(): Option {
  return flag('--tls <on|off>', 'mutual TLS 1.3 on the umbilical and between containers, with certificates from the app CA', { choices: ['on', 'off'], shownDefault: 'on with --launcher docker or swarm, else off' });
}

export function tlsChoice(opts: { tls?: unknown; launcher?: unknown }): boolean {
  if (opts.tls === 'on' || opts.tls === 'off') return opts.tls === 'on';
  return opts.launcher === 'docker' || opts.launcher === 'swarm';
}

/** `--ca-cert/--ca-key/--ca-chain`: an operator-supplied intermediate CA in place of the app's own root (docs/guide.md "TLS"). */
export function addCaFlags(cmd: Command): Command {
  return cmd
    .addOption(flag('--ca-cert <file>', "under TLS: an intermediate CA certificate (PEM) signed by the operator's root, to issue the app's certificates", { shownDefault: "a root of the app's own" }))
    .addOption(flag('--ca-key <file>', "its private key (PEM, ECDSA P-256), mode 0600; read where it is, never copied"))
    .addOption(flag('--ca-chain <file>', "the certificates above --ca-cert up to the operator's root (PEM), which peers then trust"));
}

/** The CA flags given, as absolute paths (state.json keeps them for --recover), and how errors name them. */
export function caFlagValues(opts: Record<string, unknown>): Pick<StramOptions, 'caCert' | 'caKey' | 'caChain'> & { optionNames: Partial<Record<keyof StramOptions, string>> } {
  const path = (v: unknown): string | undefined => (typeof v === 'string' ? resolve(v) : undefined);
  const [caCert, caKey, caChain] = [path(opts['caCert']), path(opts['caKey']), path(opts['caChain'])];
  return { ...(caCert ? { caCert } : {}), ...(caKey ? { caKey } : {}), ...(caChain ? { caChain } : {}), optionNames: { caCert: '--ca-cert', caKey: '--ca-key', caChain: '--ca-chain', caRotateMs: '--ca-rotate' } };
}

/** The STRAM flags and the CA files, the names of both kinds for STRAM's errors. */
export function withCa(flags: Partial<StramOptions>, ca: ReturnType<typeof caFlagValues>): Partial<StramOptions> {
  return { ...flags, ...ca, optionNames: { ...flags.optionNames, ...ca.optionNames } };
}

const attribute = (key: StramFlagKey): string => new Option(STRAM_FLAGS[key].flags).attributeName();

export function addStramFlags(cmd: Command, keys: readonly StramFlagKey[]): Command {
  for (const key of keys) {
    const f: StramFlag = STRAM_FLAGS[key];
    cmd.addOption(flag(f.flags, f.description, { parse: f.parse, shownDefault: f.shownDefault }));
  }
  return cmd;
}

/** The STRAM options given on the command line, and the flag names STRAM's errors should use. */
export function stramFlagValues(opts: Record<string, unknown>, keys: readonly StramFlagKey[]): Partial<StramOptions> {
  const given = keys.flatMap((key) => (typeof opts[attribute(key)] === 'number' ? [[key, opts[attribute(key)]] as const] : []));
  const names = Object.fromEntries(Object.entries(STRAM_FLAGS).map(([key, f]) => [key, new Option(f.flags).long ?? f.flags]));
  return { ...Object.fromEntries(given), optionNames: names };
}

/**
 * The STRAM flags given, as a gateway's launch request names them (by long name; a duration in
 * ms gets `Ms`: `--key-roll 1h` → `keyRollMs: 3600000`).
 */
export function settingsByFlagName(opts: Record<string, unknown>, keys: readonly StramFlagKey[]): Record<string, number> {
  return Object.fromEntries(
    keys.flatMap((key) => {
      const value = opts[attribute(key)];
      if (typeof value !== 'number') return [];
      const f: StramFlag = STRAM_FLAGS[key];
      return [[f.parse === duration ? `${attribute(key)}Ms` : attribute(key), value]];
    }),
  );
}
