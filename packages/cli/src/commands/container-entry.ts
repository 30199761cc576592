import { fileURLToPath } from 'node:url';

/**
 * The container program STRAM's local launcher starts. The CLI resolves it (it depends on
 * @sluice/container); STRAM is handed the path and never imports container code.
 */
export function containerEntry(): string {
  return fileURLToPath(import.meta.resolve('@sluice/container/main'));
}
