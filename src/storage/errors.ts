import { IndelibleError } from '../core/errors.js';

/**
 * Codes of every error a storage driver raises. Tests assert these, never messages.
 *
 * - `storage.invalid_key`: a key, prefix or log name outside the rules in `types.ts`, or a key that
 *   would make one object the folder of another; raised before anything is touched.
 * - `storage.immutable_conflict`: a write or delete that would change a write-once object.
 * - `storage.cas_conflict`: `compareAndSwap` quoted a version that is not the current one.
 * - `storage.out_of_range`: a journal index or range outside `[start, end]`, or a non-integer index.
 * - `storage.closed`: the driver or journal was closed (or the journal failed an append and must be
 *   reopened, or another `openJournal` of the same log took it over).
 * - `storage.locked`: another live process (or driver) holds the data directory.
 * - `storage.io`: the operating system or backend failed; the original error is the `cause`.
 * - `storage.corrupt`: stored bytes fail their checksum or framing (never silently skipped).
 * - `storage.object_lock_missing`: an S3 bucket without Object Lock was offered as a WORM archive
 *   (refused at start: without the lock, "immutable" would be a promise the bucket cannot keep).
 * - `storage.retained`: a delete of a sealed object whose Object Lock retain-until (or legal hold)
 *   has not expired; refused before any request that would try it.
 */
export type StorageErrorCode =
  | 'storage.invalid_key'
  | 'storage.immutable_conflict'
  | 'storage.cas_conflict'
  | 'storage.out_of_range'
  | 'storage.closed'
  | 'storage.locked'
  | 'storage.io'
  | 'storage.corrupt'
  | 'storage.object_lock_missing'
  | 'storage.retained';

export class StorageError extends IndelibleError<StorageErrorCode> {}

/** Wraps a failure of the file system (or any backend call) as `storage.io`, keeping coded errors as they are. */
export function toStorageError(
  err: unknown,
  action: string,
  details?: Record<string, unknown>,
): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  return new StorageError('storage.io', `${action} failed: ${(err as Error)?.message ?? String(err)}`, {
    cause: err,
    details: { ...details, ...(typeof code === 'string' ? { errno: code } : {}) },
  });
}
