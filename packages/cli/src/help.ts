import type { Command, HelpConfiguration, Option } from 'commander';
import { invocation } from './invocation.js';

/**
 * How `sluice ... --help` reads: every option says `(required)` when it is, lists its choices,
 * and shows its default once, as a user would type it (`(default: 30s)`, flags.ts).
 */
export const helpConfiguration: HelpConfiguration = {
  optionDescription(option: Option): string {
    const shown = option.defaultValueDescription ?? (typeof option.defaultValue === 'string' ? option.defaultValue : undefined);
    const extra = [option.mandatory ? 'required' : '', option.argChoices ? `one of ${option.argChoices.join(', ')}` : '', shown !== undefined ? `default: ${shown}` : ''].filter((x) => x !== '');
    return extra.length > 0 ? `${option.description} (${extra.join('; ')})` : option.description;
  },
};

/** Appends `Examples:` to a command's help, each line runnable as printed (invocation.ts). */
export function withExamples(cmd: Command, examples: readonly string[]): Command {
  return cmd.addHelpText('after', () => `\nExamples:\n${examples.map((e) => `  ${invocation()} ${e}`).join('\n')}\n`);
}
