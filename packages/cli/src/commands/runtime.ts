import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SluiceError, createLogger, parseDuration } from '@sluice/common';
import { INSECURE_WARNING, Stram, type StramOptions } from '@sluice/stram';
import { appEntry } from './app-entry.js';
import { addLauncherOptions, launcherOptions, type LauncherFlags } from './launcher-options.js';
import { registerStatusCommands } from './status.js';
import { addTokenOptions, tokenOptions, type TokenFlags } from './token-options.js';

/** `sluice launch | status | shutdown`; main.ts registers `sluice demo` (demo.ts), which reuses warnInsecure from here. */
export function registerRuntimeCommands(program: Command): void {
  addTokenOptions(addLauncherOptions(program
    .command('launch')
    .description('launch an app (a built .js module exporting defineApp) and run its STRAM in the foreground')
    .argument('[app]', 'the built app module, or an app folder whose package.json names it (not with --recover)')
    .option('--app-dir <dir>', 'app directory (default: .sluice/apps/<app id>)')
    .option('--recover <dir>', "resume the app in this app directory after its STRAM died: keys and tokens reloaded, running containers adopted (they reconnect on STRAM's old port)")
    .option('--window <duration>', 'streaming window length (default 500ms)')
    .option('--checkpoint-windows <n>', 'operators checkpoint every n windows (default 60)')
    .option('--heartbeat-interval <duration>', 'container heartbeat interval (default 1s)')
    .option('--heartbeat-timeout <duration>', 'a container silent this long is replaced (default 30s)')
    .option('--stram-loss-timeout <duration>', 'containers stream on without STRAM this long, then stop (default 2m; longer than a STRAM restart)')
    .option('--config <key=value...>', 'app config entries (values parsed as JSON when they parse)')
    .option('--insecure', 'well-known all-zero keys: any local process can join the app (benchmarks only)')
    .option('--log-level <level>', 'STRAM and container log level', 'info')))
    .action(async (app: string | undefined, opts: { appDir?: string; config?: string[]; insecure?: boolean; logLevel: string; recover?: string } & TimingFlags & LauncherFlags & TokenFlags) => {
      if (opts.insecure) warnInsecure();
      const logger = createLogger({ name: 'stram', level: opts.logLevel });
      if ((app === undefined) === (opts.recover === undefined)) throw new SluiceError('BAD_CONFIG', 'sluice launch needs an app module, or --recover <app dir> (not both)');
      const common = { ...launcherOptions(opts, opts.logLevel, logger), ...tokenOptions(opts), ...timingOptions(opts), logger, containerLogLevel: opts.logLevel };
      const stram = opts.recover
        ? await Stram.recover({ ...common, appDir: resolve(opts.recover) })
        : await Stram.launch({
            ...common,
            appModule: appEntry(app!),
            config: parseConfig(opts.config ?? []),
            insecure: opts.insecure ?? false,
            ...(opts.appDir ? { appDir: resolve(opts.appDir) } : {}),
          });
      process.stdout.write(
        `${opts.recover ? 'recovered' : 'launched'} ${stram.appId}\n  app dir:  ${stram.dir.root}\n  REST:     ${stram.restUrl} (bearer token in ${stram.dir.webToken})\n  status:   sluice status --app-dir ${stram.dir.root}\n`,
      );
      await runUntilStopped(stram);
      process.stdout.write(`${stram.appId} stopped\n`);
    });
  registerStatusCommands(program);
}

interface TimingFlags {
  window?: string;
  checkpointWindows?: string;
  heartbeatInterval?: string;
  heartbeatTimeout?: string;
  stramLossTimeout?: string;
}

/** Windows, checkpoints and the timeouts recovery depends on (issue 6); given ones override a recovered app's saved ones. */
function timingOptions(f: TimingFlags): Partial<StramOptions> {
  const n = (v: string, name: string): number => {
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x <= 0) throw new SluiceError('BAD_CONFIG', `${name} must be a positive whole number, not "${v}"`);
    return x;
  };
  return {
    ...(f.window ? { windowMs: parseDuration(f.window, '--window') } : {}),
    ...(f.checkpointWindows ? { checkpointWindows: n(f.checkpointWindows, '--checkpoint-windows') } : {}),
    ...(f.heartbeatInterval ? { heartbeatIntervalMs: parseDuration(f.heartbeatInterval, '--heartbeat-interval') } : {}),
    ...(f.heartbeatTimeout ? { heartbeatTimeoutMs: parseDuration(f.heartbeatTimeout, '--heartbeat-timeout') } : {}),
    ...(f.stramLossTimeout ? { stramLossTimeoutMs: parseDuration(f.stramLossTimeout, '--stram-loss-timeout') } : {}),
  };
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
