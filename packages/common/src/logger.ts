import { pino, type Logger, type DestinationStream } from 'pino';
import { SluiceError } from './errors.js';
import { burstStderr } from './burst-stderr.js';

export type { Logger };

/**
 * Structured logs (pino). Secrets never reach a log line: fields with these names are censored
 * wherever they appear, as a second line of defence behind code that never logs them.
 */
const REDACT = ['password', 'secret', 'token', 'proof', 'mac', 'key', 'sessionKey', 'credentials', '*.password', '*.secret', '*.token', '*.proof', '*.key'];

/** pino's levels, quietest last; `--log-level` and SLUICE_LOG_LEVEL take one of these. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * stderr in bursts (burst-stderr.ts): one write per 8 KiB or 100 ms instead of one per line, and
 * every held line written when the process ends, crashes or exits on a signal it handles — with a
 * bounded final write, so a reader that went away never keeps the process alive.
 */
export function asyncStderr(): DestinationStream {
  return burstStderr();
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
