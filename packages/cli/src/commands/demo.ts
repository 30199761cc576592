import type { Command } from 'commander';

/** `sluice demo`: placeholder until the word-count app lands. */
export function registerDemoCommand(_program: Command): void {}
