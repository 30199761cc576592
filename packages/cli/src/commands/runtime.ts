import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SluiceError } from '@sluice/common';
import { INSECURE_WARNING, Stram } from '@sluice/stram';
import { configFlag, flag, logFormatFlag, logLevelFlag } from '../flags.js';
import { stramLogging, type LogFormat } from '../log-output.js';
import { withExamples } from '../help.js';
import { invocation } from '../invocation.js';
import { addLauncherOptions, launcherOptions, type LauncherFlags } from './launcher-options.js';
import { registerStatusCommands } from './status.js';
import { TOKEN_FLAGS, WINDOW_FLAGS, addStramFlags, stramFlagValues } from './stram-flags.js';

interface LaunchFlags extends LauncherFlags {
  appDir?: string;
  config?: Record<string, unknown>;
  insecure?: boolean;
  logLevel: string;
  logFormat?: LogFormat;
  recover?: string;
}

const LAUNCH_FLAGS = [...WINDOW_FLAGS, ...TOKEN_FLAGS, 'restPort'] as const;

/** `sluice launch | status | shutdown`; main.ts registers `sluice demo` (demo.ts), which reuses warnInsecure from here. */
export function registerRuntimeCommands(program: Command): void {
  const launch = program
    .command('launch')
    .description('launch an app (a built .js module exporting defineApp) and run its STRAM in the foreground')
    .argument('[app]', 'path of the built app module (not with --recover)')
    .addOption(flag('--app-dir <dir>', 'app directory', { shownDefault: '.sluice/apps/<app id>' }))
    .addOption(flag('--recover <dir>', "resume the app in this app directory after its STRAM died: keys and tokens reloaded, running containers adopted (they reconnect on STRAM's old port)"))
    .addOption(configFlag('app config, repeatable: key=value for every operator that declares key, operator.key=value for one (values are JSON when they parse)'))
    .addOption(flag('--insecure', 'well-known all-zero keys: any local process can join the app (benchmarks only)'))
    .addOption(logLevelFlag('STRAM and container log level', { default: 'info' }))
    .addOption(logFormatFlag("STRAM's log on stderr (<app dir>/stram.log is always JSON)"));
  addStramFlags(launch, LAUNCH_FLAGS);
  addLauncherOptions(launch);
  launch.action(async (app: string | undefined, opts: LaunchFlags & Record<string, unknown>) => {
    if ((app === undefined) === (opts.recover === undefined)) throw new SluiceError('BAD_USAGE', 'give an app module, or --recover <app dir> (not both)');
    if (opts.recover !== undefined && (opts.config !== undefined || opts.appDir !== undefined || opts.insecure)) {
      throw new SluiceError('BAD_USAGE', '--recover resumes an app as it was launched: --config, --app-dir and --insecure do not apply');
    }
    if (opts.insecure) warnInsecure();
    const { logger, logFile } = stramLogging(opts.logLevel, opts.logFormat);
    const common = {
      ...launcherOptions(opts, opts.logLevel, logger),
      ...stramFlagValues(opts, LAUNCH_FLAGS),
      logger,
      logFile,
      containerLogLevel: opts.logLevel,
    };
    const stram = opts.recover
      ? await Stram.recover({ ...common, appDir: resolve(opts.recover) })
      : await Stram.launch({
          ...common,
          appModule: resolve(app!),
          config: opts.config ?? {},
          insecure: opts.insecure ?? false,
          ...(opts.appDir ? { appDir: newAppDir(opts.appDir) } : {}),
        });
    const cli = invocation();
    process.stdout.write(
      `${opts.recover ? 'recovered' : 'launched'} ${stram.appId}\n` +
        `  app dir:  ${stram.dir.root}\n` +
        `  REST:     ${stram.restUrl} (bearer token in ${stram.dir.webToken})\n` +
        `  status:   ${cli} status --app-dir ${stram.dir.root}\n` +
        `  stop:     Ctrl-C here, or ${cli} shutdown --app-dir ${stram.dir.root}\n`,
    );
    await runUntilStopped(stram);
    process.stdout.write(`${stram.appId} stopped\n`);
  });
  withExamples(launch, [
    'launch ./my-app.js',
    'launch ./my-app.js --config seed=7 --config generator.tuplesPerWindow=500',
    'launch ./my-app.js --heartbeat-timeout 10s --app-dir /tmp/my-app',
    'launch --recover .sluice/apps/my-app-1a2b3c4d',
  ]);
  registerStatusCommands(program);
}

/**
 * `--app-dir` of a new app: a directory that does not exist yet, or an empty one. An app
 * directory holds one app's keys and files (docs/guide.md "The app directory"); launching into a
 * used one would mix two apps' keys and remove the other's files at shutdown.
 */
export function newAppDir(path: string): string {
  const dir = resolve(path);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return dir;
    throw new SluiceError('BAD_CONFIG', `--app-dir ${dir} cannot be used: ${(err as Error).message}`, { cause: err });
  }
  if (entries.length > 0) {
    throw new SluiceError('BAD_CONFIG', `--app-dir ${dir} is not empty: give a new or empty directory (an app in it is resumed with launch --recover ${dir})`);
  }
  return dir;
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
