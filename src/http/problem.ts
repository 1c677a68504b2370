/**
 * The one table that maps every error code to an HTTP status and title, and the RFC 9457
 * `application/problem+json` body built from it:
 *
 *   {"type":"urn:indelible:problem:<code>","title","status","detail","code","instance","request_id",
 *    …extras}
 *
 * `code` is the stable identifier clients branch on; `type` is derived from it. Extras come only from
 * a whitelist of error details (`field`, `fields`, `line`, `event`, `log`, …) so nothing secret or
 * internal ever reaches a client. 5xx problems carry a generic detail (the error itself is logged
 * with the request id), and no problem ever carries a stack trace.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthErrorCode } from '../auth/errors.js';
import { IndelibleError } from '../core/errors.js';
import type { EventErrorCode } from '../core/event.js';
import type { JcsErrorCode } from '../core/jcs.js';
import type { RecordErrorCode } from '../core/record.js';
import type { TileErrorCode } from '../core/tile.js';
import type { IndexErrorCode } from '../index/types.js';
import type { LogErrorCode } from '../log/errors.js';
import type { MonitorErrorCode } from '../monitor/errors.js';
import type { RetentionErrorCode } from '../retention/errors.js';
import type { StorageErrorCode } from '../storage/errors.js';

/** Codes raised by the HTTP edge itself. */
export type HttpErrorCode =
  /** Request validation failed (a path, query, header or body field; `field` names it). */
  | 'request.invalid'
  /** Well-formed values that cannot be answered together (`index ≥ tree_size`, `from > to`); `field` names one. */
  | 'request.unprocessable'
  /** The body is not JSON. */
  | 'request.malformed_json'
  /** An NDJSON line is not JSON; `line` is its 1-based number. */
  | 'request.malformed_ndjson'
  /** An integer in the body that a JSON number cannot hold exactly (beyond 2^53); send it as a string. `line` for NDJSON. */
  | 'request.imprecise_number'
  /** An object in the body has two members of the same name; `field` names the second (`line` for NDJSON). */
  | 'request.duplicate_name'
  /** The body is not valid UTF-8. */
  | 'request.invalid_utf8'
  /** The body exceeds `bodyLimit`. */
  | 'request.body_too_large'
  /** More events than `maxBatchEvents` in one request. */
  | 'request.batch_too_large'
  /** A content type other than `application/json` or `application/x-ndjson`. */
  | 'request.unsupported_media_type'
  /** No route matches the method and path. */
  | 'request.not_found'
  /** Another 4xx from the HTTP framework (bad URL, bad Content-Length, …). */
  | 'request.rejected'
  /** The Idempotency-Key was used before with a different request (body or log). */
  | 'idempotency.mismatch'
  /** The Idempotency-Key could not be recorded durably (the metadata database refused the write); nothing was appended. */
  | 'idempotency.unavailable'
  /** A well-formed tile or bundle path the log does not (yet) have. */
  | 'tile.not_found'
  /** The server is shutting down; retry against another instance or later. */
  | 'server.shutting_down'
  /** The server has not finished starting, or a log failed in storage. */
  | 'server.not_ready'
  /** A log failed in storage and takes no appends until the server restarts (`/healthz`). */
  | 'server.failed'
  /** An unexpected failure (details only in the server log). */
  | 'server.internal';

export class HttpError extends IndelibleError<HttpErrorCode> {}

interface ProblemKind {
  status: number;
  title: string;
}

type KnownCode =
  | HttpErrorCode
  | AuthErrorCode
  | LogErrorCode
  | EventErrorCode
  | JcsErrorCode
  | IndexErrorCode
  | TileErrorCode
  | RecordErrorCode
  | StorageErrorCode
  | MonitorErrorCode
  | RetentionErrorCode;

const p = (status: number, title: string): ProblemKind => ({ status, title });

/** THE table. Typed over every module's code union, so a new code fails the build until it is mapped. */
export const PROBLEMS: Readonly<Record<KnownCode, ProblemKind>> = {
  'request.invalid': p(400, 'Invalid request'),
  'request.unprocessable': p(422, 'Values cannot be answered together'),
  'request.malformed_json': p(400, 'Malformed JSON'),
  'request.malformed_ndjson': p(400, 'Malformed NDJSON'),
  'request.duplicate_name': p(400, 'Duplicate member name'),
  'request.invalid_utf8': p(400, 'Body is not valid UTF-8'),
  'request.imprecise_number': p(400, 'Integer cannot be stored exactly'),
  'request.body_too_large': p(413, 'Request body too large'),
  'request.batch_too_large': p(413, 'Too many events in one request'),
  'request.unsupported_media_type': p(415, 'Unsupported media type'),
  'request.not_found': p(404, 'Not found'),
  'request.rejected': p(400, 'Request rejected'),
  'idempotency.mismatch': p(409, 'Idempotency key reused with a different request'),
  'idempotency.unavailable': p(503, 'Idempotency key could not be recorded'),
  'tile.not_found': p(404, 'Tile not found'),
  'server.shutting_down': p(503, 'Shutting down'),
  'server.not_ready': p(503, 'Not ready'),
  'server.failed': p(503, 'Failed'),
  'server.internal': p(500, 'Internal server error'),

  'auth.invalid_role': p(400, 'Invalid role'),
  'auth.invalid_scope': p(400, 'Invalid key scope'),
  'auth.invalid_description': p(400, 'Invalid key description'),
  'auth.key_not_found': p(404, 'API key not found'),
  'auth.unauthenticated': p(401, 'Authentication required'),
  'auth.last_admin': p(409, 'Conflict'),
  'auth.forbidden': p(403, 'Forbidden'),
  'auth.rate_limited': p(429, 'Too many requests'),
  'auth.invalid_rate_limit': p(500, 'Internal server error'),
  'auth.store_corrupt': p(500, 'Internal server error'),

  'monitor.alert_not_found': p(404, 'Alert not found'),
  'monitor.self_ack': p(403, 'Forbidden'),
  'monitor.invalid_query': p(400, 'Invalid alert query'),
  'monitor.invalid_config': p(500, 'Internal server error'),
  'monitor.closed': p(503, 'Shutting down'),

  'log.not_found': p(404, 'Log not found'),
  'log.exists': p(409, 'Log already exists'),
  'log.invalid_name': p(400, 'Invalid log name'),
  'log.pushback': p(503, 'Log is busy'),
  'log.closed': p(503, 'Log is closed'),
  'log.failed': p(503, 'Log unavailable'),
  'log.storage_behind': p(500, 'Internal server error'),
  'log.inconsistent': p(500, 'Internal server error'),
  'log.out_of_range': p(404, 'Not in the log'),
  'log.id_conflict': p(409, 'Event id already used for a different event'),
  'log.pruned': p(410, 'Pruned by the retention policy'),

  'event.not_object': p(400, 'Invalid event'),
  'event.unknown_field': p(400, 'Unknown event field'),
  'event.missing_field': p(400, 'Missing event field'),
  'event.invalid_type': p(400, 'Invalid event field type'),
  'event.invalid_value': p(400, 'Invalid event field value'),
  'event.conflicting_fields': p(400, 'Conflicting event fields'),
  'event.too_many_targets': p(400, 'Too many targets'),
  'event.too_deep': p(400, 'Event nested too deeply'),
  'event.not_canonicalizable': p(400, 'Event cannot be canonicalized'),
  'event.too_large': p(413, 'Event record too large'),

  'jcs.non_finite_number': p(400, 'Number cannot be encoded'),
  'jcs.lone_surrogate': p(400, 'String has a lone surrogate'),
  'jcs.unsupported_type': p(400, 'Value cannot be encoded'),
  'jcs.cyclic': p(400, 'Value cannot be encoded'),
  'jcs.too_deep': p(400, 'Value nested too deeply'),
  'jcs.too_large': p(413, 'Value too large'),

  'index.invalid_log': p(404, 'Log not found'),
  'index.invalid_entry': p(500, 'Internal server error'),
  'index.not_contiguous': p(500, 'Internal server error'),
  'index.conflict': p(500, 'Internal server error'),
  'index.invalid_query': p(400, 'Invalid query'),
  'index.invalid_cursor': p(400, 'Invalid cursor'),
  'index.capacity': p(503, 'Index capacity reached'),
  'index.schema_too_new': p(500, 'Internal server error'),
  'index.closed': p(503, 'Index is closed'),
  'index.unavailable': p(503, 'Search index unavailable'),

  'tile.invalid_path': p(400, 'Invalid tile path'),
  'tile.invalid_ref': p(400, 'Invalid tile path'),
  'tile.invalid_size': p(500, 'Internal server error'),
  'tile.invalid_tile': p(500, 'Internal server error'),
  'tile.node_out_of_range': p(500, 'Internal server error'),
  'tile.invalid_bundle': p(500, 'Internal server error'),
  'tile.entry_too_large': p(413, 'Event record too large'),
  'tile.range_mismatch': p(500, 'Internal server error'),

  // Records are built by the server from validated events: only their size can be the client's doing.
  'record.too_large': p(413, 'Event record too large'),
  'record.invalid_field': p(500, 'Internal server error'),
  'record.missing_field': p(500, 'Internal server error'),
  'record.unknown_field': p(500, 'Internal server error'),
  'record.unsupported_version': p(500, 'Internal server error'),
  'record.id_mismatch': p(500, 'Internal server error'),
  'record.invalid_event': p(500, 'Internal server error'),
  'record.not_canonicalizable': p(500, 'Internal server error'),
  'record.invalid_utf8': p(500, 'Internal server error'),
  'record.invalid_json': p(500, 'Internal server error'),
  'record.not_canonical': p(500, 'Internal server error'),
  'record.invalid_timestamp': p(500, 'Internal server error'),

  'storage.invalid_key': p(500, 'Internal server error'),
  'storage.immutable_conflict': p(500, 'Internal server error'),
  'storage.cas_conflict': p(503, 'Storage busy'),
  'storage.out_of_range': p(500, 'Internal server error'),
  'storage.closed': p(503, 'Storage closed'),
  'storage.locked': p(503, 'Storage locked'),
  'storage.io': p(500, 'Internal server error'),
  'storage.corrupt': p(500, 'Internal server error'),
  'storage.object_lock_missing': p(500, 'Internal server error'),
  'storage.retained': p(409, 'Object under retention'),

  // Only the per-log policy routes raise these from a request; the rest come from the archiver.
  'retention.invalid_policy': p(400, 'Invalid retention policy'),
  'retention.legal_hold_active': p(409, 'Legal hold is set'),
  'retention.no_legal_hold': p(409, 'No legal hold is set'),
  'retention.archive_moved': p(409, 'Archive target cannot change'),
  'retention.bad_local_object': p(500, 'Internal server error'),
  'retention.invalid_prune_state': p(500, 'Internal server error'),
  'retention.bad_prune_statement': p(500, 'Internal server error'),
};

/** Statuses whose problems tell the client to come back: they carry `Retry-After`. */
const RETRYABLE = new Set([429, 503]);

/** Error details that may be shown to clients, and their names in the problem body. */
const SAFE_DETAILS: ReadonlyArray<[string, string]> = [
  ['field', 'field'],
  ['fields', 'fields'],
  ['line', 'line'],
  ['event', 'event'],
  ['log', 'log'],
  ['action', 'action'],
  ['limit', 'limit'],
];

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance: string;
  request_id: string;
  [extra: string]: unknown;
}

/** What the edge decided about an error: the body, and a Retry-After value when one applies. */
export interface ProblemResponse {
  problem: Problem;
  retryAfter?: number;
  /** True when the error is the server's fault and belongs in the error log. */
  internal: boolean;
}

/** Fastify's own error codes we map to stable problem codes. */
const FASTIFY_CODES: Readonly<Record<string, HttpErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'request.body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'request.unsupported_media_type',
  FST_ERR_CTP_INVALID_TYPE: 'request.unsupported_media_type',
  FST_ERR_CTP_EMPTY_TYPE: 'request.unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'request.malformed_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'request.malformed_json',
  FST_ERR_VALIDATION: 'request.invalid',
  FST_ERR_NOT_FOUND: 'request.not_found',
};

/**
 * Builds the problem for any thrown value. `defaultRetryAfter` (seconds) is used for 503s that
 * carry none; rate-limit errors carry their own (`details.retryAfterSeconds`).
 */
export function toProblem(err: unknown, request: FastifyRequest, defaultRetryAfter: number): ProblemResponse {
  let code: string;
  let detail: string;
  let details: Readonly<Record<string, unknown>> | undefined;
  const mapped = isFastifyError(err) ? FASTIFY_CODES[err.code] : undefined;
  const rejected = clientStatus(err);
  let status: number | undefined;
  if (err instanceof IndelibleError && Object.hasOwn(PROBLEMS, err.code)) {
    code = err.code;
    detail = err.message;
    details = err.details;
  } else if (mapped === 'request.invalid') {
    const v = fromValidation(err as FastifyLikeError);
    code = 'request.invalid';
    detail = v.detail;
    details = { field: v.field };
  } else if (mapped !== undefined) {
    code = mapped;
    detail =
      mapped === 'request.unsupported_media_type' ? unsupportedMediaDetail(request) : (err as Error).message;
  } else if (rejected !== undefined) {
    // Any other 4xx the framework or a plugin we do not own reports: Fastify's own codes, and
    // @fastify/static's http-errors (a path outside its root, an unsatisfiable Range, a failed
    // If-Match), which carry a status and no string code.
    code = 'request.rejected';
    status = rejected;
    detail = (err as Error).message;
  } else {
    code = 'server.internal';
    detail = '';
  }
  const kind = PROBLEMS[code as KnownCode] ?? PROBLEMS['server.internal'];
  status ??= kind.status;
  const internal = status >= 500 && status !== 503;
  if (status >= 500) detail = `${kind.title}; the server log has the details under request id ${request.id}`;
  const problem: Problem = {
    type: `urn:indelible:problem:${code}`,
    title: kind.title,
    status,
    detail,
    code,
    instance: pathOf(request.url),
    request_id: String(request.id),
  };
  if (details !== undefined && status < 500) {
    for (const [from, to] of SAFE_DETAILS) {
      const v = details[from];
      if (v !== undefined && (typeof v === 'string' || typeof v === 'number' || Array.isArray(v)))
        problem[to] = v;
    }
  }
  let retryAfter: number | undefined;
  if (RETRYABLE.has(status)) {
    const own = details?.retryAfterSeconds;
    retryAfter =
      typeof own === 'number' && Number.isFinite(own) && own >= 1 ? Math.ceil(own) : defaultRetryAfter;
    problem.retry_after = retryAfter;
  }
  return retryAfter === undefined ? { problem, internal } : { problem, retryAfter, internal };
}

/** Sends a problem response (the body is pre-serialized, so response schemas never strip it). */
export function sendProblem(reply: FastifyReply, res: ProblemResponse): FastifyReply {
  reply.code(res.problem.status).type('application/problem+json');
  if (res.retryAfter !== undefined) reply.header('retry-after', String(res.retryAfter));
  return reply.send(JSON.stringify(res.problem));
}

/**
 * The raw HTTP/1.1 response for a request Node's parser refused before any route saw it (the
 * server's `clientError`: a malformed request line, header or Content-Length, headers too large, a
 * request too slow): the same problem+json as every other error, `request.rejected` with the
 * parser's code in the detail, and `Connection: close`, since the stream cannot be trusted after
 * it. Undefined when nothing should be written (the peer reset or is gone).
 */
export function clientErrorResponse(err: { code?: string }): string | undefined {
  if (err.code === 'ECONNRESET') return undefined;
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const why =
    status === 431
      ? 'the request headers are too large'
      : status === 408
        ? 'the request did not arrive in time'
        : 'the request is not valid HTTP/1.1';
  return rawRejection(status, typeof err.code === 'string' ? `${why} (${err.code})` : why);
}

/**
 * The raw response to a CONNECT request (which Node hands to the server's `connect` event, not to
 * Fastify, and by default answers by cutting the connection): 405 `request.rejected`, connection
 * closed.
 */
export function connectRefusedResponse(): string {
  return rawRejection(405, 'the CONNECT method is not supported', 'Allow: GET, HEAD, POST, PUT, DELETE\r\n');
}

function rawRejection(status: number, detail: string, headers = ''): string {
  const code: HttpErrorCode = 'request.rejected';
  const body = JSON.stringify({
    type: `urn:indelible:problem:${code}`,
    title: PROBLEMS[code].title,
    status,
    detail,
    code,
  });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\n${headers}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/**
 * The 417 problem for an `Expect` the server does not meet (anything but `100-continue`, which Node
 * answers itself): Node's own answer has no body.
 */
export function expectationFailedBody(expect: string | undefined): string {
  const code: HttpErrorCode = 'request.rejected';
  return JSON.stringify({
    type: `urn:indelible:problem:${code}`,
    title: PROBLEMS[code].title,
    status: 417,
    detail: `Expect ${JSON.stringify(String(expect ?? '').slice(0, 40))} is not supported; only 100-continue is`,
    code,
  });
}

interface FastifyLikeError {
  code: string;
  message: string;
  statusCode?: number;
  validation?: Array<{
    instancePath?: string;
    keyword?: string;
    params?: Record<string, unknown>;
    message?: string;
  }>;
  validationContext?: string;
}

/** The 4xx status an error says the client caused (`statusCode`, else http-errors' `status`), if any. */
function clientStatus(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const { statusCode, status } = err as { statusCode?: unknown; status?: unknown };
  const s = typeof statusCode === 'number' ? statusCode : status;
  return typeof s === 'number' && Number.isInteger(s) && s >= 400 && s < 500 ? s : undefined;
}

function isFastifyError(err: unknown): err is FastifyLikeError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string';
}

/** Names the offending field of a Fastify/Ajv validation error (`name`, `index`, `events[2]`, …). */
function fromValidation(err: FastifyLikeError): { field: string; detail: string } {
  const first = err.validation?.[0];
  const where = err.validationContext ?? 'request';
  if (first === undefined) return { field: where, detail: err.message };
  const segments = (first.instancePath ?? '')
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = first.params ?? {};
  let message = first.message ?? 'is invalid';
  if (first.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    segments.push(params.additionalProperty);
    message = 'is not a known field';
  } else if (first.keyword === 'required' && typeof params.missingProperty === 'string') {
    segments.push(params.missingProperty);
    message = 'is required';
  }
  let field = '';
  for (const s of segments) field += /^[0-9]+$/.test(s) ? `[${s}]` : field === '' ? s : `.${s}`;
  if (field === '') field = where;
  return { field, detail: `${where} field ${field} ${message}` };
}

function unsupportedMediaDetail(request: FastifyRequest): string {
  const type = request.headers['content-type'];
  return `content type ${type === undefined ? '(none)' : JSON.stringify(type.slice(0, 100))} is not supported; send application/json or application/x-ndjson`;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
