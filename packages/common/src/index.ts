export { CloseCode, ErrorCodes, SluiceError, closeReason, isSluiceError, type ErrorCode } from './errors.js';
export { ManualClock, isoTime, systemClock, type Clock } from './clock.js';
export { formatDuration, parseDuration, parseSize } from './duration.js';
export { DEFAULT_MAX_FRAME, decode, encode, toWire } from './codec.js';
export {
  IDENTIFIER_VERSION,
  TokenKind,
  computePassword,
  decodeIdentifier,
  encodeIdentifier,
  hmac,
  isBufferScope,
  isStramScope,
  safeEqual,
  tokenFromText,
  tokenToText,
  type BufferAccess,
  type BufferScope,
  type StramScope,
  type Token,
  type TokenIdentifier,
  type TokenScope,
} from './token.js';
export { generateSecret, readSecretFile, writeSecretFile } from './secret-file.js';
export { bufferTokenPassword, checkBufferTokenKind, checkBufferTokenLive, mintBufferToken, type MintBufferTokenOptions, type VerifiedBufferToken } from './buffer-token.js';
export * from './protocol.js';
export { SESSION_C2S_CONTEXT, SESSION_S2C_CONTEXT, Session, SessionSide, deriveSessionKeys, messageMac, openSealed, type SessionKeys } from './session.js';
export {
  AUTH_CONTEXT,
  ClientHandshake,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  SERVER_CONTEXT,
  ServerHandshake,
  clientProof,
  serverProof,
  type AcceptedAuth,
  type TokenAuthority,
} from './handshake.js';
export { DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_PRE_AUTH_MAX_PAYLOAD, HandshakeGate, type HandshakeGateOptions } from './handshake-gate.js';
export {
  ConnectionClosedError,
  acceptAuthenticated,
  closeWith,
  connectAuthenticated,
  toBuffer,
  type AcceptOptions,
  type AuthenticatedConnection,
  type ClientTls,
  type ConnectOptions,
} from './ws-auth.js';
export { LOG_LEVELS, asyncStderr, createLogger, type Logger } from './logger.js';
export * from './app/types.js';
export * from './umbilical.js';
export { credentialsSchema, openCredentials, readCredentials, sealCredentials, writeCredentials, type Credentials } from './credentials.js';
export { openPrivateAppend, readPrivateFile, writeFileAtomic, type AtomicWriteOptions, type PrivateFileRule } from './private-files.js';
export { StramSecretManager, type IssueRequest, type SecretManagerOptions } from './secret-manager.js';
export { GroupCommit, STATE_VERSION } from './state-store.js';
export {
  InputPort,
  Operator,
  type ConfiguredOperator,
  OutputPort,
  hooksOf,
  isInputPort,
  isOutputPort,
  portsOf,
  type InputPortOptions,
  type OperatorContext,
  type OperatorHooks,
  type OperatorPorts,
} from './app/operator.js';
export { appFromModule, defineApp } from './app/define.js';
export type { ConfigEntries, ConfigSchema } from './app/config.js';
/** zod, for the config schemas operators declare (the same copy Sluice parses them with). */
export { z } from 'zod';
export { instantiateOperator, validateApp } from './app/validate.js';
export { boundNamesAt, bufferServerIdOf, containerOfBufferServer, deployFor, physicalId, planApp, publicationsOf, storesOf, subscriberName, subscriptionsOf } from './app/plan.js';
export { defaultPartitionKey, hashString, matchesPartition, partitionFilter, partitionValue } from './app/partition.js';
export { indexDataFrame, scanStreamFrame, streamHeader, type DataFrameIndex, type StreamFrameHeader } from './stream-scan.js';
export { advertisedUrl } from './advertised-url.js';
export { createdMeanwhile } from './pg-errors.js';
export {
  CERT_RENEW_AT,
  CHANNEL_BINDING_LABEL,
  CHANNEL_BINDING_LENGTH,
  STRAM_SAN_NAME,
  TLS_MIN_VERSION,
  certificateExpiry,
  channelBinding,
  derToPem,
  expectSan,
  pemToDer,
  sanUri,
  tlsMaterial,
  uriNames,
  type TlsMaterial,
} from './tls.js';
export { makeKeyAndCsr, type KeyAndCsr } from './tls-key.js';
export { bindingOf, createWsHttpServer, peerNameRefusal, peerRefusal, type WsHttpServer, type WsHttpServerOptions } from './tls-server.js';
