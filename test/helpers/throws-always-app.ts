import { summingApp } from './summing-app.js';

/** The summer throws on the first number of window 3, in every process of it: an app that cannot run. */
export default summingApp('throws-always', (w) => {
  if (w >= 3) throw new TypeError(`cannot add to the sum of window ${w}`);
});
