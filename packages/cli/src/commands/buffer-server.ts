import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SluiceError, boundNamesSchema, isSluiceError, readPrivateFile, readSecretFile, type BoundNames, type TlsMaterial } from '@sluice/common';
import { startBufferServer, type BufferServerOptions } from '@sluice/buffer-server';
import { duration, flag, logFormatFlag, logLevelFlag, port, positiveInt, required, size } from '../flags.js';
import { withExamples } from '../help.js';
import { terminalLogging, type LogFormat } from '../log-output.js';
import { untilStopSignal } from '../signals.js';

interface BufferServerFlags {
  host: string;
  port: number;
  id: string;
  secretFile: string;
  spoolDir?: string;
  memoryLimit: number;
  spoolLimit?: number;
  handshakeTimeout?: number;
  maxPayload?: number;
  preAuthMaxPayload?: number;
  maxPendingHandshakes?: number;
  boundNames?: string;
  subscriberNamesPerHolder?: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  logLevel?: string;
  logFormat?: LogFormat;
}

/** `--bound-names FILE`: JSON `{stream: {subscriber: container}}` (docs/protocol.md "Subscriber names"). */
function readBoundNames(file: string): BoundNames {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new SluiceError('BAD_CONFIG', `--bound-names: cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  const parsed = boundNamesSchema.safeParse(json);
  if (!parsed.success) throw new SluiceError('BAD_CONFIG', `--bound-names: ${file} must map stream → subscriber name → container id`);
  return parsed.data;
}

/** `--tls-cert/--tls-key/--tls-ca`: all three or none; the key file must be 0600 like any secret. */
function readTlsFlags(flags: BufferServerFlags): TlsMaterial | undefined {
  const given = [flags.tlsCert, flags.tlsKey, flags.tlsCa].filter((f) => f !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new SluiceError('BAD_USAGE', '--tls-cert, --tls-key and --tls-ca go together: give all three for mutual TLS, or none');
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new SluiceError('BAD_CONFIG', `${what}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  return {
    cert: read(flags.tlsCert!, '--tls-cert'),
    key: readPrivateFile(flags.tlsKey!, { what: '--tls-key file', code: 'BAD_CONFIG' }).toString('utf8'),
    ca: read(flags.tlsCa!, '--tls-ca'),
  };
}

/**
 * `sluice buffer-server`: one standalone buffer server (docs/protocol.md). Prints `listening
 * ws://HOST:PORT` on stdout once it accepts connections; logs go to stderr; SIGTERM / SIGINT stop
 * it cleanly (connections closed with 1001, spool files removed).
 */
export function registerBufferServerCommand(program: Command): void {
  const cmd = program
    .command('buffer-server')
    .description('run a standalone buffer server (the data plane; see docs/protocol.md)')
    .addOption(required('--id <id>', "this server's id (tokens name it in scope.bs)"))
    .addOption(required('--secret-file <file>', "the server's secret file (64 hex characters, mode 0600, as the secret command writes it)"))
    .addOption(flag('--host <host>', 'address to listen on', { default: '127.0.0.1' }))
    .addOption(flag('--port <port>', 'port to listen on (0: any free port)', { parse: port, default: '0' }))
    .addOption(flag('--spool-dir <dir>', 'where to spill windows when memory is full', { shownDefault: 'the OS temp dir' }))
    .addOption(flag('--memory-limit <size>', 'what the process may grow by over its idle size: window data held in memory gets at most half, the rest is headroom for frames in flight and garbage', { parse: size, default: '256MiB' }))
    .addOption(flag('--spool-limit <size>', 'window data held in spool files before publishers are paused', { parse: size, shownDefault: '4 x --memory-limit' }))
    .addOption(flag('--handshake-timeout <duration>', 'time a connection has to authenticate', { parse: duration, shownDefault: '5s' }))
    .addOption(flag('--max-payload <size>', 'largest accepted message (larger: closed with 1009)', { parse: size, shownDefault: '16MiB' }))
    .addOption(flag('--pre-auth-max-payload <size>', 'largest message accepted before a connection is welcomed (larger: closed with 1009)', { parse: size, shownDefault: '16KiB' }))
    .addOption(flag('--max-pending-handshakes <n>', 'connections that may be authenticating at once (more: closed with 4408)', { parse: positiveInt, shownDefault: '256' }))
    .addOption(flag('--bound-names <file>', 'JSON {stream: {subscriber: container}}: names reserved for those containers from the start'))
    .addOption(flag('--subscriber-names-per-holder <n>', 'subscriber names one container (or owner) may bind here', { parse: positiveInt, shownDefault: '1024' }))
    .addOption(flag('--tls-cert <file>', "mutual TLS 1.3: this server's certificate chain (PEM, leaf first)"))
    .addOption(flag('--tls-key <file>', "mutual TLS: this server's private key (PEM, mode 0600)"))
    .addOption(flag('--tls-ca <file>', "mutual TLS: the roots a client's certificate must chain to (PEM)"))
    .addOption(logLevelFlag('log level (logs go to stderr)', { shownDefault: '$SLUICE_LOG_LEVEL, else info' }))
    .addOption(logFormatFlag('how log lines read on stderr'))
    .action(async (flags: BufferServerFlags) => {
      const tls = readTlsFlags(flags);
      const options: BufferServerOptions = {
        id: flags.id,
        ...(tls ? { tls } : {}),
        secret: readSecretFile(flags.secretFile),
        host: flags.host,
        port: flags.port,
        memoryLimit: flags.memoryLimit,
        logger: terminalLogging('buffer-server', flags.logLevel, flags.logFormat),
        optionNames: { id: '--id', memoryLimit: '--memory-limit', spoolLimit: '--spool-limit', maxPayload: '--max-payload', handshakeTimeoutMs: '--handshake-timeout', preAuthMaxPayload: '--pre-auth-max-payload', maxPendingHandshakes: '--max-pending-handshakes', subscriberNamesPerHolder: '--subscriber-names-per-holder' },
        ...(flags.spoolDir !== undefined ? { spoolDir: flags.spoolDir } : {}),
        ...(flags.spoolLimit !== undefined ? { spoolLimit: flags.spoolLimit } : {}),
        ...(flags.handshakeTimeout !== undefined ? { handshakeTimeoutMs: flags.handshakeTimeout } : {}),
        ...(flags.maxPayload !== undefined ? { maxPayload: flags.maxPayload } : {}),
        ...(flags.preAuthMaxPayload !== undefined ? { preAuthMaxPayload: flags.preAuthMaxPayload } : {}),
        ...(flags.maxPendingHandshakes !== undefined ? { maxPendingHandshakes: flags.maxPendingHandshakes } : {}),
        ...(flags.boundNames !== undefined ? { boundNames: readBoundNames(flags.boundNames) } : {}),
        ...(flags.subscriberNamesPerHolder !== undefined ? { subscriberNamesPerHolder: flags.subscriberNamesPerHolder } : {}),
      };
      const server = await startBufferServer(options).catch((err: unknown) => {
        throw isSluiceError(err, 'LISTEN_FAILED') ? new SluiceError('LISTEN_FAILED', `${err.message}; choose another --port (0: any free port)`, { cause: err }) : err;
      });
      process.stdout.write(`listening ${server.url}\n`);
      await untilStopSignal();
      await server.close();
    });
  withExamples(cmd, ['secret --out bs.secret', 'buffer-server --id bs-1 --secret-file bs.secret --port 7001']);
}
