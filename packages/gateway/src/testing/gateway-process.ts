import { writeFileSync } from 'node:fs';
import type { TestRealm } from './test-realm.js';

/**
 * How tests and the bench run a real `sluice gateway` on a TestRealm: its service principal,
 * its command line and the line it prints once it listens. The caller spawns the CLI (this
 * package does not know where the cli's bin lives).
 */

/** The gateway's service principal: `HTTP/localhost`, so clients reach it as `http://localhost:<port>`. */
export const GATEWAY_PRINCIPAL = 'HTTP/localhost@EXAMPLE.TEST';

/** The `listening http://127.0.0.1:<port>` line the gateway prints on stdout once it serves. */
export const GATEWAY_LISTENING = /listening http:\/\/127\.0\.0\.1:(\d+)/;

/** The URL a client uses for the gateway listening on `port`: the host its service principal names. */
export const gatewayUrl = (port: number | string): string => `http://localhost:${port}`;

export interface GatewayCommand {
  /** Arguments after the `sluice` bin: `gateway --port 0 --keytab ... --state-dir ...`. */
  args: string[];
  /** Environment to add: the realm's Kerberos configuration and an info log level. */
  env: Record<string, string>;
}

/** `sluice gateway` on a free port with the realm's gateway keytab, JSON logs, and `extra` flags. */
export function gatewayCommand(realm: TestRealm, stateDir: string, extra: string[] = []): GatewayCommand {
  return {
    args: ['gateway', '--port', '0', '--keytab', realm.keytab(GATEWAY_PRINCIPAL), '--principal', GATEWAY_PRINCIPAL, '--state-dir', stateDir, '--log-format', 'json', ...extra],
    env: { ...realm.env(), SLUICE_LOG_LEVEL: 'info' },
  };
}

/** A policy file giving every principal of the test realm the role `launcher` (LAUNCH_APPS): what a gateway that lets its realm launch needs (the default is to let nobody). */
export function writeLaunchPolicy(file: string): string {
  writeFileSync(file, ['roles:', '  launcher: [LAUNCH_APPS]', 'bindings:', '  - role: launcher', '    principals: ["*@EXAMPLE.TEST"]', ''].join('\n'), { mode: 0o600 });
  return file;
}
