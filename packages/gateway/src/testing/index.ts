/** Test and benchmark helpers: `@sluice/gateway/testing`. Not part of the runtime. */
export { TestRealm } from './test-realm.js';
export type { RealmPrincipal, TestRealmOptions } from './test-realm.js';
export { GATEWAY_LISTENING, GATEWAY_PRINCIPAL, gatewayCommand, gatewayUrl, writeLaunchPolicy, type GatewayCommand } from './gateway-process.js';
