/**
 * BlobStore over S3 for one log, with the contract of `types.ts`: immutable objects go under the
 * locked prefix `sealed/<log>/` with Object Lock COMPLIANCE, mutable ones under `mutable/<log>/`
 * (layout in s3-client.ts). The archiver uses it through the extra `putSealed` / `verifySealed`,
 * which take an explicit retain-until; the plain `put(…, { immutable: true })` asks `retainUntil`.
 *
 * Check-then-write sequences (HEAD before PUT, so a retried upload never adds a second version)
 * are serialized per key within the process. Across processes, servers with conditional writes
 * (AWS, MinIO) refuse a second version through `If-None-Match: *`; Ceph RGW 16 ignores it, so two
 * processes must never archive the same log at once (the data directory LOCK guarantees that).
 *
 * Deviations from the local driver, each a property of S3: no folders (`a` and `a/b` may coexist),
 * and a sealed object cannot be deleted before its retain-until, even with `{ retention: true }`:
 * that delete is refused with `storage.retained` before any request that would try it.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { KeyedMutex } from '../../util/keyed-mutex.js';
import { StorageError } from '../errors.js';
import { parsePrefix, validateBlobKey, validateLogName } from '../keys.js';
import { Gate } from '../local/serial.js';
import type { BlobStore, PutOptions } from '../types.js';
import { archiveRoots, type LogLayout, logLayout } from './s3-client.js';
import { md5Of, type ObjectHead, S3Objects } from './s3-objects.js';

export interface S3BlobStoreOptions {
  client: S3Client;
  bucket: string;
  /** Archive prefix inside the bucket ('' or `a/b`). */
  prefix: string;
  log: string;
  /** Retain-until for `put(…, { immutable: true })`; the archiver passes its own to `putSealed`. */
  retainUntil: (key: string, data: Uint8Array) => Date;
  /** Wall clock (ms) for retention checks; default Date.now. */
  now?: () => number;
  /**
   * How long after a version's retain-until `deleteSealed` still treats it as locked, to cover clock
   * skew between this host and the S3 server (default 5 s), so a delete is never sent early.
   */
  deleteSlackMs?: number;
  /** Shared by the stores of one driver so that closing it closes them all. */
  gate?: Gate;
}

/** Outcome of `putSealed`. */
export type SealedPutResult = 'uploaded' | 'existed' | 'extended';

/**
 * Outcome of `deleteSealed`: `deleted` (no version of the key is left), `locked` (a version's
 * COMPLIANCE retention has not passed; nothing was deleted; `until` is when it may be tried
 * again), `held` (a version is under an Object Lock legal hold; nothing was deleted) or `absent`
 * (the key has no version).
 */
export type SealedDeleteResult =
  | { status: 'deleted' }
  | { status: 'locked'; until: Date }
  | { status: 'held' }
  | { status: 'absent' };

// COMPLIANCE dates may be stored with second precision by some servers.
const RETAIN_SLACK_MS = 1000;

function conflict(key: string, why: string): StorageError {
  return new StorageError('storage.immutable_conflict', `object ${key} ${why}`, { details: { key } });
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

export class S3BlobStore implements BlobStore {
  readonly log: string;
  /** The archive prefix inside the bucket ('' or `a/b`). */
  readonly prefix: string;
  readonly layout: LogLayout;
  readonly objects: S3Objects;
  readonly #retainUntil: S3BlobStoreOptions['retainUntil'];
  readonly #now: () => number;
  readonly #deleteSlackMs: number;
  readonly #gate: Gate;
  readonly #mutex = new KeyedMutex();

  constructor(options: S3BlobStoreOptions) {
    this.log = validateLogName(options.log);
    this.prefix = options.prefix;
    this.layout = logLayout(options.prefix, options.log);
    this.objects = new S3Objects(options.client, options.bucket);
    this.#retainUntil = options.retainUntil;
    this.#now = options.now ?? Date.now;
    this.#deleteSlackMs = options.deleteSlackMs ?? 5000;
    this.#gate = options.gate ?? new Gate(`S3 blob store of log ${options.log}`);
  }

  /** Refuses further calls with `storage.closed` once the running ones settled. */
  close(): Promise<void> {
    return this.#gate.close();
  }

  #serial<T>(key: string, task: () => Promise<T>): Promise<T> {
    return this.#gate.run(() => this.#mutex.run(key, task));
  }

  async put(key: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    validateBlobKey(key);
    const bytes = data.slice(); // the caller may reuse its buffer while we upload
    if (options?.immutable === true) {
      await this.#serial(key, () => this.#putSealed(key, bytes, this.#retainUntil(key, bytes)));
      return;
    }
    await this.#serial(key, async () => {
      const full = this.layout.sealed + key;
      if ((await this.objects.head(full)) !== undefined) {
        await this.#checkBytes(key, full, bytes, true); // same bytes: nothing would change
        return;
      }
      await this.objects.put(this.layout.mutable + key, bytes);
    });
  }

  /**
   * Uploads a sealed object under COMPLIANCE until `retainUntil`, idempotently: an existing object
   * with the same bytes is kept (its retention extended when shorter), other bytes are
   * `storage.immutable_conflict`. Resolves only after the stored object was read back and compared
   * and its lock checked, so "resolved" means "verified in the archive".
   *
   * With `legalHold` set, the stored object's Object Lock legal hold is made to match it: a new
   * object is uploaded with the hold header, an existing one gets the hold set (`true`) or removed
   * (`false`) when it differs. Without it, the hold is left as it is.
   */
  putSealed(
    key: string,
    data: Uint8Array,
    retainUntil: Date,
    options: { legalHold?: boolean } = {},
  ): Promise<SealedPutResult> {
    validateBlobKey(key);
    return this.#serial(key, () => this.#putSealed(key, data, retainUntil, options.legalHold));
  }

  async #putSealed(
    key: string,
    data: Uint8Array,
    retainUntil: Date,
    legalHold?: boolean,
  ): Promise<SealedPutResult> {
    const full = this.layout.sealed + key;
    let preexisting = (await this.objects.head(full)) !== undefined;
    if (!preexisting) {
      const mutableKey = this.layout.mutable + key;
      const mutable = (await this.objects.head(mutableKey)) && (await this.objects.get(mutableKey));
      if (mutable && !equalBytes(mutable, data)) throw conflict(key, 'exists with other bytes');
      preexisting = !(await this.objects.put(full, data, retainUntil, legalHold === true));
      // A mutable copy is superseded once the sealed one exists (a crash before this delete leaves
      // both with the same bytes, which reads and lists tolerate).
      if (mutable) await this.objects.delete(mutableKey);
    }
    let head = await this.#checkBytes(key, full, data, preexisting);
    let result: SealedPutResult = preexisting ? 'existed' : 'uploaded';
    if (!lockHolds(head, retainUntil.getTime())) {
      // An earlier run's object with a shorter lock, or a server that ignored the lock headers of
      // the PUT: set the retention explicitly (COMPLIANCE can be extended, never shortened).
      await this.objects.extendRetention(full, retainUntil);
      head = (await this.objects.head(full)) ?? head;
      if (preexisting) result = 'extended';
    }
    checkLock(key, head, retainUntil.getTime());
    if (legalHold !== undefined && head.legalHold !== legalHold) {
      // An object from before the hold changed, or a server that dropped the header.
      await this.objects.setLegalHold(full, head.versionId, legalHold);
      head = (await this.objects.head(full, head.versionId)) ?? head;
      if (head.legalHold !== legalHold) {
        throw new StorageError(
          'storage.object_lock_missing',
          `archived object ${key}: the S3 server did not ${legalHold ? 'set' : 'remove'} its legal hold`,
          { details: { key, legalHold } },
        );
      }
    }
    return result;
  }

  /**
   * Checks the sealed object under `key`: exactly `data` (`how: 'get'` reads it back; `'head'`
   * compares length and the MD5 ETag, reading it back only when the ETag is not an MD5) and locked
   * in COMPLIANCE mode until at least `minRetainUntil` (ms). Fails with `storage.corrupt` when it is
   * missing or differs, `storage.object_lock_missing` when the lock is absent or too short.
   */
  verifySealed(key: string, data: Uint8Array, minRetainUntil: number, how: 'get' | 'head'): Promise<void> {
    validateBlobKey(key);
    const full = this.layout.sealed + key;
    return this.#gate.run(async () => {
      if (how === 'head') {
        const head = await this.objects.head(full);
        if (head === undefined) throw missing(key);
        checkLock(key, head, minRetainUntil);
        const md5 = /^[0-9a-f]{32}$/.test(head.etag);
        if (md5 && head.size === data.length && head.etag === md5Of(data).hex) return;
      }
      checkLock(key, await this.#checkBytes(key, full, data, false), minRetainUntil);
    });
  }

  /** Reads the object back and compares; resolves with its headers. */
  async #checkBytes(key: string, full: string, data: Uint8Array, preexisting: boolean): Promise<ObjectHead> {
    const stored = await this.objects.read(full);
    if (stored === undefined) throw missing(key);
    if (equalBytes(stored.data, data)) return stored.head;
    // Bytes that were there before this call are another writer's: a conflict, with the key as
    // evidence. Bytes that differ right after our own Content-MD5-checked upload: a broken store.
    if (preexisting) throw conflict(key, 'is archived with other bytes');
    throw new StorageError('storage.corrupt', `archived object ${key} does not read back as written`, {
      details: { key },
    });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    validateBlobKey(key);
    return this.#gate.run(async () => {
      const sealed = await this.objects.get(this.layout.sealed + key);
      return sealed ?? (await this.objects.get(this.layout.mutable + key));
    });
  }

  /** Only the sealed copy (the archive's reads of evicted objects need nothing else). */
  getSealed(key: string): Promise<Uint8Array | undefined> {
    validateBlobKey(key);
    return this.#gate.run(() => this.objects.get(this.layout.sealed + key));
  }

  async list(prefix: string): Promise<string[]> {
    return this.#list(prefix, 'both');
  }

  /** Keys of sealed objects only. */
  listSealed(prefix: string): Promise<string[]> {
    return this.#list(prefix, 'sealed');
  }

  /** Keys of mutable objects only. */
  listMutable(prefix: string): Promise<string[]> {
    return this.#list(prefix, 'mutable');
  }

  async #list(prefix: string, which: 'both' | 'sealed' | 'mutable'): Promise<string[]> {
    const { reserved } = parsePrefix(prefix);
    return this.#gate.run(async () => {
      if (reserved) return [];
      const { sealed, mutable } = this.layout;
      const roots = which === 'both' ? [sealed, mutable] : which === 'sealed' ? [sealed] : [mutable];
      const found = new Set<string>();
      for (const root of roots) {
        for (const full of await this.objects.list(root + prefix)) {
          const key = full.slice(root.length);
          try {
            validateBlobKey(key);
            found.add(key);
          } catch {
            // An object someone else put in the bucket that no blob key can name: not ours.
          }
        }
      }
      // Keys are ASCII, so UTF-16 order is byte order.
      return [...found].sort();
    });
  }

  async delete(key: string, options?: { retention?: boolean }): Promise<void> {
    validateBlobKey(key);
    return this.#serial(key, async () => {
      const full = this.layout.sealed + key;
      const head = await this.objects.head(full);
      if (head !== undefined) {
        if (options?.retention !== true) throw conflict(key, 'is immutable');
        const result = await this.#deleteVersions(full);
        if (result.status === 'locked' || result.status === 'held') throw retained(key, result);
        return;
      }
      const mutable = this.layout.mutable + key;
      if ((await this.objects.head(mutable)) !== undefined) await this.objects.delete(mutable);
    });
  }

  /**
   * Deletes a sealed object for good once Object Lock allows it (pruning after `retention.max`).
   * Every version of `key` under the locked prefix is inspected first (HEAD per version: its
   * retention and legal hold); only when none is under a legal hold and every retain-until lies
   * more than `deleteSlackMs` in the past are all versions and delete markers deleted. Otherwise
   * nothing is deleted and no DELETE request is sent at all, so the server never has a locked
   * version to refuse: all or nothing, so the key never falls back to an older version.
   *
   * Resolves `{ status: 'held' }` when a version has a legal hold (whatever its retention),
   * `{ status: 'locked', until }` when a retention has not passed (`until`: the latest
   * retain-until plus the slack, when a new call can succeed), `{ status: 'absent' }` when the key
   * has no version (delete markers alone are removed), `{ status: 'deleted' }` otherwise.
   * Idempotent: a call interrupted between deletes is finished by the next call. The mutable copy
   * of a key, if any, is not touched. Needs s3:ListBucketVersions, s3:GetObjectVersion,
   * s3:GetObjectRetention, s3:GetObjectLegalHold and s3:DeleteObjectVersion.
   */
  deleteSealed(key: string): Promise<SealedDeleteResult> {
    validateBlobKey(key);
    return this.#serial(key, () => this.#deleteVersions(this.layout.sealed + key));
  }

  async #deleteVersions(full: string): Promise<SealedDeleteResult> {
    const versions = (await this.objects.listVersions(full)).filter((v) => v.key === full);
    let latest = Number.NEGATIVE_INFINITY;
    let objects = 0;
    for (const v of versions) {
      if (v.deleteMarker) continue;
      const h = await this.objects.head(full, v.versionId);
      if (h === undefined) continue; // deleted since the listing
      objects++;
      if (h.legalHold) return { status: 'held' };
      if (h.retainUntil !== undefined) latest = Math.max(latest, h.retainUntil);
    }
    if (latest + this.#deleteSlackMs > this.#now()) {
      return { status: 'locked', until: new Date(latest + this.#deleteSlackMs) };
    }
    for (const v of versions) await this.objects.delete(full, v.versionId);
    return objects === 0 ? { status: 'absent' } : { status: 'deleted' };
  }
}

function retained(key: string, result: SealedDeleteResult): StorageError {
  const held = result.status === 'held';
  const until = result.status === 'locked' ? result.until : undefined;
  return new StorageError(
    'storage.retained',
    `object ${key} is under Object Lock ${held ? '(legal hold)' : `until ${until?.toISOString()}`}`,
    { details: { key, ...(until ? { retainUntil: until.getTime() } : {}), legalHold: held } },
  );
}

function missing(key: string): StorageError {
  return new StorageError('storage.corrupt', `archived object ${key} is missing`, { details: { key } });
}

function lockHolds(head: ObjectHead, minRetainUntil: number): boolean {
  return head.lockMode === 'COMPLIANCE' && (head.retainUntil ?? 0) + RETAIN_SLACK_MS >= minRetainUntil;
}

function checkLock(key: string, head: ObjectHead, minRetainUntil: number): void {
  if (!lockHolds(head, minRetainUntil)) {
    throw new StorageError(
      'storage.object_lock_missing',
      `archived object ${key} is not locked in COMPLIANCE mode until ${new Date(minRetainUntil).toISOString()} ` +
        `(mode ${head.lockMode ?? 'none'}, until ${head.retainUntil === undefined ? 'never' : new Date(head.retainUntil).toISOString()})`,
      { details: { key, lockMode: head.lockMode, retainUntil: head.retainUntil, wanted: minRetainUntil } },
    );
  }
}

/** Names of the logs that have objects under an archive prefix, sorted. */
export async function listArchivedLogs(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const objects = new S3Objects(client, bucket);
  const roots = archiveRoots(prefix);
  const names = new Set<string>();
  for (const root of [roots.sealed, roots.mutable]) {
    for (const name of await objects.listFolders(root)) {
      try {
        names.add(validateLogName(name));
      } catch {
        // Not a log folder.
      }
    }
  }
  return [...names].sort();
}
