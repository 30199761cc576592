import { writeSync } from 'node:fs';
import { prettyFactory } from 'pino-pretty';
import { asyncStderr, createLogger, openPrivateAppend, type Logger } from '@sluice/common';

/**
 * Where the CLI's logs go and how they read (docs/guide.md "Logs"). Every log line is JSON as
 * pino wrote it (already redacted by common's logger); this module only chooses, per reader,
 * between that line and a readable rendering of it. Files always get the JSON.
 */

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `--log-format` when given; otherwise readable on a terminal and JSON when piped. */
export function logFormatFor(chosen: LogFormat | undefined, stream: { isTTY?: boolean }): LogFormat {
  return chosen ?? (stream.isTTY ? 'pretty' : 'json');
}

/** Renders one line of a JSON log; a line that is not a JSON object (a crash's stack on stderr) is passed on as it is. */
export function lineFormatter(format: LogFormat, colorize: boolean): (line: string) => string {
  const ending = (line: string): string => (line.endsWith('\n') ? line : `${line}\n`);
  if (format === 'json') return ending;
  const pretty = prettyFactory({ colorize, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname' });
  return (line) => (isJsonObject(line) ? pretty(line) : ending(line));
}

function isJsonObject(line: string): boolean {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** Lines logged before the app directory exists are kept for its log file, up to this many. */
const MAX_EARLY_LINES = 1_000;

/**
 * STRAM's log destination: every line to the terminal (in `format`) and, from the moment STRAM
 * names its `<app dir>/stram.log` (StramOptions.logFile), to that file as JSON, lines logged
 * before then included. Writes are synchronous, so the last lines before an exit are not lost.
 */
export class StramLogSink {
  private fd: number | undefined;
  private early: string[] = [];
  private readonly render: (line: string) => string;

  constructor(
    format: LogFormat,
    private readonly terminal: { write(text: string): unknown; isTTY?: boolean } = process.stderr,
  ) {
    this.render = lineFormatter(format, terminal.isTTY ?? false);
  }

  write(line: string): void {
    this.terminal.write(this.render(line));
    if (this.fd !== undefined) writeSync(this.fd, line);
    else if (this.early.length < MAX_EARLY_LINES) this.early.push(line);
  }

  /** Starts copying to `path` (0600, appended to: a recovered app continues its log). */
  attach = (path: string): void => {
    this.fd = openPrivateAppend(path);
    for (const line of this.early) writeSync(this.fd, line);
    this.early = [];
  };
}

/** STRAM's logger for `sluice launch` and `sluice demo`: stderr in `format` (or as the terminal suggests), and its log file once named. */
export function stramLogging(level: string, format: LogFormat | undefined): { logger: Logger; logFile: (path: string) => void } {
  const sink = new StramLogSink(logFormatFor(format, process.stderr));
  return { logger: createLogger({ name: 'stram', level, destination: sink }), logFile: sink.attach };
}

/**
 * A standalone server's logger (`sluice buffer-server`): stderr only, in `format` (or as the
 * terminal suggests). JSON lines go out in bursts, every one written by the process's end
 * (common's asyncStderr): a server logging each connection pays per burst, not per line. A person
 * reading pretty lines on a terminal gets each as it is logged.
 */
export function terminalLogging(name: string, level: string | undefined, format: LogFormat | undefined): Logger {
  const chosen = logFormatFor(format, process.stderr);
  const levelOption = level !== undefined ? { level } : {};
  if (chosen === 'json') return createLogger({ name, ...levelOption, destination: asyncStderr() });
  const render = lineFormatter(chosen, process.stderr.isTTY ?? false);
  const destination = { write: (line: string): void => void process.stderr.write(render(line)) };
  return createLogger({ name, ...levelOption, destination });
}
