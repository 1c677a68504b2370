/**
 * Per-key token buckets: each key may spend `burst` tokens at once and earns `ratePerSecond` back.
 * The HTTP edge calls `take` once per request (cost 1, or e.g. the number of events in a batch) and
 * maps a refusal to `auth.rate_limited` → 429 with `Retry-After: retryAfterSeconds`.
 *
 * Memory is bounded without timers: a bucket that has refilled to `burst` is indistinguishable from
 * no bucket, so such buckets are dropped by a sweep that runs at most once per `SWEEP_INTERVAL_MS`
 * (from inside `take`). A hard cap `maxBuckets` bounds memory even when every bucket is active; past
 * it the oldest-created bucket is dropped, which can only make that key's limit more lenient.
 */
import { AuthError } from './errors.js';
import type { Clock } from './types.js';

export interface RateLimiterOptions {
  /** Tokens earned back per second; 0 turns limiting off (every `take` succeeds, nothing is stored). */
  ratePerSecond: number;
  /** Bucket capacity: the most tokens a key can spend at once after being idle. Must be > 0. */
  burst: number;
  /** Milliseconds; monotonic is best. Defaults to `performance.now()`. */
  clock?: Clock;
  /** Most buckets held at once (default 100,000). */
  maxBuckets?: number;
}

export type TakeResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

export interface RateLimiter {
  /**
   * Spends `cost` tokens (default 1, any finite number ≥ 0) of `keyId`'s bucket. A cost above `burst`
   * is allowed once the bucket is full and leaves it in debt, so a large batch is possible but paid
   * for; otherwise a request never waits, it is refused with the whole seconds (≥ 1) until it would pass.
   */
  take(keyId: string, cost?: number): TakeResult;
  /** Buckets currently held (for tests and metrics). */
  readonly size: number;
}

interface Bucket {
  tokens: number;
  /** Clock time of the last refill. */
  at: number;
}

const OK: TakeResult = Object.freeze({ ok: true });
const SWEEP_INTERVAL_MS = 60_000;
const DEFAULT_MAX_BUCKETS = 100_000;

function invalid(message: string, details: Record<string, unknown>): AuthError {
  return new AuthError('auth.invalid_rate_limit', message, { details });
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { ratePerSecond: rate, burst } = options;
  const maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) {
    throw invalid('ratePerSecond must be a finite number ≥ 0 (0 = unlimited)', { ratePerSecond: rate });
  }
  if (rate > 0 && (typeof burst !== 'number' || !Number.isFinite(burst) || burst <= 0)) {
    throw invalid('burst must be a finite number > 0 when ratePerSecond is set', { burst });
  }
  if (!Number.isSafeInteger(maxBuckets) || maxBuckets < 1) {
    throw invalid('maxBuckets must be a positive integer', { maxBuckets });
  }
  if (rate === 0) {
    return {
      take(_keyId, cost = 1) {
        checkCost(cost);
        return OK;
      },
      size: 0,
    };
  }

  const clock = options.clock ?? { now: () => performance.now() };
  const perMs = rate / 1000;
  const buckets = new Map<string, Bucket>();
  let lastSweep = clock.now();

  function refill(b: Bucket, now: number): void {
    // A clock that steps back earns nothing; the new time becomes the baseline.
    if (now > b.at) b.tokens = Math.min(burst, b.tokens + (now - b.at) * perMs);
    b.at = now;
  }

  function sweep(now: number): void {
    lastSweep = now;
    for (const [id, b] of buckets) {
      if (b.tokens + Math.max(0, now - b.at) * perMs >= burst) buckets.delete(id);
    }
  }

  function makeRoom(now: number): void {
    // Under a flood of new ids, sweep at most once a second and otherwise drop the oldest bucket.
    if (now - lastSweep >= 1000 || now < lastSweep) sweep(now);
    if (buckets.size < maxBuckets) return;
    const oldest = buckets.keys().next();
    if (!oldest.done) buckets.delete(oldest.value);
  }

  return {
    take(keyId, cost = 1) {
      checkCost(cost);
      if (cost === 0) return OK; // free even for a key in debt
      const now = clock.now();
      if (now - lastSweep >= SWEEP_INTERVAL_MS || now < lastSweep) sweep(now);
      let b = buckets.get(keyId);
      if (b === undefined) {
        if (buckets.size >= maxBuckets) makeRoom(now);
        b = { tokens: burst, at: now };
        buckets.set(keyId, b);
      } else {
        refill(b, now);
      }
      const need = Math.min(cost, burst);
      if (b.tokens >= need) {
        b.tokens -= cost;
        return OK;
      }
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((need - b.tokens) / rate)) };
    },
    get size() {
      return buckets.size;
    },
  };
}

function checkCost(cost: number): void {
  if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0) {
    throw invalid('cost must be a finite number ≥ 0', { cost });
  }
}
