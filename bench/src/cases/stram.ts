import type { Case } from '../lib/suite.js';

/** stram/heartbeats-1000: waits for packages/stram's umbilical server and fake-container client. */
export const stramHeartbeats: Case = {
  name: 'stram/heartbeats-1000',
  skip: () => 'packages/stram has not landed its STRAM server and fake-container load client yet',
  runs: () => 3,
  open: () => Promise.reject(new Error('not available')),
};
