import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SluiceError } from '@sluice/common';
import { formatPolicyError, parsePolicy } from '@sluice/gateway';
import { withExamples } from '../help.js';
import { ExitCode } from '../report.js';

/**
 * `sluice policy check FILE` (docs/security.md "The policy file"): validates a gateway policy
 * offline with the gateway's own parser. Valid: one line on stdout, exit 0. Not: one line per
 * fault on stderr, `FILE:LINE:COL: what`, exit 2, as a gateway reloading it would refuse it.
 */
export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description("a gateway's policy file: who may do what");
  const check = policy
    .command('check')
    .argument('<file>', 'the policy file (YAML or JSON)')
    .description('validate a policy file: exit 0 when the gateway would accept it, else one line per fault and exit 2')
    .action((file: string) => {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new SluiceError('BAD_POLICY', `${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
      }
      const parsed = parsePolicy(text);
      if (parsed.errors) {
        process.stderr.write(parsed.errors.map((e) => `${formatPolicyError(file, e)}\n`).join(''));
        process.exitCode = ExitCode.refused;
        return;
      }
      process.stdout.write(`${file}: ok (${parsed.policy.summary})\n`);
    });
  withExamples(check, ['policy check /etc/sluice/policy.yaml']);
}
