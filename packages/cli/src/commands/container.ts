import type { Command } from 'commander';

/**
 * `sluice container`: one streaming container, as STRAM's launchers start it. It takes nothing on
 * the command line: env SLUICE_CREDENTIALS names its 0600 credentials file (docs/guide.md "The app
 * directory"). This is how the Sluice image runs a container (docs/docker.md: one image runs
 * `launch`/`demo`, `container` and `buffer-server`); the local launcher runs the same entry directly.
 */
export function registerContainerCommand(program: Command): void {
  // Internal (STRAM starts it), so hidden from `sluice --help`.
  program
    .command('container', { hidden: true })
    .description('run one streaming container (started by STRAM; reads env SLUICE_CREDENTIALS, the path of its credentials file)')
    .action(async () => {
      // The container entry runs on import and owns the process from here (signals, exit codes).
      const entry = '@sluice/container/main';
      await import(entry);
    });
}
