/**
 * The blob store the engine sees when a log is archived: local first, then the archive for sealed
 * objects whose local copy may have been evicted. Every read of evicted data (entries, bundles,
 * proofs, receipts, query results and exports, which all read through the engine) thus falls back
 * to S3 without the engine knowing.
 *
 * Only sealed keys with coverage ≤ the archiver's eviction watermark are ever looked up in S3, so
 * the hot path (new tiles and bundles, partial objects, the latest checkpoint) never leaves the
 * local disk; the watermark moves before any local copy is deleted (archiver.ts), so a reader
 * never misses an object that is in neither place.
 *
 * Contract (types.ts) over both tiers: an immutable object that lives only in the archive is still
 * immutable here (identical rewrites are no-ops, other bytes `storage.immutable_conflict`, deletes
 * without `{ retention: true }` refused). A retention delete removes the local copy only; archived
 * copies leave S3 by Object Lock expiry, never through this store.
 */
import { StorageError } from '../storage/errors.js';
import { parsePrefix, validateBlobKey } from '../storage/keys.js';
import type { S3BlobStore } from '../storage/s3/s3-blob-store.js';
import type { BlobStore, PutOptions } from '../storage/types.js';
import { sealedCoverage } from './sealed-objects.js';

export interface TieredBlobStoreOptions {
  local: BlobStore;
  archive: Pick<S3BlobStore, 'getSealed' | 'listSealed'>;
  /** The eviction watermark (Archiver.evictedSize), read on every call. */
  evictedSize: () => number;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

export class TieredBlobStore implements BlobStore {
  readonly #local: BlobStore;
  readonly #archive: TieredBlobStoreOptions['archive'];
  readonly #evicted: () => number;

  constructor(options: TieredBlobStoreOptions) {
    this.#local = options.local;
    this.#archive = options.archive;
    this.#evicted = options.evictedSize;
  }

  /** True when `key` is a sealed object that may exist only in the archive. */
  #mayBeEvicted(key: string): boolean {
    const coverage = sealedCoverage(key);
    return coverage !== undefined && coverage <= this.#evicted();
  }

  /** The archived copy of a possibly evicted key that is missing locally, or undefined. */
  async #archived(key: string): Promise<Uint8Array | undefined> {
    if (!this.#mayBeEvicted(key)) return undefined;
    if ((await this.#local.get(key)) !== undefined) return undefined;
    return this.#archive.getSealed(key);
  }

  async put(key: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    validateBlobKey(key);
    const archived = await this.#archived(key);
    if (archived !== undefined) {
      // An evicted sealed object: the engine republishing a checkpoint after a restart, say.
      if (equalBytes(archived, data)) return;
      throw new StorageError('storage.immutable_conflict', `object ${key} is archived with other bytes`, {
        details: { key },
      });
    }
    await this.#local.put(key, data, options);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const local = await this.#local.get(key);
    if (local !== undefined || !this.#mayBeEvicted(key)) return local;
    return this.#archive.getSealed(key);
  }

  async list(prefix: string): Promise<string[]> {
    const local = await this.#local.list(prefix);
    const evicted = this.#evicted();
    if (evicted === 0 || parsePrefix(prefix).reserved) return local;
    const keys = new Set(local);
    for (const key of await this.#archive.listSealed(prefix)) {
      const coverage = sealedCoverage(key);
      if (coverage !== undefined && coverage <= evicted) keys.add(key);
    }
    return keys.size === local.length ? local : [...keys].sort();
  }

  async delete(key: string, options?: { retention?: boolean }): Promise<void> {
    validateBlobKey(key);
    if (options?.retention !== true && (await this.#archived(key)) !== undefined) {
      throw new StorageError('storage.immutable_conflict', `object ${key} is immutable`, {
        details: { key },
      });
    }
    await this.#local.delete(key, options);
  }
}
