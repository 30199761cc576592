import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Command } from 'commander';
import { SluiceError } from '@sluice/common';
import { AppDir, latestAppDir } from '@sluice/stram';
import { flag, logFormatFlag } from '../flags.js';
import { withExamples } from '../help.js';
import { lineFormatter, logFormatFor, type LogFormat } from '../log-output.js';

/** How often `--follow` looks for new lines. */
const FOLLOW_POLL_MS = 250;

interface LogsFlags {
  appDir?: string;
  container?: string;
  follow?: boolean;
  logFormat?: LogFormat;
}

/** `sluice logs`: STRAM's `<app dir>/stram.log` or a container's `containers/<id>/container.log` (docs/guide.md "Logs"). */
export function registerLogsCommand(program: Command): void {
  const logs = program
    .command('logs')
    .description("print an app's log: STRAM's, or one container's")
    .addOption(flag('--app-dir <dir>', 'the app directory', { shownDefault: 'the most recent under .sluice/apps' }))
    .addOption(flag('--container <id>', "this container's log instead of STRAM's"))
    .addOption(flag('--follow', 'keep printing lines as they are written, until Ctrl-C'))
    .addOption(logFormatFlag('how lines are printed'))
    .action(async (opts: LogsFlags) => {
      const dir = new AppDir(resolve(opts.appDir ?? latestAppDir()));
      const path = opts.container === undefined ? dir.stramLog : dir.containerLog(opts.container);
      const render = lineFormatter(logFormatFor(opts.logFormat, process.stdout), process.stdout.isTTY ?? false);
      await printLog(path, (line) => process.stdout.write(render(line)), opts.follow ?? false);
    });
  withExamples(logs, ['logs', 'logs --container c2 --follow', 'logs --app-dir .sluice/apps/wordcount-1a2b3c4d --log-format json']);
}

/** Prints every complete line of `path`; with `follow`, then every line appended, until SIGINT/SIGTERM. */
async function printLog(path: string, print: (line: string) => void, follow: boolean): Promise<void> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new SluiceError('BAD_CONFIG', missing ? `no log at ${path}` : `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const reader = new LineReader(fd);
  let stopped = !follow;
  const stop = (): void => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (;;) {
      for (const line of reader.read()) print(line);
      if (stopped) break;
      await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    closeSync(fd);
  }
}

/** Complete lines appended to a file since the last read; a partial last line waits for its newline. */
class LineReader {
  private offset = 0;
  private partial = '';
  // A character split across two reads is decoded once both halves are in.
  private decoder = new StringDecoder('utf8');
  private readonly buf = Buffer.alloc(64 * 1024);

  constructor(private readonly fd: number) {}

  read(): string[] {
    // A log that shrank was replaced or truncated: start again from its beginning.
    if (fstatSync(this.fd).size < this.offset) [this.offset, this.partial, this.decoder] = [0, '', new StringDecoder('utf8')];
    let text = this.partial;
    for (;;) {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, this.offset);
      if (n === 0) break;
      this.offset += n;
      text += this.decoder.write(this.buf.subarray(0, n));
    }
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    return lines.filter((l) => l.length > 0);
  }
}
