import type { Case } from '../lib/suite.js';

/** demo/e2e: waits for `sluice demo [--insecure] [--json]`. */
export const demoE2e: Case = {
  name: 'demo/e2e',
  skip: () => '`sluice demo --json` has not landed yet',
  runs: () => 3,
  open: () => Promise.reject(new Error('not available')),
};
