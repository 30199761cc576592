import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SluiceError, boundNamesSchema, createLogger, parseDuration, parseSize, readSecretFile, type BoundNames } from '@sluice/common';
import { startBufferServer, type BufferServerOptions } from '@sluice/buffer-server';

interface BufferServerFlags {
  host: string;
  port: string;
  id: string;
  secretFile: string;
  spoolDir?: string;
  memoryLimit: string;
  spoolLimit?: string;
  handshakeTimeout?: string;
  maxPayload?: string;
  preAuthMaxPayload?: string;
  maxPendingHandshakes?: string;
  boundNames?: string;
  subscriberNamesPerHolder?: string;
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

/**
 * `sluice buffer-server`: one standalone buffer server (issue 4). Prints `listening ws://HOST:PORT`
 * on stdout once it accepts connections; logs go to stderr; SIGTERM / SIGINT stop it cleanly
 * (connections closed with 1001, spool files removed).
 */
export function registerBufferServerCommand(program: Command): void {
  program
    .command('buffer-server')
    .description('run a standalone buffer server (the data plane; see docs/protocol.md)')
    .requiredOption('--id <id>', 'this server\'s id (tokens name it in scope.bs)')
    .requiredOption('--secret-file <file>', 'the server\'s secret file (64 hex characters, mode 0600)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '0')
    .option('--spool-dir <dir>', 'where to spill windows when memory is full (default: OS temp dir)')
    .option('--memory-limit <size>', 'window data held in memory, like 256MiB', '256MiB')
    .option('--spool-limit <size>', 'window data held in spool files before publishers are paused (default: 4 x memory limit)')
    .option('--handshake-timeout <duration>', 'time a connection has to authenticate, like 5s')
    .option('--max-payload <size>', 'largest accepted message (larger: closed with 1009), like 16MiB')
    .option('--bound-names <file>', 'JSON {stream: {subscriber: container}}: names reserved for those containers from the start')
    .option('--subscriber-names-per-holder <n>', 'subscriber names one container (or owner) may bind here (default 1024)')
    .option('--pre-auth-max-payload <size>', 'largest message accepted before a connection is welcomed (larger: closed with 1009), like 16KiB')
    .option('--max-pending-handshakes <n>', 'connections that may be authenticating at once (more: closed with 4408), like 256')
    .action(async (flags: BufferServerFlags) => {
      const port = Number(flags.port);
      const options: BufferServerOptions = {
        id: flags.id,
        secret: readSecretFile(flags.secretFile),
        host: flags.host,
        port: Number.isInteger(port) && port >= 0 && port < 65536 ? port : Number.NaN,
        memoryLimit: parseSize(flags.memoryLimit, '--memory-limit'),
        logger: createLogger({ name: 'buffer-server' }),
      };
      if (Number.isNaN(options.port)) throw new Error(`--port: "${flags.port}" is not a port number`);
      if (flags.spoolDir !== undefined) options.spoolDir = flags.spoolDir;
      if (flags.spoolLimit !== undefined) options.spoolLimit = parseSize(flags.spoolLimit, '--spool-limit');
      if (flags.handshakeTimeout !== undefined) options.handshakeTimeoutMs = parseDuration(flags.handshakeTimeout, '--handshake-timeout');
      if (flags.maxPayload !== undefined) options.maxPayload = parseSize(flags.maxPayload, '--max-payload');
      if (flags.boundNames !== undefined) options.boundNames = readBoundNames(flags.boundNames);
      if (flags.subscriberNamesPerHolder !== undefined) {
        const n = Number(flags.subscriberNamesPerHolder);
        if (!(Number.isSafeInteger(n) && n >= 1)) throw new SluiceError('BAD_CONFIG', `--subscriber-names-per-holder: "${flags.subscriberNamesPerHolder}" must be a whole number of at least 1`);
        options.subscriberNamesPerHolder = n;
      }
      if (flags.preAuthMaxPayload !== undefined) options.preAuthMaxPayload = parseSize(flags.preAuthMaxPayload, '--pre-auth-max-payload');
      if (flags.maxPendingHandshakes !== undefined) options.maxPendingHandshakes = Number(flags.maxPendingHandshakes);
      const server = await startBufferServer(options);
      process.stdout.write(`listening ${server.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
          server.close().then(resolve, resolve);
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      });
    });
}
