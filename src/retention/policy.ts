/**
 * Retention and archive policy: how long sealed data stays undeletable (`retention.min`) and how
 * long a verified, archived object also stays on local disk (`archive.after`). Durations are
 * milliseconds in code and `<n><unit>` strings (`90s`, `12h`, `30d`, `7y`) in configuration files.
 */
import { RetentionError } from './errors.js';

const DAY_MS = 86_400_000;

export interface RetentionPolicy {
  /**
   * `retention.min`: every sealed object (full tile, full entry bundle, signed checkpoint) is locked
   * in COMPLIANCE mode until `max(now, its newest entry's received_at) + min`. Nobody — not the
   * operator, not the bucket owner, not AWS support — can delete it earlier, and it cannot be
   * undone: choose it from your regulation (SOX 7 years, HIPAA 6, PCI DSS 1). Default 365 days.
   */
  minMs: number;
  /**
   * Longer `retention.min` values still binding the entries received before `before` (it was
   * lowered then: log-policy.ts `RetentionFloor`). An object holding such entries is locked for them.
   */
  minFloors?: ReadonlyArray<{ minMs: number; before: string }>;
}

export interface ArchivePolicy {
  /**
   * `archive.after`: a sealed object's local copy is evicted once its newest entry is this old,
   * and only after its archived copy was verified. Reads then come from the archive. Default
   * 30 days; `Infinity` keeps every local copy (archive only).
   */
  afterMs: number;
}

export interface ArchiverPolicy extends RetentionPolicy, ArchivePolicy {}

export const DEFAULT_RETENTION_MIN_MS = 365 * DAY_MS;
export const DEFAULT_ARCHIVE_AFTER_MS = 30 * DAY_MS;

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: DAY_MS,
  w: 7 * DAY_MS,
  // A year as 366 days: a retention stated in years must never end a day early in a leap year.
  y: 366 * DAY_MS,
};

/** `250ms`, `90s`, `15m`, `12h`, `30d`, `2w`, `7y` (a year counts as 366 days) or `never`. */
export function parseDuration(text: string, what: string): number {
  if (text === 'never') return Number.POSITIVE_INFINITY;
  if (text === '0') return 0; // zero is zero in every unit
  const m = /^([0-9]{1,12})(ms|s|m|h|d|w|y)$/.exec(text);
  if (m === null) {
    throw new RetentionError(
      'retention.invalid_policy',
      `${what} must look like 0, 90s, 12h, 30d or 7y, got ${JSON.stringify(text)}`,
      { details: { field: what } },
    );
  }
  return Number(m[1]) * UNITS[m[2]!]!;
}

function durationOf(value: number | string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value === 'string') return parseDuration(value, what);
  if (value === Number.POSITIVE_INFINITY || (Number.isSafeInteger(value) && value >= 0)) return value;
  throw new RetentionError('retention.invalid_policy', `${what} must be a non-negative integer of ms`, {
    details: { field: what },
  });
}

/**
 * Fills defaults and checks ranges. `retention.min` must be at least one second and finite (a
 * COMPLIANCE date must be in the future and representable); `archive.after` may be 0 (evict as
 * soon as verified, handy in tests) or Infinity (never evict).
 */
export function resolveArchiverPolicy(
  input: { retentionMin?: number | string; archiveAfter?: number | string } = {},
): ArchiverPolicy {
  const minMs = durationOf(input.retentionMin, DEFAULT_RETENTION_MIN_MS, 'retention.min');
  const afterMs = durationOf(input.archiveAfter, DEFAULT_ARCHIVE_AFTER_MS, 'archive.after');
  if (!Number.isFinite(minMs) || minMs < 1000 || minMs > 100 * 366 * DAY_MS) {
    throw new RetentionError('retention.invalid_policy', 'retention.min must be between 1s and 100y', {
      details: { field: 'retention.min' },
    });
  }
  return { minMs, afterMs };
}

/**
 * The Object Lock retain-until for an object whose newest entry was received at `newestEntryMs`
 * and oldest at `oldestEntryMs` (default: the newest, for an object of one entry or none).
 */
export function retainUntilFor(
  policy: RetentionPolicy,
  nowMs: number,
  newestEntryMs: number,
  oldestEntryMs = newestEntryMs,
): Date {
  // From now at the earliest: a lock date must lie in the future.
  return new Date(
    Math.max(nowMs + policy.minMs, requiredRetainUntilMs(policy, newestEntryMs, oldestEntryMs)),
  );
}

/**
 * The least retain-until an already archived object must carry: its newest entry plus retention.min,
 * and for every floor binding one of its entries (the oldest was received before `before`), the
 * latest entry it can bind (received before both `before` and the newest) plus that floor's min.
 * Never earlier than what any entry of the object is owed.
 */
export function requiredRetainUntilMs(
  policy: RetentionPolicy,
  newestEntryMs: number,
  oldestEntryMs = newestEntryMs,
): number {
  return Math.max(newestEntryMs + policy.minMs, floorUntil(policy, newestEntryMs, oldestEntryMs));
}

function floorUntil(policy: RetentionPolicy, newestEntryMs: number, oldestEntryMs: number): number {
  let until = 0;
  for (const f of policy.minFloors ?? []) {
    const before = Date.parse(f.before);
    if (oldestEntryMs < before) until = Math.max(until, Math.min(newestEntryMs, before) + f.minMs);
  }
  return until;
}
