/**
 * The archiver of one log: copies its sealed objects from local storage to an S3 Object Lock archive
 * and, once they are old enough and their archived copies check out, evicts the local copies.
 *
 * Each run first reads the log's policy (log-policy.ts): its `retention.min`, `archive.after` and
 * legal hold, or, for a log without a stored policy, the server's defaults (`policy` option, from
 * the config's `archive` section), and its minimum index (prune-state.ts). A run is: the S3 legal
 * hold sweep when the hold changed (legal-hold-sync.ts), then the archive run, then the eviction
 * run, all with that one reading.
 *
 * Archive run (each step saved in the cursor only after it is done; archive-cursor.ts):
 *  1. target T = the size of the local latest checkpoint, whose signature and edge are checked
 *     (ArchiveSource): every object below is checked against this signed tree before it is
 *     uploaded or dates anything, and a mismatch (`retention.bad_local_object`) ends the run there;
 *  2. full bundles and hash tiles with coverage ≤ ⌊T/256⌋·256, in chunks: each uploaded under
 *     COMPLIANCE until max(now, its newest entry) + retention.min and read back before it counts;
 *     after each chunk `sealed` is saved. Crash: the chunk is redone; an object already there with
 *     the same bytes is kept (HEAD before PUT, so never a second version). While the log is on
 *     legal hold, uploads carry an S3 legal hold. Entry bundles ending at or below the minimum
 *     index are pruned: never uploaded, and never needed locally (the index is read again when a
 *     bundle is missing: the retention service may have pruned it since the run started);
 *  3. T's partial tiles and bundle to the mutable prefix (what verifying at size T needs beyond 2);
 *  4. checkpoint history in (archived, T], T FIRST: so the newest archived checkpoint always has its
 *     edge objects (step 3) and the archive verifies at every moment, crashes included;
 *  5. the latest checkpoint to the mutable prefix, then `archived = T` is saved;
 *  6. partial objects superseded twice over are deleted from the mutable prefix (never locked).
 *
 * Eviction run: the watermark `evicted` advances by whole bundles whose newest entry is older than
 * archive.after (never past `sealed` or `archived`); it is saved and published to readers
 * (TieredBlobStore) BEFORE any local copy goes; then every sealed object up to it is re-checked in
 * the archive (length, MD5 ETag, COMPLIANCE lock lasting ≥ newest entry + retention.min; a shorter
 * lock, from before retention.min was raised, is extended first) and only then deleted locally with
 * `{ retention: true }`; finally `clean` is saved. Pruned entry bundles are skipped. A legal hold
 * skips the whole eviction run. Nothing in S3 is ever deleted here: sealed objects leave the
 * archive only by expiry, through `S3BlobStore.deleteSealed`, which checks it.
 *
 * Entries below the minimum index whose bundle is gone everywhere cannot be dated; they count as
 * received at the epoch (EntryDater), which is safe: they were pruned after `retention.max`, so
 * locks derived from them run from now and their hash tiles are due for eviction.
 */
import { entriesPath, partialTiles, TILE_WIDTH, tilePath } from '../core/tile.js';
import { checkpointHistoryKey } from '../log/log.js';
import { type Clock, type Logger, silentLogger, systemClock } from '../log/types.js';
import type { S3BlobStore, SealedPutResult } from '../storage/s3/s3-blob-store.js';
import type { BlobStore, StateStore } from '../storage/types.js';
import { forEachLimit } from '../util/for-each-limit.js';
import { type ArchiveCursor, CursorStore } from './archive-cursor.js';
import { ArchiveSource } from './archive-source.js';
import { EntryDater } from './entry-dater.js';
import { RetentionError } from './errors.js';
import { type LegalHoldReport, syncLegalHold } from './legal-hold-sync.js';
import { deleteUnlessHeld, readLogPolicy } from './log-policy.js';
import { type ArchiverPolicy, requiredRetainUntilMs, retainUntilFor } from './policy.js';
import { PRUNE_STATE_KEY, readMinimumIndex } from './prune-state.js';
import { historySize, noteSize, sealedStart, sealedTileKeys } from './sealed-objects.js';

export interface ArchiveEvent {
  kind: SealedPutResult | 'mutable' | 'evicted' | 'saved' | 'legal-hold';
  key: string;
}

export interface ArchiverOptions {
  log: string;
  /** The log's LOCAL blob store (not the tiered one): the source of every upload. */
  local: BlobStore;
  /** The log's state store; holds the cursor. */
  state: StateStore;
  archive: S3BlobStore;
  /**
   * The server's defaults (config `archive.retentionMin/archiveAfter`): used, both of them, while the
   * log has no stored policy; a stored policy (any change through the API) replaces them.
   */
  policy: ArchiverPolicy;
  clock?: Clock;
  logger?: Logger;
  /** Uploads in flight at once (default 8). */
  concurrency?: number;
  /** Full bundles per step-2 chunk, i.e. between cursor saves (default 64). */
  chunkBundles?: number;
  /** Progress hook (tests, metrics); called after each object and each cursor save. */
  onEvent?: (event: ArchiveEvent) => void;
}

export interface ArchiveReport {
  log: string;
  /** The archive alone verifies up to this tree size. */
  archivedSize: number;
  uploaded: number;
  existed: number;
  extended: number;
}

export interface EvictReport {
  log: string;
  evictedSize: number;
  evicted: number;
}

/** What one run reads before it starts: the log's effective policy and its minimum index. */
export interface RunPolicy extends ArchiverPolicy {
  legalHold: boolean;
  /** Entry bundles ending at or below it are pruned (prune-state.ts). */
  minimumIndex: number;
}

/**
 * The policy a run of this log applies: the stored per-log `retention.min` / `archive.after` and
 * legal hold, or the server's `defaults` when the log has no stored policy. A damaged stored
 * policy fails (`retention.invalid_policy`) rather than dropping a hold.
 */
export async function readRunPolicy(state: StateStore, defaults: ArchiverPolicy): Promise<RunPolicy> {
  const { policy, version } = await readLogPolicy(state);
  const minimumIndex = await readMinimumIndex(state);
  if (version === undefined) return { ...defaults, legalHold: false, minimumIndex };
  return {
    minMs: policy.retentionMinMs,
    minFloors: policy.retentionMinFloors,
    afterMs: policy.archiveAfterMs,
    legalHold: policy.legalHold !== null,
    minimumIndex,
  };
}

/**
 * When the newest and the oldest entry a sealed object commits to were received (0 for none, or
 * for a pruned one): the lock must cover the longest retention.min any of them is owed.
 */
async function spanTimes(
  dater: EntryDater,
  key: string,
  coverage: number,
  minimumIndex: number,
): Promise<{ newest: number; oldest: number }> {
  if (coverage === 0) return { newest: 0, oldest: 0 };
  const newest = await dater.time(coverage - 1);
  const first = Math.max(sealedStart(key) ?? 0, minimumIndex);
  return { newest, oldest: first < coverage - 1 ? await dater.time(first) : newest };
}

export class Archiver {
  readonly log: string;
  readonly #o: ArchiverOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #store: CursorStore;
  #cursor: ArchiveCursor;
  #running: Promise<unknown> = Promise.resolve();

  private constructor(o: ArchiverOptions, store: CursorStore, cursor: ArchiveCursor) {
    this.log = o.log;
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#logger = o.logger ?? silentLogger;
    this.#store = store;
    this.#cursor = cursor;
  }

  /**
   * Loads the cursor. A cursor for another bucket or prefix starts over at 0 for the new target,
   * unless local copies were already evicted: those exist only in the old archive, so that is
   * refused with `retention.archive_moved`.
   */
  static async open(o: ArchiverOptions): Promise<Archiver> {
    const store = new CursorStore(o.state);
    const target = { bucket: o.archive.objects.bucket, prefix: o.archive.prefix };
    const fresh: ArchiveCursor = { v: 1, ...target, sealed: 0, archived: 0, evicted: 0, clean: 0 };
    let cursor = (await store.load()) ?? fresh;
    if (cursor.bucket !== target.bucket || cursor.prefix !== target.prefix) {
      if (cursor.evicted > 0) {
        throw new RetentionError(
          'retention.archive_moved',
          `log ${o.log}: local copies were evicted to s3://${cursor.bucket}/${cursor.prefix}; ` +
            `refusing to archive to s3://${target.bucket}/${target.prefix} instead`,
          { details: { log: o.log, from: cursor, to: target } },
        );
      }
      cursor = fresh;
    }
    return new Archiver(o, store, cursor);
  }

  /** The eviction watermark: sealed objects with coverage ≤ this may exist only in the archive. */
  get evictedSize(): number {
    return this.#cursor.evicted;
  }

  get cursor(): Readonly<ArchiveCursor> {
    return this.#cursor;
  }

  /** The S3 store (bucket and prefix) this archiver uploads to. */
  get store(): S3BlobStore {
    return this.#o.archive;
  }

  /** Resolves once every run or step queued so far has finished (successfully or not). */
  idle(): Promise<void> {
    return this.#queue(async () => undefined);
  }

  /**
   * Reads the log's policy, converges the S3 legal holds to it, archives, then evicts; runs (and
   * the calls below) never overlap.
   */
  run(): Promise<{ legalHold: LegalHoldReport; archive: ArchiveReport; evict: EvictReport }> {
    return this.#queue(async () => {
      const p = await this.#runPolicy();
      const legalHold = await this.#syncLegalHold(p);
      const archived = await this.#archive(p);
      // Read again: a hold set while the archive step ran (uploads can take long) must stop the
      // eviction of this very run.
      return { legalHold, archive: archived, evict: await this.#evict(await this.#runPolicy()) };
    });
  }

  archive(): Promise<ArchiveReport> {
    return this.#queue(async () => this.#archive(await this.#runPolicy()));
  }

  evict(): Promise<EvictReport> {
    return this.#queue(async () => this.#evict(await this.#runPolicy()));
  }

  /** Only the legal-hold step of a run (after a hold was set or released: see ArchivedDriver). */
  syncLegalHold(): Promise<LegalHoldReport> {
    return this.#queue(async () => this.#syncLegalHold(await this.#runPolicy()));
  }

  #queue<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#running.then(task);
    this.#running = next.catch(() => undefined);
    return next;
  }

  #runPolicy(): Promise<RunPolicy> {
    return readRunPolicy(this.#o.state, this.#o.policy);
  }

  #syncLegalHold(p: RunPolicy): Promise<LegalHoldReport> {
    return syncLegalHold({
      log: this.log,
      state: this.#o.state,
      archive: this.#o.archive,
      hold: p.legalHold,
      logger: this.#logger,
      concurrency: this.#o.concurrency ?? 8,
      onObject: (key) => this.#o.onEvent?.({ kind: 'legal-hold', key }),
    });
  }

  async #save(change: Partial<ArchiveCursor>): Promise<void> {
    const next = { ...this.#cursor, ...change };
    await this.#store.save(next);
    this.#cursor = next;
    this.#o.onEvent?.({ kind: 'saved', key: JSON.stringify(change) });
  }

  /** The log's minimum index now (it may grow while a run is under way). */
  #minimumIndex(): Promise<number> {
    return readMinimumIndex(this.#o.state);
  }

  async #localBytes(key: string): Promise<Uint8Array> {
    const bytes = await this.#o.local.get(key);
    if (bytes === undefined) {
      throw new RetentionError('retention.bad_local_object', `log ${this.log}: ${key} is missing locally`, {
        details: { log: this.log, object: key },
      });
    }
    return bytes;
  }

  /** The log's tree at checkpoint `note` (local), through which objects are checked and dated. */
  #source(note: Uint8Array): Promise<ArchiveSource> {
    const { local, state, archive } = this.#o;
    return ArchiveSource.open({ log: this.log, local, state, archive, checkpoint: note });
  }

  async #archive(policy: RunPolicy): Promise<ArchiveReport> {
    const { local, archive } = this.#o;
    const report: ArchiveReport = {
      log: this.log,
      archivedSize: this.#cursor.archived,
      uploaded: 0,
      existed: 0,
      extended: 0,
    };
    const latest = await local.get('checkpoint');
    if (latest === undefined) return report; // nothing signed yet
    const target = noteSize(latest, `log ${this.log}: checkpoint`);
    if (target < this.#cursor.archived) {
      // Local storage is behind its own archive (restored from an old backup?): archive nothing
      // rather than anything inconsistent; the engine refuses to sign a diverging tree anyway.
      this.#logger.warn(
        { log: this.log, local: target, archived: this.#cursor.archived },
        'local log is behind its archive',
      );
    }
    if (target <= this.#cursor.archived) return report;
    // Everything below is checked against the signed tree at `target` before it is uploaded or
    // dates anything: a damaged object stops the run here, before it is locked in the archive.
    const source = await this.#source(latest);
    const dater = new EntryDater(source, target, () => this.#minimumIndex());
    // Only ever set at upload: holds are removed by the release sweep alone (legal-hold-sync.ts).
    const hold = policy.legalHold ? { legalHold: true } : {};
    const seal = async (key: string, coverage: number): Promise<void> => {
      if (isPrunedBundle(key, coverage, policy.minimumIndex)) return;
      const local = await this.#o.local.get(key);
      // Pruned since the run read the minimum index (the retention service runs beside it).
      if (local === undefined && isPrunedBundle(key, coverage, await this.#minimumIndex())) return;
      const bytes = local ?? (await this.#localBytes(key));
      await source.checkSealed(key, bytes);
      const { newest, oldest } = await spanTimes(dater, key, coverage, policy.minimumIndex);
      const until = retainUntilFor(policy, this.#clock.now(), newest, oldest);
      const result = await archive.putSealed(key, bytes, until, hold);
      report[result]++;
      this.#o.onEvent?.({ kind: result, key });
    };
    const limit = this.#o.concurrency ?? 8;

    // Step 2: full bundles and tiles, chunk by chunk.
    const sealedTarget = Math.floor(target / TILE_WIDTH) * TILE_WIDTH;
    const chunk = (this.#o.chunkBundles ?? 64) * TILE_WIDTH;
    for (let from = this.#cursor.sealed; from < sealedTarget; ) {
      const to = Math.min(sealedTarget, from + chunk);
      await forEachLimit(sealedTileKeys(from, to), limit, (o) => seal(o.key, o.coverage));
      await this.#save({ sealed: to });
      from = to;
    }
    // Step 3: the partial objects verifying at size `target` needs.
    for (const key of edgeKeys(target)) {
      await archive.put(key, source.edgeObject(key));
      this.#o.onEvent?.({ kind: 'mutable', key });
    }
    // Step 3b: a pruned log's prune state (mutable), before the history that makes the archive reach
    // past its statement: `verify --s3` accepts the bundles step 2 skipped only under it, and ignores
    // it while the archived tree does not reach the statement yet.
    if (policy.minimumIndex > 0) {
      const prune = await this.#o.state.read(PRUNE_STATE_KEY);
      if (prune !== undefined) await archive.put(PRUNE_STATE_KEY, prune.value);
    }
    // Step 4: checkpoint history, the target first.
    const sizes = (await local.list('checkpoints/'))
      .map(historySize)
      .filter((s): s is number => s !== undefined && s > this.#cursor.archived && s < target);
    sizes.unshift(target);
    await forEachLimit(sizes, limit, (s) => seal(checkpointHistoryKey(s), s));
    // Step 5: the latest checkpoint, then the cursor.
    await archive.put('checkpoint', latest);
    this.#o.onEvent?.({ kind: 'mutable', key: 'checkpoint' });
    const previous = this.#cursor.archived;
    await this.#save({ archived: target });
    report.archivedSize = target;
    // Step 6: partials of older sizes. Those of the previous size stay one more round, so an
    // auditor who listed the archive just before step 5 still finds what it needs.
    const keep = new Set([...edgeKeys(target), ...edgeKeys(previous)]);
    for (const key of await archive.listMutable('tile/')) {
      if (key.includes('.p/') && !keep.has(key)) await archive.delete(key);
    }
    this.#logger.info({ ...report }, 'archive run finished');
    return report;
  }

  async #evict(policy: RunPolicy): Promise<EvictReport> {
    const { local, archive } = this.#o;
    const report: EvictReport = { log: this.log, evictedSize: this.#cursor.evicted, evicted: 0 };
    // A legal hold blocks every deletion, local copies included (docs/RETENTION.md): neither the
    // watermark moves nor a pending eviction (clean < evicted after a crash) resumes while it is set.
    // Read on every run, so a hold set through the API takes effect on the next run.
    if (policy.legalHold) {
      this.#logger.info({ log: this.log }, 'eviction skipped: legal hold');
      return report;
    }
    let limitSize = Math.min(
      this.#cursor.sealed,
      Math.floor(this.#cursor.archived / TILE_WIDTH) * TILE_WIDTH,
    );
    const due = Number.isFinite(policy.afterMs) && this.#cursor.evicted + TILE_WIDTH <= limitSize;
    if (!due && this.#cursor.clean >= this.#cursor.evicted) return report;
    // Entries are dated from records checked against the latest local checkpoint (never behind the
    // archive's, except in a data directory restored from an older backup: then no further).
    const source = await this.#source(await this.#localBytes('checkpoint'));
    limitSize = Math.min(limitSize, Math.floor(source.size / TILE_WIDTH) * TILE_WIDTH);
    const dater = new EntryDater(source, limitSize, () => this.#minimumIndex());
    if (Number.isFinite(policy.afterMs)) {
      const now = this.#clock.now();
      let end = this.#cursor.evicted;
      while (
        end + TILE_WIDTH <= limitSize &&
        (await dater.time(end + TILE_WIDTH - 1)) + policy.afterMs <= now
      ) {
        end += TILE_WIDTH;
      }
      // Published before any deletion: from here on, readers look in the archive on a local miss.
      if (end > this.#cursor.evicted) await this.#save({ evicted: end });
    }
    const { clean, evicted } = this.#cursor;
    report.evictedSize = evicted;
    if (clean >= evicted) return report;
    // A hold set while this eviction runs stops it before the next deletion: the watermark stays
    // where it is (readers already look in the archive on a local miss) and `clean` does not move,
    // so the rest is deleted only after the hold is released.
    let held = false;
    const evictOne = async (key: string, coverage: number): Promise<void> => {
      if (held) return;
      if (isPrunedBundle(key, coverage, policy.minimumIndex)) return; // pruning deletes it
      const bytes = await local.get(key);
      if (bytes === undefined) return; // evicted before a crash
      const { newest, oldest } = await spanTimes(dater, key, coverage, policy.minimumIndex);
      try {
        await archive.verifySealed(key, bytes, requiredRetainUntilMs(policy, newest, oldest), 'head');
      } catch (err) {
        if ((err as { code?: string }).code !== 'storage.object_lock_missing') throw err;
        // Locked for less than the current retention.min (raised since the upload): extend the
        // lock; putSealed reads the object back and checks the new lock before it resolves.
        await archive.putSealed(key, bytes, retainUntilFor(policy, this.#clock.now(), newest, oldest));
      }
      // The hold check and the deletion hold the policy lock together (deleteUnlessHeld), so a
      // hold being set waits for this deletion and no deletion follows its answer.
      if (
        held ||
        (await deleteUnlessHeld(this.log, this.#o.state, () => local.delete(key, { retention: true }))) ===
          'held'
      ) {
        held = true;
        return;
      }
      report.evicted++;
      this.#o.onEvent?.({ kind: 'evicted', key });
    };
    const limit = this.#o.concurrency ?? 8;
    await forEachLimit(sealedTileKeys(clean, evicted), limit, (o) => evictOne(o.key, o.coverage));
    const history = (await local.list('checkpoints/'))
      .map(historySize)
      .filter((s): s is number => s !== undefined && s <= evicted);
    await forEachLimit(history, limit, (s) => evictOne(checkpointHistoryKey(s), s));
    if (held) {
      this.#logger.info({ ...report }, 'eviction stopped: a legal hold was set during the run');
      return report;
    }
    await this.#save({ clean: evicted });
    this.#logger.info({ ...report }, 'eviction run finished');
    return report;
  }
}

/** True for a full entry bundle ending at or below the minimum index (pruned; hash tiles never are). */
export function isPrunedBundle(key: string, coverage: number, minimumIndex: number): boolean {
  return coverage <= minimumIndex && key.startsWith('tile/entries/');
}

/** Keys of the partial tiles and partial bundle at the right edge of a tree of `size`. */
export function edgeKeys(size: number): string[] {
  const keys = partialTiles(size).map((ref) => tilePath(ref));
  if (size % TILE_WIDTH !== 0) keys.push(entriesPath(Math.floor(size / TILE_WIDTH), size % TILE_WIDTH));
  return keys;
}
