#!/usr/bin/env node
import { connectPublisher, connectSubscriber, startBufferServer } from '@sluice/buffer-server';
import { SluiceError, createLogger, readCredentials, type Credentials } from '@sluice/common';
import { Container, ExitCode } from './container.js';

/**
 * Container process entry (`node <@sluice/container/main>`). STRAM passes one thing: env
 * SLUICE_CREDENTIALS, the path of the 0600 credentials file; nothing secret is in argv or env.
 * Exit codes: see ExitCode (0 shutdown, 1 failure, 2 bad credentials, 3 STRAM lost, 4 operator failed).
 */
const base = createLogger({ name: 'container' });

function exit(code: number): never {
  base.flush?.();
  process.exit(code);
}

const path = process.env['SLUICE_CREDENTIALS'];
if (!path) {
  base.error('SLUICE_CREDENTIALS is not set; it must be the path of the container credentials file');
  exit(ExitCode.badConfig);
}
let credentials: Credentials;
try {
  credentials = readCredentials(path);
} catch (err) {
  base.error({ code: (err as SluiceError).code, err: (err as Error).message }, 'cannot use the credentials file');
  exit(ExitCode.badConfig);
}
const logger = base.child({ app: credentials.app, container: credentials.container });
if (credentials.settings.insecure) logger.warn('INSECURE mode: this app runs with well-known keys; anyone can forge its tokens');
const container = new Container({
  credentialsPath: path,
  credentials,
  logger,
  dataPlane: { startBufferServer, connectPublisher, connectSubscriber },
  exit: (code) => exit(code),
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void container.stop(ExitCode.ok, `received ${signal}`));
}
process.on('unhandledRejection', (err) => {
  logger.error({ err: (err as Error)?.message }, 'unhandled rejection');
  void container.stop(ExitCode.failed, 'unhandled rejection');
});
container.start().catch((err: unknown) => {
  logger.error({ err: (err as Error).message }, 'container failed to start');
  void container.stop(err instanceof SluiceError && err.code === 'BAD_CONFIG' ? ExitCode.badConfig : ExitCode.failed, 'start failed');
});
