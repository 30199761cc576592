import type { Command } from 'commander';

/** `sluice launch | status | shutdown | demo`: placeholder until packages/stram lands (issue 5). */
export function registerRuntimeCommands(_program: Command): void {}
