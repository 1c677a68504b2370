/**
 * The retention policy of one log (issue 7): `retention.min`, optional `retention.max`,
 * `archive.after` and the legal hold. It is kept as JSON under the key `policy` of the log's own
 * state store (beside `config`) and every change is a compare-and-swap, so two admins editing at
 * once can never silently undo each other: the loser re-reads and re-applies its change.
 *
 * Wire form (API body, GET answer, stored JSON): durations are integer milliseconds; on input a
 * duration may also be `90s`/`30d`/`7y` (see `parseDuration`). `archive.after` may be `"never"`;
 * `retention.max` may be `null` (keep forever). `archive.target` is `{ bucket, prefix }` or `null`
 * (the server's configured archive target).
 *
 * What is enforced is listed in docs/RETENTION.md: this module stores and validates; pruning after
 * `retention.max` is retention/pruner.ts, archiving and eviction retention/archiver.ts.
 */

import { resolveS3Config } from '../storage/s3/s3-client.js';
import type { StateStore } from '../storage/types.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import { RetentionError } from './errors.js';
import { DEFAULT_ARCHIVE_AFTER_MS, DEFAULT_RETENTION_MIN_MS, parseDuration } from './policy.js';

export const POLICY_STATE_KEY = 'policy';

/**
 * One change of a log's policy — or one prune commit or deletion, which must not slip between a legal
 * hold being set and its taking effect — at a time in this process, per log name: the policy routes
 * change a policy under it, and the pruner's last policy check and its commit, like every hold check
 * and the deletion it allows (`deleteUnlessHeld`), run under it together.
 */
export const policyLock = new KeyedMutex();

/** Longest duration accepted for retention (a COMPLIANCE date must stay representable). */
export const MAX_RETENTION_MS = 100 * 366 * 86_400_000;
/** Longest legal-hold reason in UTF-16 units (it is copied into `_audit` records). */
export const MAX_REASON_LENGTH = 1000;
/** Compare-and-swap attempts before a busy state store is reported (`storage.cas_conflict`). */
const CAS_ATTEMPTS = 8;

export interface RetentionFloor {
  /** The retention.min (ms) that was in force… */
  minMs: number;
  /** …for every entry received before this RFC 3339 time (when it was lowered). */
  before: string;
}

export interface LegalHold {
  reason: string;
  /** RFC 3339 time the hold was set. */
  setAt: string;
  /** Id of the API key (or `cli:<user>`) that set it. */
  setBy: string;
}

/** Where a log's archived objects live: a bucket and key prefix on the server's S3 connection. */
export interface ArchiveTarget {
  bucket: string;
  /** `a/b` form (segments of [A-Za-z0-9._-]), or '' for the bucket root. */
  prefix: string;
}

export interface LogPolicy {
  /** No entry may be deleted before it is this old (ms, finite, 1 s .. 100 y). */
  retentionMinMs: number;
  /**
   * Earlier, longer `retention.min` values that still bind the entries received while they were in
   * force: lowering `retention.min` applies only to entries received after the change, so an admin
   * can never shorten the retention of what is already stored. A floor is dropped once every entry
   * it covers is older than its `minMs` (see `minRetentionFor`).
   */
  retentionMinFloors: RetentionFloor[];
  /** Entries are to be removed after this age (ms); `null` keeps them forever. ≥ `retentionMinMs`. */
  retentionMaxMs: number | null;
  /** How long sealed data stays on local disk after archiving (ms; `Infinity` = never evict). */
  archiveAfterMs: number;
  /**
   * The log's own archive target, or null for the server's configured one. It can change only while
   * nothing of the log was archived (enforced by the archived driver, `retention.archive_moved`).
   */
  archiveTarget: ArchiveTarget | null;
  /** While set, nothing of the log may be deleted or evicted. */
  legalHold: LegalHold | null;
  /** Last change, or null while the log runs on defaults. */
  updatedAt: string | null;
  updatedBy: string | null;
}

/** A partial change to the settings (the legal hold has its own functions). */
export interface LogPolicyUpdate {
  retention?: { min?: unknown; max?: unknown };
  archive?: { after?: unknown; target?: unknown };
}

/** What the server offers that a policy may refer to. */
export interface PolicyContext {
  /** An S3 archive is configured (`archive.target` is refused otherwise). */
  archive: boolean;
}

export function defaultLogPolicy(): LogPolicy {
  return {
    retentionMinMs: DEFAULT_RETENTION_MIN_MS,
    retentionMinFloors: [],
    retentionMaxMs: null,
    archiveAfterMs: DEFAULT_ARCHIVE_AFTER_MS,
    archiveTarget: null,
    legalHold: null,
    updatedAt: null,
    updatedBy: null,
  };
}

function invalid(field: string, message: string): RetentionError {
  return new RetentionError('retention.invalid_policy', `${field} ${message}`, { details: { field } });
}

/** A duration from the wire: `<n><unit>`, `never` (only where `allowNever`) or integer ms. */
function durationOf(value: unknown, field: string, allowNever: boolean): number {
  let ms: number;
  if (typeof value === 'string') ms = parseDuration(value, field);
  else if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) ms = value;
  else throw invalid(field, 'must be a duration like 30d or 7y, or an integer of milliseconds');
  if (ms === Number.POSITIVE_INFINITY && !allowNever) throw invalid(field, 'may not be never');
  return ms;
}

/**
 * An archive target from the wire: `{ bucket, prefix? }` with an S3 bucket name (3–63 lowercase
 * letters, digits, dots and hyphens) and a prefix in the form the server config accepts.
 */
export function archiveTargetOf(value: unknown): ArchiveTarget {
  const field = 'archive.target';
  if (!isObject(value)) throw invalid(field, 'must be an object { bucket, prefix } or null');
  onlyKeys(value, ['bucket', 'prefix'], field);
  const { bucket, prefix = '' } = value;
  if (typeof bucket !== 'string') throw invalid(`${field}.bucket`, 'must be a string');
  if (typeof prefix !== 'string') throw invalid(`${field}.prefix`, 'must be a string');
  try {
    const resolved = resolveS3Config({ bucket, prefix });
    return { bucket: resolved.bucket, prefix: resolved.prefix };
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    // resolveS3Config's sentence names the bucket or prefix it refused.
    throw invalid(field, `is not valid: ${err.message}`);
  }
}

/** Two targets (null = the server's) are the same place. */
export function sameArchiveTarget(a: ArchiveTarget | null, b: ArchiveTarget | null): boolean {
  return a === b || (a !== null && b !== null && a.bucket === b.bucket && a.prefix === b.prefix);
}

/** Checks the cross-field rules; returns the policy unchanged. */
export function validateLogPolicy(p: LogPolicy): LogPolicy {
  if (
    !Number.isSafeInteger(p.retentionMinMs) ||
    p.retentionMinMs < 1000 ||
    p.retentionMinMs > MAX_RETENTION_MS
  ) {
    throw invalid('retention.min', 'must be between 1s and 100y');
  }
  if (p.retentionMaxMs !== null) {
    if (!Number.isSafeInteger(p.retentionMaxMs) || p.retentionMaxMs > MAX_RETENTION_MS) {
      throw invalid('retention.max', 'must be at most 100y, or null');
    }
    if (p.retentionMaxMs < p.retentionMinMs) throw invalid('retention.max', 'must be at least retention.min');
  }
  const after = p.archiveAfterMs;
  if (after !== Number.POSITIVE_INFINITY && !(Number.isSafeInteger(after) && after >= 0)) {
    throw invalid('archive.after', 'must be a non-negative duration or never');
  }
  return p;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw invalid(where === '' ? k : `${where}.${k}`, 'is not a policy setting');
  }
}

/**
 * Applies an untrusted update (the PUT body) to `current`: absent fields keep their value. Throws
 * `retention.invalid_policy` naming the field for anything malformed or out of range, and for an
 * `archive.target` on a server without an archive (`context.archive`).
 */
export function applyPolicyUpdate(
  current: LogPolicy,
  update: unknown,
  by: string,
  at: string,
  context: PolicyContext = { archive: false },
): LogPolicy {
  if (!isObject(update)) throw invalid('policy', 'must be an object');
  onlyKeys(update, ['retention', 'archive'], '');
  const next: LogPolicy = { ...current, updatedAt: at, updatedBy: by };
  const { retention, archive } = update;
  if (retention !== undefined) {
    if (!isObject(retention)) throw invalid('retention', 'must be an object');
    onlyKeys(retention, ['min', 'max'], 'retention');
    if (retention.min !== undefined) {
      next.retentionMinMs = durationOf(retention.min, 'retention.min', false);
      next.retentionMinFloors = lowerMinFloors(current, next.retentionMinMs, at);
    }
    if (retention.max === null) next.retentionMaxMs = null;
    else if (retention.max !== undefined)
      next.retentionMaxMs = durationOf(retention.max, 'retention.max', false);
  }
  if (archive !== undefined) {
    if (!isObject(archive)) throw invalid('archive', 'must be an object');
    onlyKeys(archive, ['after', 'target'], 'archive');
    if (archive.after !== undefined) next.archiveAfterMs = durationOf(archive.after, 'archive.after', true);
    if (archive.target === null) next.archiveTarget = null;
    else if (archive.target !== undefined) {
      if (!context.archive) throw invalid('archive.target', 'needs an S3 archive configured on the server');
      next.archiveTarget = archiveTargetOf(archive.target);
    }
  }
  return validateLogPolicy(next);
}

/**
 * The floors after `retention.min` changes from `current` to `minMs` at `at`: lowering it keeps the
 * old value as a floor for the entries received until now; floors that no longer bind anything (every
 * entry before them is already older than their value) are dropped.
 */
function lowerMinFloors(current: LogPolicy, minMs: number, at: string): RetentionFloor[] {
  const atMs = Date.parse(at);
  const floors = current.retentionMinFloors.filter((f) => Date.parse(f.before) + f.minMs > atMs);
  if (minMs < current.retentionMinMs) floors.push({ minMs: current.retentionMinMs, before: at });
  return floors;
}

/**
 * The retention.min that binds an entry received at `receivedMs`: the current value, or a longer one
 * that was in force when (or after) the entry was received.
 */
export function minRetentionFor(policy: LogPolicy, receivedMs: number): number {
  let ms = policy.retentionMinMs;
  for (const f of policy.retentionMinFloors)
    if (receivedMs < Date.parse(f.before)) ms = Math.max(ms, f.minMs);
  return ms;
}

/** Sets the hold; a second hold over a live one is refused so its reason is never silently lost. */
export function withLegalHold(current: LogPolicy, reason: unknown, by: string, at: string): LogPolicy {
  // No lone surrogate: `_audit` (JCS) could not hold the reason as stored, so the two would differ.
  if (
    typeof reason !== 'string' ||
    reason.trim() === '' ||
    reason.length > MAX_REASON_LENGTH ||
    /\p{Surrogate}/u.test(reason)
  ) {
    throw invalid(
      'reason',
      `must be a non-empty string of at most ${MAX_REASON_LENGTH} characters, without lone surrogates`,
    );
  }
  if (current.legalHold !== null) {
    throw new RetentionError('retention.legal_hold_active', 'a legal hold is already set; release it first', {
      details: { field: 'legal_hold' },
    });
  }
  return { ...current, legalHold: { reason, setAt: at, setBy: by }, updatedAt: at, updatedBy: by };
}

export function withoutLegalHold(current: LogPolicy, by: string, at: string): LogPolicy {
  if (current.legalHold === null) {
    throw new RetentionError('retention.no_legal_hold', 'no legal hold is set', {
      details: { field: 'legal_hold' },
    });
  }
  return { ...current, legalHold: null, updatedAt: at, updatedBy: by };
}

/**
 * Runs `deletion` unless the log is under a legal hold now (then resolves `'held'`). The check
 * and the deletion hold the policy lock together, so a hold being set waits for a deletion already
 * checked: once the hold's change has been made (and answered), no deletion of the log is in flight
 * and every later one sees the hold.
 */
export function deleteUnlessHeld<T>(
  log: string,
  state: StateStore,
  deletion: () => Promise<T>,
): Promise<{ result: T } | 'held'> {
  return policyLock.run(log, async () => {
    if ((await readLogPolicy(state)).policy.legalHold !== null) return 'held' as const;
    return { result: await deletion() };
  });
}

/** Throws `retention.legal_hold_active` when a deletion must not happen (`what` names it). */
export function assertDeletable(policy: LogPolicy, what: string): void {
  if (policy.legalHold !== null) {
    throw new RetentionError('retention.legal_hold_active', `${what} is blocked by a legal hold`, {
      details: { field: 'legal_hold' },
    });
  }
}

// ---------------------------------------------------------------- wire form and storage

export interface LogPolicyWire {
  retention: { min: number; max: number | null; min_floors: Array<{ min: number; before: string }> };
  archive: { after: number | 'never'; target: ArchiveTarget | null };
  legal_hold: { reason: string; set_at: string; set_by: string } | null;
  updated_at: string | null;
  updated_by: string | null;
}

export function policyToWire(p: LogPolicy): LogPolicyWire {
  const h = p.legalHold;
  return {
    retention: {
      min: p.retentionMinMs,
      max: p.retentionMaxMs,
      min_floors: p.retentionMinFloors.map((f) => ({ min: f.minMs, before: f.before })),
    },
    archive: {
      after: Number.isFinite(p.archiveAfterMs) ? p.archiveAfterMs : 'never',
      target:
        p.archiveTarget === null ? null : { bucket: p.archiveTarget.bucket, prefix: p.archiveTarget.prefix },
    },
    legal_hold: h === null ? null : { reason: h.reason, set_at: h.setAt, set_by: h.setBy },
    updated_at: p.updatedAt,
    updated_by: p.updatedBy,
  };
}

/**
 * Parses stored bytes. The state store is the server's own, but a hand-edited or damaged value must
 * fail loudly (`retention.invalid_policy`, field `state/policy`): silently falling back to defaults
 * would drop a legal hold.
 */
export function parseStoredPolicy(bytes: Uint8Array): LogPolicy {
  const bad = () => invalid('state/policy', 'is not a valid stored policy');
  let w: unknown;
  try {
    w = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw bad();
  }
  if (!isObject(w) || w.v !== 1 || !isObject(w.retention) || !isObject(w.archive)) throw bad();
  const hold = w.legal_hold;
  if (
    hold !== null &&
    !(
      isObject(hold) &&
      typeof hold.reason === 'string' &&
      typeof hold.set_at === 'string' &&
      typeof hold.set_by === 'string'
    )
  ) {
    throw bad();
  }
  const strOrNull = (v: unknown) => (typeof v === 'string' ? v : v === null ? null : bad());
  // Absent in policies stored before floors existed.
  const floors = w.retention.min_floors ?? [];
  if (
    !Array.isArray(floors) ||
    !floors.every(
      (f) =>
        isObject(f) &&
        Number.isSafeInteger(f.min) &&
        typeof f.before === 'string' &&
        Number.isFinite(Date.parse(f.before)),
    )
  ) {
    throw bad();
  }
  try {
    // Absent in policies stored before per-log targets existed.
    const target = w.archive.target ?? null;
    return validateLogPolicy({
      retentionMinMs: w.retention.min as number,
      retentionMinFloors: floors.map((f) => ({ minMs: f.min as number, before: f.before as string })),
      retentionMaxMs: w.retention.max as number | null,
      archiveAfterMs: w.archive.after === 'never' ? Number.POSITIVE_INFINITY : (w.archive.after as number),
      archiveTarget: target === null ? null : archiveTargetOf(target),
      legalHold:
        hold === null
          ? null
          : { reason: hold.reason as string, setAt: hold.set_at as string, setBy: hold.set_by as string },
      updatedAt: strOrNull(w.updated_at) as string | null,
      updatedBy: strOrNull(w.updated_by) as string | null,
    });
  } catch (err) {
    throw err instanceof RetentionError ? bad() : err;
  }
}

function encodePolicy(p: LogPolicy): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, ...policyToWire(p) }));
}

/** The log's policy (defaults when none was ever stored) and the state version to quote. */
export async function readLogPolicy(
  state: StateStore,
): Promise<{ policy: LogPolicy; version: string | undefined }> {
  const stored = await state.read(POLICY_STATE_KEY);
  if (stored === undefined) return { policy: defaultLogPolicy(), version: undefined };
  return { policy: parseStoredPolicy(stored.value), version: stored.version };
}

/**
 * Read-modify-write under compare-and-swap. `change` must be pure (it may run more than once when
 * another writer got in between); its errors propagate untouched. Returns both sides for the audit.
 */
export async function updateLogPolicy(
  state: StateStore,
  change: (current: LogPolicy) => LogPolicy,
): Promise<{ before: LogPolicy; after: LogPolicy }> {
  for (let attempt = 1; ; attempt++) {
    const { policy: before, version } = await readLogPolicy(state);
    const after = validateLogPolicy(change(before));
    try {
      await state.compareAndSwap(POLICY_STATE_KEY, version, encodePolicy(after));
      return { before, after };
    } catch (err) {
      if ((err as { code?: string }).code !== 'storage.cas_conflict' || attempt >= CAS_ATTEMPTS) throw err;
    }
  }
}
