/**
 * The SDK's one coded error. `code` is the server's problem+json `code` when the server answered
 * with one (`log.not_found`, `auth.forbidden`, `log.pushback`, …: see DESIGN §4 and the OpenAPI
 * document), otherwise one of the SDK's own `client.*` codes below. Callers branch on `code`,
 * never on the message.
 */
import { IndelibleError } from '../core/errors.js';

export type ClientOwnErrorCode =
  /** The request never got an HTTP answer (connection refused or reset, DNS, TLS). Retryable. */
  | 'client.network'
  /** No answer within `timeoutMs`. Retryable (an append may still have happened: use ids). */
  | 'client.timeout'
  /** The caller aborted the request through its AbortSignal. */
  | 'client.aborted'
  /** An error status without a problem+json body (a proxy's 502, say); `status` says which. */
  | 'client.http'
  /** A 2xx answer whose body is not what the API promises (malformed JSON, wrong shape). */
  | 'client.bad_response'
  /** An export ended without its final checkpoint line (truncated). */
  | 'client.incomplete_export'
  /** Options or arguments the SDK cannot use (named in the message). */
  | 'client.invalid_argument'
  /** The AuditLogger was closed; nothing more is accepted. */
  | 'client.closed'
  /** The AuditLogger queue is full and its overflow policy is `throw`. */
  | 'client.queue_full'
  /** Events were not delivered: rejected by the server or retries exhausted (`details.events`). */
  | 'client.delivery_failed'
  /** Another live process holds the spool directory. */
  | 'client.spool_locked'
  /** The spool directory holds data the SDK cannot read, or cannot be written (`cause`: ENOSPC, EIO…). */
  | 'client.spool_corrupt'
  /** A checkpoint's signature, origin or syntax does not verify under the pinned key. */
  | 'client.bad_checkpoint'
  /**
   * Proof that the log's key signed two trees that are not prefixes of one another: equal sizes
   * with different roots, or a consistency proof that rebuilds the larger tree's signed root but
   * another root for the smaller size. `details` carry both checkpoint notes and the proof.
   */
  | 'client.fork_detected'
  /**
   * The server did not prove that its checkpoint and the trusted one are one history (the newer
   * extends the older): no proof, whatever the HTTP status, or one that fails or has the wrong
   * length. Not evidence of a fork (a proxy or a broken server can cause it), but the trust does
   * not move. `details` carry both checkpoint notes (and the proof, when it had the right length).
   */
  | 'client.unproven_consistency'
  /**
   * Data served by the log disagrees with a checkpoint verified under the pinned key: a record,
   * the record chain, an entry bundle, a tile or an inclusion proof; or a verified search result
   * that does not match its query (`details.filter`). `details` say where.
   */
  | 'client.inconsistent'
  /** An entry is durable but not yet in a signed checkpoint after waiting. Retryable. */
  | 'client.not_integrated'
  /** A trusted state (file or object) that is malformed or for another log or key. */
  | 'client.bad_state';

/** Any problem `code` the server may send (an open set), or one of the SDK's own codes. */
export type ClientErrorCode = ClientOwnErrorCode | (string & {});

/** An RFC 9457 problem as the server sends it (`code` is stable; extras such as `field`, `event`). */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code: string;
  instance?: string;
  request_id?: string;
  field?: string;
  event?: number;
  line?: number;
  retry_after?: number;
  [extra: string]: unknown;
}

export interface ClientErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  /** HTTP status when the server answered. */
  status?: number;
  /** The parsed problem+json body, when there was one. */
  problem?: Problem;
  /** The server's Retry-After, in milliseconds, when it sent one (429, 503). */
  retryAfterMs?: number;
}

export class ClientError extends IndelibleError<ClientErrorCode> {
  readonly status: number | undefined;
  readonly problem: Problem | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ClientErrorCode, message: string, options: ClientErrorOptions = {}) {
    super(code, message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      ...(options.details === undefined ? {} : { details: options.details }),
    });
    this.status = options.status;
    this.problem = options.problem;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * A code a server sent (problem+json `code`, an export's error line), when the SDK may adopt it:
 * lowercase dotted words, and never in the SDK's own `client.` namespace, so a server cannot pass
 * its answer off as a verdict of the client (`client.fork_detected`, say). Undefined otherwise.
 */
export function serverCode(code: unknown): string | undefined {
  if (typeof code !== 'string' || code.length > 100 || !/^[a-z0-9_.]+$/.test(code)) return undefined;
  return code.startsWith('client.') ? undefined : code;
}

/**
 * True when retrying the same request may succeed: no answer at all (network, timeout), 429, or a
 * 5xx (503 is the server's push-back; 500/502/504 are usually a restarting server or a proxy).
 * Other 4xx answers will not change on a retry.
 */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof ClientError)) return false;
  if (err.code === 'client.network' || err.code === 'client.timeout') return true;
  const s = err.status;
  // 408: the server (or a proxy) gave up waiting for the request, so it was not processed.
  return s !== undefined && (s === 408 || s === 429 || s >= 500);
}
