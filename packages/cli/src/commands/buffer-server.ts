import type { Command } from 'commander';

/** `sluice buffer-server`: placeholder until packages/buffer-server lands (issue 4). */
export function registerBufferServerCommand(_program: Command): void {}
