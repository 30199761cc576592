import { firstTime, summingApp } from './summing-app.js';

/** The summer throws once, in window 10 of its first process: a transient failure. */
export default summingApp('throws-once', (w, appDir) => {
  if (w === 10 && firstTime(appDir, 'thrown')) throw new RangeError('transient failure in window 10');
});
