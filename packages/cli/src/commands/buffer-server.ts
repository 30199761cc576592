import type { Command } from 'commander';
import { SluiceError, createLogger, isSluiceError, readSecretFile } from '@sluice/common';
import { startBufferServer, type BufferServerOptions } from '@sluice/buffer-server';
import { duration, flag, logLevelFlag, port, required, size } from '../flags.js';
import { withExamples } from '../help.js';

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
  logLevel?: string;
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
    .addOption(flag('--memory-limit <size>', 'window data held in memory', { parse: size, default: '256MiB' }))
    .addOption(flag('--spool-limit <size>', 'window data held in spool files before publishers are paused', { parse: size, shownDefault: '4 x --memory-limit' }))
    .addOption(flag('--handshake-timeout <duration>', 'time a connection has to authenticate', { parse: duration, shownDefault: '5s' }))
    .addOption(flag('--max-payload <size>', 'largest accepted message (larger: closed with 1009)', { parse: size, shownDefault: '16MiB' }))
    .addOption(logLevelFlag('log level (logs go to stderr)', { shownDefault: '$SLUICE_LOG_LEVEL, else info' }))
    .action(async (flags: BufferServerFlags) => {
      const options: BufferServerOptions = {
        id: flags.id,
        secret: readSecretFile(flags.secretFile),
        host: flags.host,
        port: flags.port,
        memoryLimit: flags.memoryLimit,
        logger: createLogger({ name: 'buffer-server', ...(flags.logLevel !== undefined ? { level: flags.logLevel } : {}) }),
        optionNames: { id: '--id', memoryLimit: '--memory-limit', spoolLimit: '--spool-limit', maxPayload: '--max-payload', handshakeTimeoutMs: '--handshake-timeout' },
        ...(flags.spoolDir !== undefined ? { spoolDir: flags.spoolDir } : {}),
        ...(flags.spoolLimit !== undefined ? { spoolLimit: flags.spoolLimit } : {}),
        ...(flags.handshakeTimeout !== undefined ? { handshakeTimeoutMs: flags.handshakeTimeout } : {}),
        ...(flags.maxPayload !== undefined ? { maxPayload: flags.maxPayload } : {}),
      };
      const server = await startBufferServer(options).catch((err: unknown) => {
        throw isSluiceError(err, 'LISTEN_FAILED') ? new SluiceError('LISTEN_FAILED', `${err.message}; choose another --port (0: any free port)`, { cause: err }) : err;
      });
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
  withExamples(cmd, ['secret --out bs.secret', 'buffer-server --id bs-1 --secret-file bs.secret --port 7001']);
}
