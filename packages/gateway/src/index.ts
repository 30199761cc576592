export * from './api.js';
export { KerberosAcceptor, MAX_NEGOTIATE_HEADER, checkKeytab, gssServiceName } from './spnego.js';
export type { AcceptorOptions, Accepted } from './spnego.js';
export { gatewayService, negotiateHeader } from './negotiate-client.js';
export type { NegotiateOptions } from './negotiate-client.js';
export { KeytabLogin, parseKlist, reloginAt } from './keytab-login.js';
export type { KerberosLoginObserver, KeytabLoginOptions } from './keytab-login.js';
