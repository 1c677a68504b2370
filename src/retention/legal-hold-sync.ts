/**
 * Converges the S3 Object Lock legal holds of one log's archive to the log's legal hold
 * (log-policy.ts): while the log is on hold, every version under its locked prefix
 * (`sealed/<log>/`) carries an S3 legal hold (PutObjectLegalHold ON); once the hold is released,
 * those S3 legal holds are removed (OFF). Mutable objects are never locked and never held.
 *
 * A change of the hold starts a *sweep*: a paged listing of every version under the locked prefix,
 * each set to the wanted status, with the listing position saved in the log's state store (key
 * `archive/legal-hold`) after each page. A crash resumes at the last saved page; setting a status
 * twice is harmless, so a redone page changes nothing. A hold changed in the middle of a sweep
 * starts a new sweep in the other direction on the next call, so the bucket always ends at the
 * latest policy. Objects uploaded while the log is on hold carry the hold from their upload on
 * (the archiver passes `legalHold` to `putSealed`), so a finished ON sweep stays true.
 *
 * No cursor means no sweep ever ran: the log never had a hold while archiving, and no object was
 * held by Indelible. A release sweep removes every S3 legal hold under the log's locked prefix,
 * including any set by hand.
 */
import type { Logger } from '../log/types.js';
import type { S3BlobStore } from '../storage/s3/s3-blob-store.js';
import type { VersionMarker } from '../storage/s3/s3-objects.js';
import type { StateStore } from '../storage/types.js';
import { forEachLimit } from '../util/for-each-limit.js';
import { RetentionError } from './errors.js';

export const LEGAL_HOLD_CURSOR_KEY = 'archive/legal-hold';

/** Progress of the last legal-hold sweep of a log's archive. */
export interface LegalHoldCursor {
  v: 1;
  /** The archive the sweep applies to; another target starts as never held. */
  bucket: string;
  prefix: string;
  /** The status every sealed object version has (sweep finished) or is being given (running). */
  hold: boolean;
  /** Where the listing continues (S3's markers; null = from the start); `null` itself = finished. */
  next: { keyMarker: string | null; versionIdMarker: string | null } | null;
  /** Object versions set in this sweep so far. */
  applied: number;
}

export interface LegalHoldReport {
  log: string;
  /** The status the archive is converged to. */
  hold: boolean;
  /** Object versions set by this call. */
  applied: number;
  /** True when a sweep ran (or resumed) in this call. */
  swept: boolean;
}

export interface LegalHoldSyncOptions {
  log: string;
  state: StateStore;
  archive: S3BlobStore;
  /** The log's legal hold as read from its policy for this run. */
  hold: boolean;
  logger: Logger;
  /** PutObjectLegalHold requests in flight at once. */
  concurrency: number;
  /** Versions per listed page, i.e. between cursor saves (default 1000, the S3 maximum). */
  pageSize?: number;
  /** Called after each object version set (tests, progress). */
  onObject?: (key: string) => void;
}

function bad(reason: string): RetentionError {
  return new RetentionError(
    'retention.bad_local_object',
    `state ${LEGAL_HOLD_CURSOR_KEY} is malformed: ${reason}`,
    { details: { object: `state:${LEGAL_HOLD_CURSOR_KEY}` } },
  );
}

const isStrOrNull = (v: unknown) => v === null || typeof v === 'string';

/** Parses a stored cursor; a damaged one fails loudly rather than skipping objects. */
export function parseLegalHoldCursor(bytes: Uint8Array): LegalHoldCursor {
  let c: Partial<LegalHoldCursor> | null;
  try {
    c = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Partial<LegalHoldCursor>;
  } catch {
    throw bad('not JSON');
  }
  if (typeof c !== 'object' || c === null || c.v !== 1) throw bad('unknown version');
  if (typeof c.bucket !== 'string' || typeof c.prefix !== 'string') throw bad('bucket or prefix');
  if (typeof c.hold !== 'boolean') throw bad('hold');
  if (!Number.isSafeInteger(c.applied) || (c.applied as number) < 0) throw bad('applied');
  const n = c.next;
  if (
    n !== null &&
    !(typeof n === 'object' && isStrOrNull(n?.keyMarker) && isStrOrNull(n?.versionIdMarker))
  ) {
    throw bad('next');
  }
  return {
    v: 1,
    bucket: c.bucket,
    prefix: c.prefix,
    hold: c.hold,
    next: n === null ? null : { keyMarker: n!.keyMarker, versionIdMarker: n!.versionIdMarker },
    applied: c.applied as number,
  };
}

/** Reads the stored cursor, or undefined (with its state version for compare-and-swap). */
async function loadCursor(state: StateStore): Promise<{ cursor?: LegalHoldCursor; version?: string }> {
  const stored = await state.read(LEGAL_HOLD_CURSOR_KEY);
  if (stored === undefined) return {};
  return { cursor: parseLegalHoldCursor(stored.value), version: stored.version };
}

const toMarker = (n: NonNullable<LegalHoldCursor['next']>): VersionMarker => ({
  keyMarker: n.keyMarker ?? undefined,
  versionIdMarker: n.versionIdMarker ?? undefined,
});

/**
 * Brings the archive's S3 legal holds to `hold`: starts a sweep when the stored status differs,
 * resumes an unfinished one, and returns at once when the archive is already converged. Failures
 * (S3, a busy state store) propagate; the saved position makes the next call continue.
 */
export async function syncLegalHold(o: LegalHoldSyncOptions): Promise<LegalHoldReport> {
  const { archive, state } = o;
  const target = { bucket: archive.objects.bucket, prefix: archive.prefix };
  let { cursor, version } = await loadCursor(state);
  if (cursor === undefined || cursor.bucket !== target.bucket || cursor.prefix !== target.prefix) {
    cursor = { v: 1, ...target, hold: false, next: null, applied: 0 };
  }
  const report: LegalHoldReport = { log: o.log, hold: o.hold, applied: 0, swept: false };
  const save = async (next: LegalHoldCursor) => {
    version = await state.compareAndSwap(
      LEGAL_HOLD_CURSOR_KEY,
      version,
      new TextEncoder().encode(JSON.stringify(next)),
    );
    cursor = next;
  };
  if (cursor.hold !== o.hold) {
    await save({ ...cursor, hold: o.hold, next: { keyMarker: null, versionIdMarker: null }, applied: 0 });
    o.logger.info({ log: o.log, hold: o.hold }, 'S3 legal hold sweep started');
  }
  while (cursor.next !== null) {
    report.swept = true;
    const page = await archive.objects.listVersionsPage(
      archive.layout.sealed,
      toMarker(cursor.next),
      o.pageSize,
    );
    const versions = page.versions.filter((v) => !v.deleteMarker);
    await forEachLimit(versions, o.concurrency, async (v) => {
      await archive.objects.setLegalHold(v.key, v.versionId, o.hold);
      o.onObject?.(v.key);
    });
    report.applied += versions.length;
    const next = page.next
      ? { keyMarker: page.next.keyMarker ?? null, versionIdMarker: page.next.versionIdMarker ?? null }
      : null;
    await save({ ...cursor, next, applied: cursor.applied + versions.length });
    o.logger.info(
      { log: o.log, hold: o.hold, applied: cursor.applied, finished: next === null },
      'S3 legal hold sweep progress',
    );
  }
  return report;
}
