import { SluiceError } from './errors.js';

/**
 * For this package's tests (not exported from index.ts): the SluiceError code `fn` throws, or
 * undefined if it returns; any other error is rethrown so a test never mistakes a crash for a refusal.
 */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SluiceError) return err.code;
    throw err;
  }
  return undefined;
}
