/**
 * Retry timing for the AuditLogger: capped exponential backoff with "equal jitter" (half fixed,
 * half random, so clients that failed together do not retry together yet never retry at once), and
 * the server's Retry-After honoured as a floor (up to an hour) — when the server says when to come back (429 rate
 * limit, 503 push-back or shutdown), coming back earlier only earns another refusal.
 */
import { ClientError } from './errors.js';

export interface RetryOptions {
  /** Attempts per batch, the first included; `Infinity` retries until the server answers. Default 10. */
  maxAttempts?: number;
  /** Backoff before the first retry, in ms. Default 200. */
  initialDelayMs?: number;
  /** Cap of the exponential backoff, in ms (a longer Retry-After is still honoured, up to an hour). Default 30,000. */
  maxDelayMs?: number;
}

export type ResolvedRetry = Required<RetryOptions>;

export function resolveRetry(options: RetryOptions = {}): ResolvedRetry {
  const r = { maxAttempts: 10, initialDelayMs: 200, maxDelayMs: 30_000, ...options };
  if (
    !(
      r.maxAttempts === Number.POSITIVE_INFINITY ||
      (Number.isSafeInteger(r.maxAttempts) && r.maxAttempts >= 1)
    )
  ) {
    throw new ClientError('client.invalid_argument', 'retry.maxAttempts must be an integer ≥ 1 or Infinity');
  }
  for (const k of ['initialDelayMs', 'maxDelayMs'] as const) {
    if (!Number.isSafeInteger(r[k]) || r[k] < 0)
      throw new ClientError('client.invalid_argument', `retry.${k} must be a non-negative integer`);
  }
  if (r.maxDelayMs < r.initialDelayMs) {
    throw new ClientError(
      'client.invalid_argument',
      'retry.maxDelayMs must be at least retry.initialDelayMs',
    );
  }
  return r;
}

/**
 * The longest Retry-After honoured: one hour (or `maxDelayMs` when that is longer). A server (or a
 * proxy) may send any number; a larger one is cut to this rather than stalling a batch for days.
 */
export const RETRY_AFTER_CEILING_MS = 3_600_000;

/** setTimeout's largest delay: Node and browsers fire a longer one after 1 ms instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The wait before retry number `attempt` (1 = the first retry) after `err`: backoff in
 * [d/2, d) with d = min(maxDelayMs, initialDelayMs · 2^(attempt−1)), and never less than the
 * server's Retry-After, itself capped at max(RETRY_AFTER_CEILING_MS, maxDelayMs). The result never
 * exceeds 2^31−1 ms, the most a timer can wait (a longer one would fire at once: a hot loop).
 */
export function retryDelay(
  attempt: number,
  err: unknown,
  retry: ResolvedRetry,
  random: () => number = Math.random,
): number {
  const d = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** Math.min(attempt - 1, 52));
  const backoff = d / 2 + random() * (d / 2);
  const raw = err instanceof ClientError ? err.retryAfterMs : undefined;
  const after =
    raw === undefined ? undefined : Math.min(raw, Math.max(RETRY_AFTER_CEILING_MS, retry.maxDelayMs));
  return Math.min(MAX_TIMER_MS, Math.round(after === undefined ? backoff : Math.max(after, backoff)));
}
