import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Structured logs (pino). Secrets never reach a log line: fields with these names are censored
 * wherever they appear, as a second line of defence behind code that never logs them.
 */
const REDACT = ['password', 'secret', 'token', 'proof', 'mac', 'key', 'sessionKey', 'credentials', '*.password', '*.secret', '*.token', '*.proof', '*.key'];

export function createLogger(options: { name: string; level?: string; destination?: DestinationStream } ): Logger {
  const opts = {
    name: options.name,
    level: options.level ?? process.env['SLUICE_LOG_LEVEL'] ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts, pino.destination(2));
}
