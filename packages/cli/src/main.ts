import { Command, CommanderError } from 'commander';
import { SluiceError } from '@sluice/common';
import { registerSecretCommands } from './commands/secret.js';
import { registerBufferServerCommand } from './commands/buffer-server.js';
import { registerContainerCommand } from './commands/container.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerInitCommand } from './commands/init.js';
import { registerRuntimeCommands } from './commands/runtime.js';

/** The one `sluice` command. Each subcommand lives in commands/ and registers itself here. */
export function buildProgram(): Command {
  const program = new Command('sluice')
    .description('Sluice: a secure-by-default distributed streaming runtime')
    .showHelpAfterError()
    .exitOverride();
  registerSecretCommands(program);
  registerBufferServerCommand(program);
  registerContainerCommand(program);
  registerRuntimeCommands(program);
  registerDemoCommand(program);
  registerInitCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof SluiceError) {
      process.stderr.write(`sluice: ${err.message} [${err.code}]\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
