import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SluiceError, isSluiceError } from '@sluice/common';
import { AppDir, AppLock, DEFAULT_RESTART, INSECURE_WARNING, Stram, formatRestart, inUse, parseRestart, statePath, type RestartStrategy } from '@sluice/stram';
import { appId, configFlag, flag, logFormatFlag, logLevelFlag, principal } from '../flags.js';
import { stramLogging, type LogFormat } from '../log-output.js';
import { withExamples } from '../help.js';
import { invocation } from '../invocation.js';
import { ExitCode } from '../report.js';
import { appEntry } from './app-entry.js';
import { addGatewayFlags, checkGatewayFlags, type GatewayFlags } from './gateway-client.js';
import { launchViaGateway } from './gateway-commands.js';
import { addLauncherOptions, launcherOptions, type LauncherFlags } from './launcher-options.js';
import { addStoreOptions, recoverStoreOptions, storeOptions, storeSettings, type StoreFlags } from './store-options.js';
import { registerStatusCommands } from './status.js';
import { TOKEN_FLAGS, WINDOW_FLAGS, addCaFlags, addStramFlags, caFlagValues, settingsByFlagName, stramFlagValues, tlsChoice, tlsFlag, withCa } from './stram-flags.js';

interface LaunchFlags extends LauncherFlags, GatewayFlags, StoreFlags {
  appDir?: string;
  config?: Record<string, unknown>;
  insecure?: boolean;
  logLevel: string;
  logFormat?: LogFormat;
  recover?: string;
  restart?: RestartStrategy;
  owner?: string;
  realUser?: string;
  resume?: boolean;
  appId?: string;
  store?: string;
}

const LAUNCH_FLAGS = [...WINDOW_FLAGS, ...TOKEN_FLAGS, 'restPort', 'certLifetimeMs', 'caRotateMs'] as const;
/** What the gateway decides for an app it launches: where it lives, who it runs as, how it runs. */
const NOT_WITH_GATEWAY = ['recover', 'postgres', 'postgresPasswordFile', 'appDir', 'insecure', 'owner', 'realUser', 'appId', 'restPort', 'dockerNetwork', 'dockerSocket', 'advertiseHost', 'caCert', 'caKey', 'caChain'];

/** `sluice launch | status | shutdown`; main.ts registers `sluice demo` (demo.ts), which reuses warnInsecure from here. */
export function registerRuntimeCommands(program: Command): void {
  const launch = program
    .command('launch')
    .description('launch an app (an app folder made by sluice init, or a built .js module exporting defineApp) and run its STRAM in the foreground')
    .argument('[app]', 'the built app module, or an app folder whose package.json names it (not with --recover)')
    .addOption(flag('--app-dir <dir>', 'app directory', { shownDefault: '.sluice/apps/<app id>' }))
    .addOption(flag('--recover <dir>', "resume the app in this app directory after its STRAM died: keys and tokens reloaded, running containers adopted (they reconnect on STRAM's old port)"))
    .addOption(flag('--resume', 'with APP and --app-dir: recover the app in --app-dir if it holds one (its STRAM gone), else launch APP there; for a STRAM its orchestrator restarts'))
    .addOption(configFlag('app config, repeatable: key=value for every operator that declares key, operator.key=value for one (values are JSON when they parse)'))
    .addOption(flag('--insecure', 'well-known all-zero keys: any local process can join the app (benchmarks only)'))
    .addOption(tlsFlag())
    .addOption(logLevelFlag('STRAM and container log level', { default: 'info' }))
    .addOption(logFormatFlag("STRAM's log on stderr (<app dir>/stram.log is always JSON)"))
    .addOption(
      flag('--restart <strategy>', 'when a lost container restarts, and when the app FAILS: exponential[:initial=,max=,multiplier=,reset=,attempts=], fixed:attempts=,delay=, failure-rate:max=,interval=,delay=, or none', {
        parse: parseRestart,
        shownDefault: formatRestart(DEFAULT_RESTART),
      }),
    )
    .addOption(flag('--owner <principal>', 'who the app runs as: owner of its tokens and of its web token; set by the gateway when it launches for someone', { parse: principal, shownDefault: 'the user running launch' }))
    .addOption(flag('--real-user <principal>', 'who launches for --owner, recorded in every token as realUser; set by the gateway when it launches for someone', { parse: principal }))
    .addOption(flag('--app-id <id>', "the app's id; set by the gateway so it and STRAM name the app alike", { parse: appId, shownDefault: 'the app name and 8 random hex digits' }));
  addStramFlags(launch, LAUNCH_FLAGS);
  addCaFlags(launch);
  addLauncherOptions(launch);
  addStoreOptions(launch);
  launch.addOption(flag('--store <name>', "with --gateway: the gateway's store (sluice gateway --store NAME=URL) the app gets as its PostgreSQL"));
  addGatewayFlags(launch, 'launch');
  launch.action(async (app: string | undefined, opts: LaunchFlags & Record<string, unknown>) => {
    checkGatewayFlags(opts, opts.launcher !== 'local' ? [...NOT_WITH_GATEWAY, 'launcher'] : NOT_WITH_GATEWAY);
    if (opts.store !== undefined && opts.gateway === undefined) throw new SluiceError('BAD_USAGE', '--store names a store of a gateway: it applies with --gateway <url> only (here: --postgres and --postgres-password-file)');
    if (opts.gateway !== undefined) {
      if (app === undefined) throw new SluiceError('BAD_USAGE', 'give the app to launch: a path on the gateway\'s machine, or demo');
      if (opts.checkpointStore !== undefined && opts.checkpointStore !== 'file' && opts.checkpointStore !== 'postgres') throw new SluiceError('BAD_USAGE', '--checkpoint-store with --gateway is file or postgres (the server is the gateway\'s --store)');
      await launchViaGateway(
        { ...opts, gateway: opts.gateway },
        {
          // A path here is the same path on the gateway's machine (or a shared one); a name (demo) is the gateway's own.
          app: existsSync(app) ? resolve(app) : app,
          config: opts.config ?? {},
          ...(opts.store !== undefined ? { store: opts.store } : {}),
          settings: { ...settingsByFlagName(opts, [...WINDOW_FLAGS, ...TOKEN_FLAGS]), ...storeSettings(opts), ...(opts.restart ? { restart: formatRestart(opts.restart) } : {}) },
        },
      );
      return;
    }
    if (opts.resume) {
      if (app === undefined || opts.appDir === undefined || opts.recover !== undefined) throw new SluiceError('BAD_USAGE', '--resume takes an app module and --app-dir (not --recover)');
      // The app is there (running or ended: its keys stay after its end) unless the directory is new.
      const dir = new AppDir(resolve(opts.appDir));
      if (existsSync(statePath(dir)) || existsSync(dir.stramDir)) {
        const { appDir, config: _config, insecure: _insecure, owner: _owner, realUser: _realUser, appId: _appId, ...rest } = opts;
        opts = { ...rest, recover: appDir };
        app = undefined;
      }
    }
    if ((app === undefined) === (opts.recover === undefined)) throw new SluiceError('BAD_USAGE', 'give an app module, or --recover <app dir> (not both)');
    if (opts.recover !== undefined && (opts.config !== undefined || opts.appDir !== undefined || opts.insecure || opts.owner !== undefined || opts.realUser !== undefined || opts.appId !== undefined)) {
      throw new SluiceError('BAD_USAGE', '--recover resumes an app as it was launched: --config, --app-dir, --insecure, --owner, --real-user and --app-id do not apply');
    }
    if (opts.realUser !== undefined && opts.owner === undefined) throw new SluiceError('BAD_USAGE', '--real-user names who launches for someone: give --owner <principal> too');
    if (opts.insecure) warnInsecure();
    const { logger, logFile } = stramLogging(opts.logLevel, opts.logFormat);
    const common = {
      ...(await launcherOptions(opts, opts.logLevel, logger)),
      ...withCa(stramFlagValues(opts, LAUNCH_FLAGS), caFlagValues(opts)),
      ...(opts.restart ? { restart: opts.restart } : {}),
      logger,
      logFile,
      command: invocation(),
      containerLogLevel: opts.logLevel,
    };
    const stram = opts.recover
      ? await recoverOrEnded({ ...common, ...recoverStoreOptions(opts), appDir: resolve(opts.recover) }, opts.resume === true)
      : await Stram.launch({
          ...common,
          ...storeOptions(opts),
          appModule: appEntry(app!),
          config: opts.config ?? {},
          insecure: opts.insecure ?? false,
          tls: tlsChoice(opts),
          ...(opts.owner !== undefined ? { user: opts.owner } : {}),
          ...(opts.realUser !== undefined ? { realUser: opts.realUser } : {}),
          ...(opts.appId !== undefined ? { appId: opts.appId } : {}),
          ...(opts.appDir ? { appDir: newAppDir(opts.appDir) } : {}),
        });
    if (!stram) return;
    const cli = invocation();
    process.stdout.write(
      `${opts.recover ? 'recovered' : 'launched'} ${stram.appId}\n` +
        `  app dir:  ${stram.dir.root}\n` +
        `  REST:     ${stram.restUrl} (bearer token in ${stram.dir.webToken})\n` +
        `  status:   ${cli} status --app-dir ${stram.dir.root}\n` +
        `  stop:     Ctrl-C here, or ${cli} shutdown --app-dir ${stram.dir.root}\n`,
    );
    await runUntilStopped(stram);
    const failure = stram.failure;
    if (failure) {
      // One line (docs/guide.md "Restart strategies"); the directory is kept, and `sluice status` shows the failures.
      process.stderr.write(`sluice launch: app ${stram.appId} FAILED: ${failure.reason}; see ${cli} status --app-dir ${stram.dir.root} [APP_FAILED]\n`);
      process.exitCode = ExitCode.failed;
      return;
    }
    process.stdout.write(`${stram.appId} stopped\n`);
  });
  withExamples(launch, [
    'launch ./my-app.js',
    'launch ./sums',
    'launch ./my-app.js --config seed=7 --config generator.tuplesPerWindow=500',
    'launch ./my-app.js --heartbeat-timeout 10s --app-dir /tmp/my-app',
    'launch --recover .sluice/apps/my-app-1a2b3c4d',
    'launch ./my-app.js --restart fixed:attempts=3,delay=2s',
    'launch demo --gateway http://gw.example.com:8443',
    'launch demo --gateway http://gw.example.com:8443 --store pg --checkpoint-store postgres',
  ]);
  registerStatusCommands(program);
}

/**
 * `launch --recover`, or `--resume` on a directory that holds an app. An app that has ended (shut
 * down or FAILED, or ending when its STRAM died: its end is finished first) is refused
 * (APP_ENDED, exit 2) — but under `--resume` that is the answer, not a failure: an orchestrator
 * restarting STRAM on failure would otherwise restart it forever. It says so and exits 0.
 */
async function recoverOrEnded(options: Parameters<typeof Stram.recover>[0], resume: boolean): Promise<Stram | undefined> {
  try {
    return await Stram.recover(options);
  } catch (err) {
    if (!resume || !isSluiceError(err, 'APP_ENDED')) throw err;
    process.stdout.write(`sluice launch: ${err.message}; --resume leaves an ended app ended [APP_ENDED]\n`);
    return undefined;
  }
}

/**
 * `--app-dir` of a new app: a directory that does not exist yet, or an empty one. An app
 * directory holds one app's keys and files (docs/guide.md "The app directory"); launching into a
 * used one would mix two apps' keys and remove the other's files at shutdown. One a live STRAM
 * holds is refused naming that STRAM (docs/guide.md "One STRAM per app directory").
 */
export function newAppDir(path: string): string {
  const dir = resolve(path);
  const live = AppLock.liveHolder(new AppDir(dir));
  if (live) throw inUse(new AppDir(dir), live, invocation());
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
