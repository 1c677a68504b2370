/**
 * Entry times for retention: the `received_at` of entry `i`, read from the entry bundle holding it
 * (the full bundle, or the partial bundle at the edge of the tree size being archived), locally or,
 * for an evicted bundle, from the archive, and checked against the log's signed tree first
 * (ArchiveSource.bundle), so a back-dated record on disk cannot make a lock shorter or an eviction
 * earlier. Checked bundles are cached, since consecutive objects (a bundle, its tile, the checkpoints
 * inside it) ask about the same few bundles.
 *
 * An entry below the log's minimum index (prune-state.ts) whose bundle is gone both locally and in
 * the archive was pruned after `retention.max`; it is dated 0 (the epoch), the one date that is
 * certainly not later than its true one: a retain-until computed from it is `now + retention.min`,
 * and its age is past every `archive.after`.
 */
import { entriesPath, TILE_WIDTH } from '../core/tile.js';
import type { ArchiveSource } from './archive-source.js';
import { RetentionError } from './errors.js';
import { recordTime } from './sealed-objects.js';

const CACHED_BUNDLES = 32;

export class EntryDater {
  // Checked records of recent bundles (undefined for a pruned one); a record is parsed only when
  // asked for, since a pass dates about one entry per object (the last one it covers).
  readonly #cache = new Map<number, Uint8Array[] | undefined>();

  /**
   * Dates entries below `treeSize` (at most the source's size); entries below the log's minimum
   * index may be pruned. `minimumIndex` reads it when a bundle is missing: the retention service
   * prunes beside the archiver, so it may have grown since the run started.
   */
  constructor(
    private readonly source: Pick<ArchiveSource, 'bundle'>,
    private readonly treeSize: number,
    private readonly minimumIndex: () => Promise<number> = async () => 0,
  ) {}

  /** `received_at` of entry `index` in ms since the epoch. */
  async time(index: number): Promise<number> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.treeSize) {
      throw new RangeError(`entry ${index} is not below tree size ${this.treeSize}`);
    }
    const b = Math.floor(index / TILE_WIDTH);
    let records = this.#cache.get(b);
    if (records === undefined && !this.#cache.has(b)) {
      records = await this.#load(b);
      if (this.#cache.size >= CACHED_BUNDLES) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(b, records);
    }
    if (records === undefined) return 0; // pruned
    const record = records[index - b * TILE_WIDTH];
    if (record === undefined) {
      throw new RetentionError('retention.bad_local_object', `entry ${index} is not in its bundle`, {
        details: { index },
      });
    }
    return recordTime(record, entriesPath(b));
  }

  async #load(b: number): Promise<Uint8Array[] | undefined> {
    const records = await this.source.bundle(b);
    if (records === undefined && (b + 1) * TILE_WIDTH <= (await this.minimumIndex())) return undefined; // pruned
    if (records === undefined) {
      const key = entriesPath(b);
      throw new RetentionError('retention.bad_local_object', `entry bundle ${key} is missing`, {
        details: { object: key },
      });
    }
    return records;
  }
}
