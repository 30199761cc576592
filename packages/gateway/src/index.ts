export * from './api.js';
export { Gateway, DEFAULT_KEY_ROLL_MS, DEFAULT_TOKEN_TTL_MS, type GatewayOptions } from './server.js';
export { Via, type Caller, type NegotiateAcceptor } from './auth.js';
export { ProxyUsers } from './access.js';
export type { KeytabLoginFigures } from './metrics.js';
export { REGISTRY_FILE } from './registry.js';
export { KEYS_FILE } from './session-keys.js';
export { SESSION_AUDIENCE, SESSION_ISSUER } from './web-session.js';
