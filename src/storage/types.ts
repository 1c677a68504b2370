/**
 * Storage contracts. The log engine (src/log) talks to storage only through these three narrow
 * interfaces; every driver (local files, in-memory with fault injection, later S3 and PostgreSQL)
 * implements them and runs the shared conformance suite in `conformance.ts`.
 *
 * Keys are `/`-separated relative paths made of `[A-Za-z0-9._-]` segments (no empty, `.` or `..`
 * segment, no leading `/`), at most 512 characters with segments of at most 200; a driver MUST
 * reject any other key with StorageError `storage.invalid_key` before touching anything
 * (`src/storage/keys.ts` implements these rules for every driver). Blob keys additionally MUST NOT
 * start with the segment `state` or `journal` (the local driver keeps those beside the blobs), and,
 * as on a file system, one key cannot be both an object and the folder of another (`a` and `a/b`):
 * the second put fails with `storage.invalid_key`.
 *
 * Every method rejects with `storage.closed` once the driver (or, for a journal, the journal) was
 * closed. Errors are `StorageError`s (`src/storage/errors.ts`); the shared suite in
 * `src/storage/conformance.ts` checks all of this for each driver.
 */

/** Behaviour of one `put`, as data rather than more methods (Sunlight's UploadOptions). */
export interface PutOptions {
  /**
   * The object is write-once (a full tile, a full entry bundle, a checkpoint kept as history).
   * If an object already exists under the key: identical bytes MUST be accepted as a no-op (so a
   * retried upload after a crash is safe); different bytes MUST be refused with
   * `storage.immutable_conflict` and MUST leave the stored object unchanged. This holds whether the
   * existing object is immutable or not; identical bytes over a mutable object make it immutable.
   * Conversely a mutable put can never change an immutable object (`storage.immutable_conflict`;
   * identical bytes are a no-op and it stays immutable).
   * Drivers SHOULD make immutable objects unwritable at the storage layer (mode 0444, immutable
   * flag, Object Lock).
   */
  immutable?: boolean;
}

/** Object storage for tiles, entry bundles and other blobs. */
export interface BlobStore {
  /**
   * Stores `data` under `key`. When the promise resolves the object MUST be durable (survive a
   * crash or power loss) and a later `get` MUST return exactly `data`. A mutable put atomically
   * replaces any previous object: a reader (or a crash) sees the old or the new bytes, never a mix.
   * On rejection the object MAY or MAY NOT have been stored (callers retry; see `immutable`).
   */
  put(key: string, data: Uint8Array, options?: PutOptions): Promise<void>;
  /** The stored bytes, or `undefined` when no object exists under `key` (never throws for "not found"). */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * The keys that start with `prefix` (a plain string prefix: `tile/0/x0` matches `tile/0/x001/234`),
   * in ascending byte order. A prefix that no valid key could start with (`/x`, `../`, `a//`, a
   * character outside the key alphabet) is refused with `storage.invalid_key`.
   */
  list(prefix: string): Promise<string[]>;
  /**
   * Removes a mutable object; deleting a missing key is a no-op. Deleting an immutable object MUST
   * fail with `storage.immutable_conflict` unless `{ retention: true }` is passed by the retention
   * machinery (which alone decides when sealed data may go).
   */
  delete(key: string, options?: { retention?: boolean }): Promise<void>;
}

/** A value with the opaque version token that a compare-and-swap must quote. */
export interface Versioned {
  value: Uint8Array;
  version: string;
}

/**
 * Small, strongly consistent state (the last signed checkpoint, integration progress) with
 * compare-and-swap, so two writers can never both believe they advanced the log.
 */
export interface StateStore {
  /** The current value and version, or `undefined` if never written. */
  read(key: string): Promise<Versioned | undefined>;
  /**
   * Writes `value` only if the current version equals `expected` (`undefined` = must not exist yet)
   * and resolves with the new version once durable. Otherwise MUST reject with
   * `storage.cas_conflict` and change nothing. Of concurrent swaps quoting the same version exactly
   * one wins. Versions of a key never repeat, so a stale token can never match again.
   */
  compareAndSwap(key: string, expected: string | undefined, value: Uint8Array): Promise<string>;
}

/**
 * The sequencing journal of one log: an append-only sequence of records, indexed from a base.
 * Sequencing = `append` resolving; that is the moment a write may be acknowledged. Integration
 * later copies records into entry bundles, after which the journal prefix may be dropped.
 */
export interface Journal {
  /** Index of the first record still held (records before it were dropped by `truncateBefore`). */
  readonly start: number;
  /** Index one past the last durable record. */
  readonly end: number;
  /**
   * Bytes of a torn final write that opening cut (a crash in the middle of an append), 0 or absent
   * when there was none: what recovery reports, so the audit trail shows it.
   */
  readonly discardedBytes?: number;
  /**
   * Appends `records` at indices `end .. end+records.length-1`. Resolves only when all of them are
   * durable; MUST NOT be called again before the previous call settled. On rejection the journal is
   * unusable until reopened (its calls fail with `storage.closed`; a partial write may or may not
   * survive; `open` keeps only whole records).
   */
  append(records: readonly Uint8Array[]): Promise<void>;
  /**
   * Records `[from, to)`; `start <= from <= to <= end` (safe integers) else `storage.out_of_range`.
   * A record whose stored bytes fail their checksum is never returned: `storage.corrupt`.
   */
  read(from: number, to: number): Promise<Uint8Array[]>;
  /**
   * Makes `[start, index)` droppable (they are integrated and durable elsewhere). A driver MAY keep
   * them longer; `start` reports what it actually keeps. Never drops records at or after `index`.
   * `index` below `start` is a no-op; above `end` (or not a safe integer) is `storage.out_of_range`.
   */
  truncateBefore(index: number): Promise<void>;
  /** Releases handles; further calls fail. */
  close(): Promise<void>;
}

/** One log's storage, as handed to the engine by a driver. */
export interface LogStorage {
  blobs: BlobStore;
  state: StateStore;
  /**
   * Opens (or creates) the journal. `base` is the index of the first record when the journal is
   * created; an existing journal opens as stored — `start` and `end` exactly as left, whatever
   * `base` says (the engine compares them with its tree size). On reopen, a torn tail (a record
   * only partly written before a crash) is discarded; damage before the tail is `storage.corrupt`.
   * A log has at most one open journal handle: opening again closes the earlier handle (its calls
   * then fail with `storage.closed`).
   */
  openJournal(base: number): Promise<Journal>;
  /**
   * The journal as stored, read-only, for offline verifiers: never creates, repairs or rewrites it.
   * Meant for storage no engine is writing to (the CLI holds the data directory's lock): a journal
   * dropping old segments at the same time can make a scan fail with a missing segment. Yields each segment's whole records in index order. A torn
   * final append (never acknowledged) is left out and counted in `tornBytes`, as `openJournal` would
   * cut it; damage anywhere else rejects with `storage.corrupt`. Yields nothing when the log has no
   * journal. Optional: without it, offline verification cannot see acknowledged entries that are
   * not integrated yet.
   */
  scanJournal?(): AsyncIterable<JournalSegmentScan>;
}

/** One journal segment as `LogStorage.scanJournal` read it. */
export interface JournalSegmentScan {
  /** Where it is (a file name for the local driver), for messages. */
  name: string;
  /** The index of its first record. */
  base: number;
  records: Uint8Array[];
  /** Bytes after its last whole append that `openJournal` would cut (only the last segment has any). */
  tornBytes: number;
}

/** A storage driver hosts many logs under one root. */
export interface StorageDriver {
  /**
   * Storage for one log (created on its first write). `name` must be a log name (DESIGN.md §1, or
   * `_` followed by one for system logs), else this throws `storage.invalid_key`.
   */
  log(name: string): LogStorage;
  /** Names of logs that have stored something (a blob, a state value or a journal), sorted. */
  listLogs(): Promise<string[]>;
  /** Waits for running calls, closes open journals and releases the storage. Idempotent. */
  close(): Promise<void>;
}
