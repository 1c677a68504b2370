/**
 * `indelible/client`: the TypeScript SDK — a typed client for every route, the AuditLogger for
 * applications (batching, retries, spool), verified reads and remote log verification.
 * docs/SDK.md is the guide.
 */
export { AuditLogger } from './audit-logger.js';
export { type AppendOptions, type ClientOptions, IndelibleClient } from './client.js';
export {
  ClientError,
  type ClientErrorCode,
  type ClientOwnErrorCode,
  isRetryable,
  type Problem,
} from './errors.js';
export type { FetchLike } from './http.js';
export type { AuditLoggerOptions, OverflowPolicy } from './logger-options.js';
export { type RemoteVerification, type VerifyRemoteOptions, verifyRemoteLog } from './remote-verifier.js';
export type { RetryOptions } from './retry.js';
export { fileTrustStore, loadTrustedState, saveTrustedState } from './state-file.js';
export {
  formatTrustedState,
  memoryTrustStore,
  parseTrustedState,
  type TrustedState,
  type TrustStore,
  type VerifiedCheckpoint,
  type WalkedTree,
} from './trust.js';
export type * from './types.js';
export {
  type VerifiedEntry,
  type VerifiedPage,
  VerifiedReader,
  type VerifiedReaderOptions,
} from './verified-reads.js';
