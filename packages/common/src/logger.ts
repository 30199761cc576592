import { pino, type Logger, type DestinationStream } from 'pino';
import { SluiceError } from './errors.js';

export type { Logger };

/**
 * Structured logs (pino). Secrets never reach a log line: fields with these names are censored
 * wherever they appear, as a second line of defence behind code that never logs them.
 */
const REDACT = ['password', 'secret', 'token', 'proof', 'mac', 'key', 'sessionKey', 'credentials', '*.password', '*.secret', '*.token', '*.proof', '*.key'];

/** pino's levels, quietest last; `--log-level` and SLUICE_LOG_LEVEL take one of these. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * stderr written asynchronously (pino's SonicBoom, sync: false), in writes of up to 8 KiB and at
 * least every 100 ms: a server logging each connection pays one write per burst of lines instead
 * of one syscall per line, and a reader waits at most 100 ms for a line. No line is lost when the process ends: pino
 * flushes the buffer synchronously on 'exit' — a normal end, process.exit, an uncaught exception
 * or rejection, and SIGTERM / SIGINT where the process handles them by exiting (every Sluice
 * server does) — and on 'beforeExit'. Only a signal that kills outright (SIGKILL) can take the
 * last lines with it, as it takes everything else.
 */
export function asyncStderr(): DestinationStream {
  return pino.destination({ dest: 2, sync: false, minLength: 8192, periodicFlush: 100 });
}

export function createLogger(options: { name: string; level?: string; destination?: DestinationStream } ): Logger {
  const level = options.level ?? process.env['SLUICE_LOG_LEVEL'] ?? 'info';
  // pino would throw its own error (and a stack) at an unknown level.
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new SluiceError('BAD_CONFIG', `log level "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  const opts = {
    name: options.name,
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts, pino.destination(2));
}
