import { CommanderError, type Command } from 'commander';
import { SluiceError, type ErrorCode } from '@sluice/common';

/** Every `sluice` command's exit codes (docs/guide.md "Exit codes"). */
export const ExitCode = {
  ok: 0,
  /** The command ran and its outcome is a failure (the demo's counts differ, STRAM outlived `--wait`), or a bug. */
  failed: 1,
  /** Refused: a usage error or a failure to start (bad value, missing file, port in use); nothing is left running. */
  refused: 2,
} as const;

/** Commander ends a parse with these after showing what was asked for. */
const SHOWN = new Set(['commander.helpDisplayed', 'commander.version']);
/** Errors of the command line, not of the work: they point to the command's help. */
const USAGE: readonly ErrorCode[] = ['BAD_USAGE', 'BAD_CONFIG'];

/**
 * Writes why a command failed: one line, `sluice launch: <what> [CODE]`, and for a usage error a
 * second, `see 'sluice launch --help'`. No stack trace for an expected failure; an unexpected
 * error is a bug, and its stack is what a report needs. Returns the exit code.
 */
export function report(err: unknown, command: Command, invocation: string, write: (text: string) => void): number {
  const name = commandNames(command);
  if (err instanceof CommanderError) {
    if (SHOWN.has(err.code)) return err.exitCode;
    // A command group run without a subcommand: commander has printed its help.
    if (err.code === 'commander.help') return ExitCode.refused;
    return usage(write, name, invocation, `${oneLine(err.message.replace(/^error: /, ''))} [BAD_USAGE]`);
  }
  if (err instanceof SluiceError) {
    const line = `${oneLine(err.message)} [${err.code}]`;
    if (USAGE.includes(err.code)) return usage(write, name, invocation, line);
    write(`${name.join(' ')}: ${line}\n`);
    return ExitCode.refused;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  write(`${name.join(' ')}: unexpected error, a bug in Sluice (please report it with this output): ${e.stack ?? e.message}\n`);
  return ExitCode.failed;
}

function usage(write: (text: string) => void, name: string[], invocation: string, line: string): number {
  write(`${name.join(' ')}: ${line}\nsee '${[invocation, ...name.slice(1), '--help'].join(' ')}'\n`);
  return ExitCode.refused;
}

function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, ' ');
}

/** `['sluice', 'token', 'buffer']` for the command `sluice token buffer`. */
function commandNames(command: Command): string[] {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names;
}

/** The subcommand an argument list names (as far as it names one), for errors raised before it runs. */
export function commandOf(program: Command, args: readonly string[]): Command {
  let command = program;
  for (const arg of args) {
    const sub = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) break;
    command = sub;
  }
  return command;
}
