import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerSecretCommands } from './commands/secret.js';
import { registerBufferServerCommand } from './commands/buffer-server.js';
import { registerContainerCommand } from './commands/container.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerGatewayCommand } from './commands/gateway.js';
import { registerGatewayClientCommands } from './commands/gateway-commands.js';
import { registerInitCommand } from './commands/init.js';
import { registerPolicyCommands } from './commands/policy-check.js';
import { registerShareCommand } from './commands/share.js';
import { registerLogsCommand } from './commands/logs.js';
import { registerRestartCommand } from './commands/restart-container.js';
import { registerRuntimeCommands } from './commands/runtime.js';
import { helpConfiguration, withExamples } from './help.js';
import { invocation } from './invocation.js';
import { ExitCode, commandOf, report } from './report.js';

/** The CLI package's version (`sluice --version`): dist/ and src/ both sit beside package.json. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The one `sluice` command. Each subcommand lives in commands/ and registers itself here. */
export function buildProgram(): Command {
  // Set before any subcommand is added: commander copies these settings into each one.
  const program = new Command('sluice')
    .description('Sluice: a secure-by-default distributed streaming runtime')
    .version(version(), '-V, --version', 'print the version')
    .exitOverride()
    .showHelpAfterError(false)
    // main() reports every error itself (report.ts): one line, not commander's text plus the help.
    .configureOutput({ outputError: () => undefined })
    .configureHelp(helpConfiguration);
  withExamples(program, ['demo --duration 10s', 'launch ./my-app.js --config seed=7', 'status', 'logs --follow', 'shutdown --wait 30s']);
  program.addHelpText(
    'after',
    [
      'Exit codes:',
      '  0  done',
      '  1  the command ran and its outcome is a failure (or a bug in Sluice: then with a stack trace)',
      '  2  refused: a usage error or a failure to start, said in one line; nothing is left running',
      '',
    ].join('\n'),
  );
  registerSecretCommands(program);
  registerBufferServerCommand(program);
  registerContainerCommand(program);
  registerRuntimeCommands(program);
  registerDemoCommand(program);
  registerLogsCommand(program);
  registerRestartCommand(program);
  registerInitCommand(program);
  registerGatewayCommand(program);
  registerGatewayClientCommands(program);
  registerShareCommand(program);
  registerPolicyCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `sluice --help | head`: a reader that went away is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(ExitCode.ok);
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err, commandOf(program, argv.slice(2)), invocation(), (text) => process.stderr.write(text));
  }
}
