import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SluiceError, createLogger } from '@sluice/common';
import { INSECURE_WARNING, Stram } from '@sluice/stram';
import { addLauncherOptions, launcherOptions, type LauncherFlags } from './launcher-options.js';
import { registerDemoCommand } from './demo.js';
import { registerStatusCommands } from './status.js';
import { addTokenOptions, tokenOptions, type TokenFlags } from './token-options.js';

/** `sluice launch | status | shutdown | demo` (issue 5). */
export function registerRuntimeCommands(program: Command): void {
  addTokenOptions(addLauncherOptions(program
    .command('launch')
    .description('launch an app (a built .js module exporting defineApp) and run its STRAM in the foreground')
    .argument('<app>', 'path of the built app module')
    .option('--app-dir <dir>', 'app directory (default: .sluice/apps/<app id>)')
    .option('--config <key=value...>', 'app config entries (values parsed as JSON when they parse)')
    .option('--insecure', 'well-known all-zero keys: any local process can join the app (benchmarks only)')
    .option('--log-level <level>', 'STRAM and container log level', 'info')))
    .action(async (app: string, opts: { appDir?: string; config?: string[]; insecure?: boolean; logLevel: string } & LauncherFlags & TokenFlags) => {
      if (opts.insecure) warnInsecure();
      const logger = createLogger({ name: 'stram', level: opts.logLevel });
      const stram = await Stram.launch({
        appModule: resolve(app),
        config: parseConfig(opts.config ?? []),
        ...launcherOptions(opts, opts.logLevel, logger),
        ...tokenOptions(opts),
        insecure: opts.insecure ?? false,
        logger,
        containerLogLevel: opts.logLevel,
        ...(opts.appDir ? { appDir: resolve(opts.appDir) } : {}),
      });
      process.stdout.write(
        `launched ${stram.appId}\n  app dir:  ${stram.dir.root}\n  REST:     ${stram.restUrl} (bearer token in ${stram.dir.webToken})\n  status:   sluice status --app-dir ${stram.dir.root}\n`,
      );
      await runUntilStopped(stram);
      process.stdout.write(`${stram.appId} stopped\n`);
    });
  registerStatusCommands(program);
  registerDemoCommand(program);
}

/** SIGINT/SIGTERM shut the app down cleanly; a second signal is left to the default (exit). */
export async function runUntilStopped(stram: Stram): Promise<void> {
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\n${signal}: shutting down ${stram.appId}...\n`);
    void stram.shutdown(`${signal} at the launching terminal`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await stram.stopped;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

export function warnInsecure(): void {
  const bar = '!'.repeat(INSECURE_WARNING.length + 4);
  process.stderr.write(`${bar}\n! ${INSECURE_WARNING} !\n${bar}\n`);
}

function parseConfig(entries: string[]): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const e of entries) {
    const eq = e.indexOf('=');
    if (eq <= 0) throw new SluiceError('BAD_CONFIG', `--config "${e}" must be key=value`);
    const raw = e.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    config[e.slice(0, eq)] = value;
  }
  return config;
}
