import { Option } from 'commander';
import { LOG_LEVELS, SluiceError, parseDuration, parseSize } from '@sluice/common';
import { LOG_FORMATS } from './log-output.js';

/**
 * How every `sluice` flag is declared and read. A value is parsed while the command line is
 * (before any command runs, so a bad one creates nothing) and a bad value is refused with
 * BAD_CONFIG naming the flag, which main.ts reports as a usage error. Help shows each default
 * once, in the form a user types (`(default: 30s)`).
 */

export type Parse<T> = (text: string, flag: string) => T;

export interface FlagSpec<T> {
  parse?: Parse<T>;
  /** A default the CLI applies, written as a user would type it (parsed with `parse`). */
  default?: string;
  /** A default applied elsewhere (e.g. STRAM's), shown in help only: the flag stays unset. */
  shownDefault?: string;
  /** Values listed in help. */
  choices?: readonly string[];
}

/** One option: `cmd.addOption(flag('--ttl <duration>', 'lifetime', { parse: duration, default: '10m' }))`. */
export function flag<T = string>(flags: string, description: string, spec: FlagSpec<T> = {}): Option {
  const option = new Option(flags, description);
  const name = option.long ?? flags;
  if (spec.choices) option.choices(spec.choices);
  // After choices(), which installs commander's own parser: ours names the flag in its error.
  const parse: Parse<unknown> | undefined = spec.parse ?? (spec.choices ? oneOf(spec.choices) : undefined);
  if (parse) option.argParser((text: string) => parse(text, name));
  if (spec.default !== undefined) option.default(parse ? parse(spec.default, name) : spec.default, spec.default);
  else if (spec.shownDefault !== undefined) option.defaultValueDescription = spec.shownDefault;
  return option;
}

/** A required option: help marks it, and leaving it out is a usage error. */
export function required<T = string>(flags: string, description: string, spec: FlagSpec<T> = {}): Option {
  return flag(flags, description, spec).makeOptionMandatory();
}

function refuse(flag: string, text: string, want: string): never {
  throw new SluiceError('BAD_CONFIG', `${flag} must be ${want}, not "${text}"`);
}

export const duration: Parse<number> = (text, flag) => parseDuration(text, flag);

/** A duration, or bare whole seconds (`--wait 30` = `--wait 30s`, as it was before durations). */
export const durationOrSeconds: Parse<number> = (text, flag) => (/^\d+$/.test(text.trim()) ? Number(text) * 1000 : parseDuration(text, flag));

export const size: Parse<number> = (text, flag) => parseSize(text, flag);

export const port: Parse<number> = (text, flag) => {
  const n = Number(text);
  return /^\d+$/.test(text.trim()) && n <= 65535 ? n : refuse(flag, text, 'a port number from 0 to 65535 (0: any free port)');
};

export const positiveInt: Parse<number> = (text, flag) => {
  const n = Number(text);
  return /^\d+$/.test(text.trim()) && Number.isSafeInteger(n) && n > 0 ? n : refuse(flag, text, 'a positive whole number');
};

export const wholeNumber: Parse<number> = (text, flag) => {
  const n = Number(text);
  return /^\d+$/.test(text.trim()) && Number.isSafeInteger(n) ? n : refuse(flag, text, 'a whole number');
};

/** Longest principal a flag takes (a Kerberos principal is far shorter; this bounds what reaches every token). */
const MAX_PRINCIPAL = 256;

/** A user or service name such as `alice@EXAMPLE.TEST`: 1 to 256 characters, none of them a control character. */
export const principal: Parse<string> = (text, flag) => {
  const want = `a principal such as alice@EXAMPLE.TEST (1 to ${MAX_PRINCIPAL} characters, no control characters)`;
  if (text.trim() === '') throw new SluiceError('BAD_CONFIG', `${flag} must be ${want}, not ${text === '' ? 'empty' : 'blank'}`);
  if (text.length > MAX_PRINCIPAL) throw new SluiceError('BAD_CONFIG', `${flag} must be ${want}, not ${text.length} characters`);
  const control = /\p{Cc}/u.exec(text);
  // Named by code point, not echoed: the character itself would break the one-line refusal.
  if (control) throw new SluiceError('BAD_CONFIG', `${flag} must be ${want}: character ${control.index + 1} is U+${control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);
  return text;
};

/** An app id as STRAM makes them (`newAppId`): lowercase letters, digits and dashes, up to 64. */
export const appId: Parse<string> = (text, flag) =>
  /^[a-z0-9][a-z0-9-]{0,63}$/.test(text) ? text : refuse(flag, text, 'an app id: lowercase letters, digits and dashes, 1 to 64 characters, starting with a letter or digit');

export function oneOf<T extends string>(values: readonly T[]): Parse<T> {
  return (text, flag) => (values.includes(text as T) ? (text as T) : refuse(flag, text, values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(', ')}`));
}

/** `--log-level`, checked here so a bad level is a usage error rather than a logger's crash. */
export function logLevelFlag(description: string, defaults: Pick<FlagSpec<string>, 'default' | 'shownDefault'>): Option {
  return flag('--log-level <level>', description, { choices: LOG_LEVELS, ...defaults });
}

/** `--log-format json|pretty`: how a log reads where it is printed (log-output.ts). */
export function logFormatFlag(description: string): Option {
  return flag('--log-format <format>', description, { choices: LOG_FORMATS, shownDefault: 'pretty on a terminal, json otherwise' });
}

/**
 * `--config key=value`, repeatable, one entry per flag: a variadic option would also swallow the
 * app path after it. Values are JSON when they parse (`n=5` is a number), text otherwise.
 */
export function configFlag(description: string): Option {
  return flag<Record<string, unknown>>('--config <key=value>', description).argParser((text: string, previous: Record<string, unknown> | undefined) => {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new SluiceError('BAD_CONFIG', `--config must be key=value, not "${text}"`);
    return { ...previous, [text.slice(0, eq)]: jsonOrText(text.slice(eq + 1)) };
  });
}

function jsonOrText(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
