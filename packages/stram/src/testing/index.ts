/** Test and benchmark helpers: `@sluice/stram/testing`. Not part of the runtime. */
export { FakeContainer, type FakeContainerOptions } from './fake-container.js';
export { NoopLauncher } from './noop-launcher.js';
export { writeTestApp, type TestAppKind } from './apps.js';
export { loginOutcome } from './store-login.js';
export { makeOperatorCa, type OperatorCa } from './operator-ca.js';
