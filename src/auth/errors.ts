import { IndelibleError } from '../core/errors.js';

/**
 * Codes of every error the auth module raises or hands to the HTTP edge. Tests assert these, never
 * messages. The edge maps them to status codes in its one table; the intended status is noted here.
 *
 * - `auth.invalid_role`: a role that is not one of `ROLES` (400).
 * - `auth.invalid_scope`: `logs` is not null/omitted nor an array of 1..100 distinct valid log names (400).
 * - `auth.invalid_description`: a description that is not a string of at most 200 characters without
 *   control characters or lone surrogates (400).
 * - `auth.key_not_found`: no such (active) key, e.g. `DELETE /v1/keys/{id}` when `revoke` is false (404).
 * - `auth.last_admin`: revoking the last active admin key for all logs over the API, which would leave
 *   no one able to manage keys until the server is stopped (409).
 * - `auth.unauthenticated`: no key, or one that is malformed, unknown or revoked (401).
 * - `auth.forbidden`: a known key without the right for this action or log (403).
 * - `auth.rate_limited`: the key's token bucket is empty; `details.retryAfterSeconds` (429 + Retry-After).
 * - `auth.invalid_rate_limit`: rate-limiter options or a cost that are not finite, non-negative numbers
 *   (a configuration or programming error, raised at start or by the caller, never by a client).
 * - `auth.store_corrupt`: a stored key row that does not parse (never silently treated as valid).
 */
export type AuthErrorCode =
  | 'auth.invalid_role'
  | 'auth.invalid_scope'
  | 'auth.invalid_description'
  | 'auth.key_not_found'
  | 'auth.last_admin'
  | 'auth.unauthenticated'
  | 'auth.forbidden'
  | 'auth.rate_limited'
  | 'auth.invalid_rate_limit'
  | 'auth.store_corrupt';

export class AuthError extends IndelibleError<AuthErrorCode> {}
