/**
 * One error type and one codes table for all of Sluice.
 * `closeCode` is the WebSocket close code a server uses when this error ends a connection
 * (docs/protocol.md "2. Close codes"); branch on `code`, never on the message text.
 */
export const CloseCode = {
  normal: 1000,
  policy: 1008,
  tooBig: 1009,
  malformed: 4400,
  unauthenticated: 4401,
  forbidden: 4403,
  handshakeTimeout: 4408,
  replaced: 4409,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

export const ErrorCodes = {
  // malformed input (4400)
  MALFORMED_FRAME: { closeCode: CloseCode.malformed, retriable: false },
  UNKNOWN_MESSAGE: { closeCode: CloseCode.malformed, retriable: false },
  INVALID_MESSAGE: { closeCode: CloseCode.malformed, retriable: false },
  UNEXPECTED_MESSAGE: { closeCode: CloseCode.malformed, retriable: false },
  WINDOW_OUT_OF_ORDER: { closeCode: CloseCode.malformed, retriable: false },
  MALFORMED_TOKEN: { closeCode: CloseCode.unauthenticated, retriable: false },
  // authentication (4401)
  TOKEN_UNKNOWN_KEY: { closeCode: CloseCode.unauthenticated, retriable: false },
  TOKEN_BAD_PASSWORD: { closeCode: CloseCode.unauthenticated, retriable: false },
  TOKEN_EXPIRED: { closeCode: CloseCode.unauthenticated, retriable: false },
  TOKEN_CANCELLED: { closeCode: CloseCode.unauthenticated, retriable: false },
  TOKEN_UNKNOWN: { closeCode: CloseCode.unauthenticated, retriable: false },
  TOKEN_WRONG_KIND: { closeCode: CloseCode.unauthenticated, retriable: false },
  TOKEN_REVOKED: { closeCode: CloseCode.unauthenticated, retriable: false },
  SECRET_RETIRED: { closeCode: CloseCode.unauthenticated, retriable: false },
  BAD_PROOF: { closeCode: CloseCode.unauthenticated, retriable: false },
  BAD_MAC: { closeCode: CloseCode.unauthenticated, retriable: false },
  BAD_SEQUENCE: { closeCode: CloseCode.unauthenticated, retriable: false },
  WRONG_SERVICE: { closeCode: CloseCode.unauthenticated, retriable: false },
  // under TLS (docs/protocol.md "Transport encryption"): a challenge of the wrong version for the
  // connection, and the peer certificates a TLS endpoint refuses before any WebSocket byte is read
  NOT_BOUND: { closeCode: CloseCode.unauthenticated, retriable: false },
  CLIENT_CERT_MISSING: { closeCode: CloseCode.unauthenticated, retriable: false },
  CERT_SELF_SIGNED: { closeCode: CloseCode.unauthenticated, retriable: false },
  CERT_UNTRUSTED: { closeCode: CloseCode.unauthenticated, retriable: false },
  CERT_EXPIRED: { closeCode: CloseCode.unauthenticated, retriable: false },
  CERT_WRONG_NAME: { closeCode: CloseCode.unauthenticated, retriable: false },
  // a certificate signing request STRAM will not sign (bad signature, not a P-256 key)
  BAD_CSR: { closeCode: CloseCode.malformed, retriable: false },
  // authorization (4403)
  RENEWER_MISMATCH: { closeCode: CloseCode.forbidden, retriable: false },
  NOT_ALLOWED: { closeCode: CloseCode.forbidden, retriable: false },
  OUT_OF_SCOPE: { closeCode: CloseCode.forbidden, retriable: false },
  WRONG_BUFFER_SERVER: { closeCode: CloseCode.forbidden, retriable: false },
  // a subscriber name bound to another container or owner (docs/protocol.md "Subscriber names")
  SUBSCRIBER_NAME_TAKEN: { closeCode: CloseCode.forbidden, retriable: false },
  TOO_MANY_SUBSCRIBER_NAMES: { closeCode: CloseCode.forbidden, retriable: false },
  // timing, and the bound on handshakes in flight (docs/protocol.md "Limits before welcome")
  HANDSHAKE_TIMEOUT: { closeCode: CloseCode.handshakeTimeout, retriable: true },
  TOO_MANY_HANDSHAKES: { closeCode: CloseCode.handshakeTimeout, retriable: true },
  // local problems (no connection involved; closeCode is what a server would use if it had to)
  TOKEN_PAST_MAX_DATE: { closeCode: CloseCode.unauthenticated, retriable: false },
  STATE_CORRUPT: { closeCode: CloseCode.normal, retriable: false },
  STATE_IO: { closeCode: CloseCode.normal, retriable: true },
  BAD_CONFIG: { closeCode: CloseCode.normal, retriable: false },
  // a gateway policy that fails validation: one fault a line, each naming its line in the file
  BAD_POLICY: { closeCode: CloseCode.normal, retriable: false },
  INVALID_DAG: { closeCode: CloseCode.normal, retriable: false },
  /** An app folder's package.json is missing, unreadable or names no entry that exists (sluice launch DIR). */
  BAD_APP_PACKAGE: { closeCode: CloseCode.normal, retriable: false },
  FILE_EXISTS: { closeCode: CloseCode.normal, retriable: false },
  CONNECTION_CLOSED: { closeCode: CloseCode.normal, retriable: true },
  // a server could not listen on its address (in use, not permitted)
  LISTEN_FAILED: { closeCode: CloseCode.normal, retriable: false },
  // the command line itself: an unknown flag or command, a missing argument (the CLI's exit code 2)
  BAD_USAGE: { closeCode: CloseCode.normal, retriable: false },
  // another live STRAM holds the app directory (docs/guide.md "One STRAM per app directory")
  APP_DIR_IN_USE: { closeCode: CloseCode.normal, retriable: false },
  // no valid Kerberos ticket to authenticate to a gateway with (kinit, or --keytab and --principal)
  NO_TICKET: { closeCode: CloseCode.unauthenticated, retriable: false },
  // a gateway answered with a refusal (its code and reason are in the message: FORBIDDEN, REPLAYED, ...)
  GATEWAY_REFUSED: { closeCode: CloseCode.forbidden, retriable: false },
  // the gateway could not get its own TGT from its keytab (the KDC down, a wrong key): retried
  KERBEROS_LOGIN_FAILED: { closeCode: CloseCode.normal, retriable: true },
  // a launcher's engine (the Docker Engine API) does not answer
  ENGINE_UNREACHABLE: { closeCode: CloseCode.normal, retriable: true },
  // the swarm launcher's engine is not in swarm mode, or is a worker rather than a manager
  NOT_SWARM_MANAGER: { closeCode: CloseCode.normal, retriable: false },
  // the restart strategy gave up: the app is FAILED (docs/guide.md "Restart strategies")
  APP_FAILED: { closeCode: CloseCode.normal, retriable: false },
  // the app in a directory has ended (shut down or FAILED): --recover refuses it, --resume exits 0 on it
  APP_ENDED: { closeCode: CloseCode.normal, retriable: false },
  // STRAM refused a container restart: no container of that id, or it is not running (launching, being replaced)
  NO_SUCH_CONTAINER: { closeCode: CloseCode.normal, retriable: false },
  CONTAINER_BUSY: { closeCode: CloseCode.normal, retriable: true },
  // a frame over the size limit; the WebSocket layer closes with the standard 1009
  FRAME_TOO_BIG: { closeCode: CloseCode.tooBig, retriable: false },
  // a message in too many fragments (or pieces) before welcome; the WebSocket layer closes with 1008
  TOO_MANY_FRAGMENTS: { closeCode: CloseCode.policy, retriable: false },
  // an external store (docs/stores.md) cannot be reached, or refused the app's credential
  STORE_UNAVAILABLE: { closeCode: CloseCode.normal, retriable: true },
  STORE_REVOKED: { closeCode: CloseCode.unauthenticated, retriable: false },
} as const satisfies Record<string, { closeCode: number; retriable: boolean }>;
export type ErrorCode = keyof typeof ErrorCodes;

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly closeCode: number;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SluiceError';
    this.code = code;
    this.closeCode = ErrorCodes[code].closeCode;
    this.retriable = ErrorCodes[code].retriable;
  }
}

export function isSluiceError(err: unknown, code?: ErrorCode): err is SluiceError {
  return err instanceof SluiceError && (code === undefined || err.code === code);
}

/**
 * WebSocket close reasons are limited to 123 bytes of UTF-8; keep the start of the message,
 * which is written to say what failed first.
 */
export function closeReason(err: SluiceError | string): string {
  const text = typeof err === 'string' ? err : `${err.code}: ${err.message}`;
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= 123) return text;
  let end = 120;
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return `${buf.subarray(0, end).toString('utf8')}...`;
}
