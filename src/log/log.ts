/**
 * One log: sequencing (the durable ack), integration (tiles, entry bundles, signed checkpoint),
 * recovery at open, and the reads everything else is built on.
 *
 * Where things live (all through the LogStorage interfaces):
 *   journal                  records sequenced but perhaps not yet integrated (the ack point)
 *   blobs tile/<L>/…         C2SP hash tiles; full ones immutable, partial ones by width
 *   blobs tile/entries/…     C2SP entry bundles; same rules
 *   blobs checkpoints/<size> every signed checkpoint, immutable history (for verify and auditors)
 *   blobs checkpoint         the latest signed checkpoint (the C2SP read path)
 *   state checkpoint         the last signed checkpoint: the commit point of integration (CAS)
 *   state prune              the minimum index after retention pruning (retention/prune-state.ts):
 *                            bundles below it may be gone, their entries are not served
 *
 * Invariants: (1) `add` resolves only after the journal made the records durable; (2) a checkpoint
 * is signed only for tiles and bundles already durable, and `state checkpoint` never moves to a
 * tree inconsistent with what it held (its size only grows, over the same records);
 * (3) full tiles and bundles are written once.
 */
import { type Checkpoint, openCheckpoint, signCheckpoint } from '../core/checkpoint.js';
import { toHex, utf8 } from '../core/encoding.js';
import { CompactRange, hashLeaf } from '../core/merkle.js';
import type { NoteSigner, NoteVerifier } from '../core/note.js';
import { PRUNE_GRANULE, signPruneStatement } from '../core/prune-statement.js';
import { formatReceipt } from '../core/receipt.js';
import { buildRecordRun, formatTimestamp, ZERO_HASH } from '../core/record.js';
import { encodeBundle, entriesPath, partialTiles, TILE_WIDTH, type TileRef, tilePath } from '../core/tile.js';
import { buildTiles } from '../core/tile-builder.js';
import { readMinimumIndex } from '../retention/prune-state.js';
import type { BlobStore, Journal, LogStorage } from '../storage/types.js';
import type { EngineConfig } from './config.js';
import { LogError } from './errors.js';
import { LogProofs } from './log-proofs.js';
import { createReadCaches, type ReadCaches } from './read-cache.js';
import { Sequencer } from './sequencer.js';
import { loadSignedEdge } from './signed-edge.js';
import type { AppendedEntry, Clock, Logger, SignedCheckpoint } from './types.js';

const STATE_CHECKPOINT = 'checkpoint';

/** An event ready to sequence: validated, canonicalized, with its final id. */
export interface PreparedEvent {
  id: string;
  /** JCS text of the accepted event. */
  eventJson: string;
  /** What the search index derived from the event as it was validated (SearchIndex.deriveEvent). */
  derived?: unknown;
}

const recordDecoder = new TextDecoder();

/**
 * A sequenced record as handed to observers; it is also an IndexEntry, so it feeds the index as is.
 * It holds the record's bytes (a view into its commit's buffer); the text is decoded only if asked
 * for, so an index that takes bytes (the threaded SQLite index) never makes a string of it here.
 */
export class SequencedRecord {
  constructor(
    readonly index: number,
    readonly id: string,
    readonly leafHash: Uint8Array,
    /** The exact record bytes (UTF-8). */
    readonly bytes: Uint8Array,
    /** The record's received_at, and what the index derived from its event (IndexEntry). */
    readonly receivedAt?: string,
    readonly derived?: unknown,
  ) {}

  /** The exact record text. */
  get record(): string {
    return recordDecoder.decode(this.bytes);
  }
}

export interface LogOptions {
  name: string;
  origin: string;
  signer: NoteSigner;
  verifier: NoteVerifier;
  storage: LogStorage;
  config: EngineConfig;
  clock: Clock;
  logger: Logger;
  /** Called synchronously after each durable commit, before the acks resolve. */
  onSequenced?: (records: readonly SequencedRecord[]) => void;
  /** Observes each sequencer commit: events made durable and the journal write + fsync time. */
  onCommit?: (events: number, seconds: number) => void;
  /** Bounds on the tiles and bundles cached for reads, shared by an engine's logs; own ones by default. */
  caches?: ReadCaches;
}

export function checkpointHistoryKey(size: number): string {
  return `checkpoints/${String(size).padStart(20, '0')}`;
}

/**
 * A full tile or bundle that only a later state than this one can have sealed, or undefined. Full
 * tiles and bundles are written before the checkpoint that covers them is committed, and the journal
 * keeps their entries until after that commit. Objects of entries the journal holds are rewritten
 * (and checked) by the integration at open; the first one it cannot account for is the one holding
 * entry `max(treeSize, journalEnd)` (past the tree's edge when a snapshot caught a running server).
 * If it exists, the state and journal came back from an older copy than the tiles (Log.open and
 * `verify --data` both refuse that).
 */
export async function sealedPastJournal(
  blobs: BlobStore,
  treeSize: number,
  journalEnd: number,
): Promise<string | undefined> {
  const k = Math.floor(Math.max(treeSize, journalEnd) / TILE_WIDTH);
  for (const key of [tilePath({ level: 0, index: k, width: TILE_WIDTH }), entriesPath(k, TILE_WIDTH)]) {
    if ((await blobs.get(key)) !== undefined) return key;
  }
  return undefined;
}

/** The keys `checkpointHistoryKey` makes. */
const HISTORY_KEY = /^checkpoints\/\d{20}$/;

export class Log {
  readonly name: string;
  readonly origin: string;
  readonly verifier: NoteVerifier;
  private readonly opts: LogOptions;
  private readonly sequencer: Sequencer<PreparedEvent, AppendedEntry>;
  private journal!: Journal;

  // Sequencing state: the next index and the leaf hash it chains to.
  private sequencedSize = 0;
  private lastLeafHash: Uint8Array = ZERO_HASH;
  // Its hex, when known (the next record's `prev`); undefined means "encode lastLeafHash".
  private lastLeafHex: string | undefined;
  // Records in [checkpoint.size, sequencedSize), kept in memory until integrated.
  private pendingRecords: Uint8Array[] = [];
  private pendingLeafHashes: Uint8Array[] = [];

  // Integration state, all at tree size `checkpoint.size`.
  private checkpoint!: SignedCheckpoint;
  private stateVersion: string | undefined;
  private range = new CompactRange();
  private edgeTiles = new Map<number, Uint8Array>();
  private edgeBundle: Uint8Array[] = [];

  private integrating: Promise<SignedCheckpoint> | undefined;
  private timer: NodeJS.Timeout | undefined;
  // Integration ticks fall every intervalMs from here (scheduleIntegration).
  private readonly tickOrigin = performance.now();
  private closed = false;
  private readonly bundleCache = new Map<number, Uint8Array[]>();
  private readonly caches: ReadCaches;
  // Entries below this were pruned by retention (C2SP tlog-tiles minimum index); never served.
  private minIndex = 0;
  // Published hash tiles and the proofs computed from them (with their caches).
  private readonly proofs: LogProofs;
  /**
   * What open recovered: entries replayed from the journal (acknowledged but not yet integrated
   * before a stop), and the bytes of a torn final write it cut (`tornBytes`, when there was one).
   */
  recovered: { from: number; to: number; tornBytes?: number } | undefined;

  private constructor(opts: LogOptions) {
    this.opts = opts;
    this.caches = opts.caches ?? createReadCaches();
    this.name = opts.name;
    this.origin = opts.origin;
    this.verifier = opts.verifier;
    this.proofs = new LogProofs(
      opts.name,
      opts.storage.blobs,
      () => this.checkpoint.size,
      (level) => this.edgeTiles.get(level),
      this.caches.tiles,
    );
    this.sequencer = new Sequencer(
      opts.config.sequencer,
      (items) => this.commit(items),
      (it) => it.eventJson.length + 200,
    );
  }

  /** Opens a log, repairing whatever a crash left behind (see `recover`). */
  static async open(opts: LogOptions): Promise<Log> {
    const log = new Log(opts);
    await log.recover();
    return log;
  }

  /**
   * Integrates at the next tick of `integrator.intervalMs` after entries became pending, and at the
   * ticks after that while any are (a failed integration is retried so). Ticks fall every interval
   * from the log's open, as a steady interval timer's would: an entry waits half an interval on
   * average, and logs written at the same moment do not all integrate at the same moment.
   * The timer is armed only while there is work: an idle log has none, so a data directory of
   * thousands of mostly idle logs does not wake the process thousands of times a second.
   */
  private scheduleIntegration(): void {
    if (this.timer !== undefined || this.closed) return;
    const interval = this.opts.config.integrator.intervalMs;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.integrate()
          .catch((err) => this.reportIntegrationError(err))
          .finally(() => {
            if (this.pendingRecords.length > 0) this.scheduleIntegration();
          });
      },
      interval - ((performance.now() - this.tickOrigin) % interval),
    );
    this.timer.unref();
  }

  /** The C2SP minimum index: entries below it were pruned and are not served (0 = never pruned). */
  get minimumIndex(): number {
    return this.minIndex;
  }

  /**
   * Raises the minimum index once the pruner has persisted it (retention/pruner.ts): from now on
   * entries below it are refused with `log.pruned`, so their bundles may then be deleted.
   */
  advanceMinimumIndex(minimumIndex: number): void {
    if (
      !Number.isSafeInteger(minimumIndex) ||
      minimumIndex % PRUNE_GRANULE !== 0 ||
      minimumIndex > this.checkpoint.size
    ) {
      throw new LogError(
        'log.out_of_range',
        `minimum index ${minimumIndex} must be a multiple of ${PRUNE_GRANULE} within the signed tree (size ${this.checkpoint.size})`,
      );
    }
    if (minimumIndex > this.minIndex) {
      this.minIndex = minimumIndex;
      for (const b of this.bundleCache.keys()) if (b < minimumIndex / TILE_WIDTH) this.bundleCache.delete(b);
    }
  }

  /**
   * A prune statement (core/prune-statement.ts) signed with this log's key, at the latest signed
   * checkpoint: entries below `minimumIndex` were all received before `receivedBefore`.
   */
  signPruneStatement(minimumIndex: number, receivedBefore: string): string {
    const cp = this.checkpoint;
    return signPruneStatement(
      { origin: this.origin, minimumIndex, treeSize: cp.size, rootHash: cp.rootHash, receivedBefore },
      this.opts.signer,
    );
  }

  /** Tree size of the last signed checkpoint. */
  get treeSize(): number {
    return this.checkpoint.size;
  }

  /** Number of durable (acknowledged) entries, integrated or not. */
  get size(): number {
    return this.sequencedSize;
  }

  /** True once an append failed in storage: the log takes no more appends until reopened. */
  get failed(): boolean {
    return this.sequencer.failed;
  }

  get queueDepth(): number {
    return this.sequencer.depth;
  }

  latestCheckpoint(): SignedCheckpoint {
    return this.checkpoint;
  }

  /** Appends prepared events; resolves once they are durable. */
  add(events: readonly PreparedEvent[]): Promise<AppendedEntry[]> {
    if (this.closed) return Promise.reject(new LogError('log.closed', `log ${this.name} is closed`));
    return this.sequencer.submit(events);
  }

  /**
   * The sequencing commit (runs one at a time, from the sequencer):
   *  1. assign indices and build records chained by `prev` (memory only; a crash loses nothing acked);
   *  2. journal.append: durable. Crash before it completes: nothing of this batch was acked; `open`
   *     keeps only whole appends of a torn tail, which are then integrated like any others (an
   *     unacknowledged but durable record is harmless: the client retries with its id and gets it back);
   *  3. observers (index feed, id registry) learn the records; then the sequencer resolves the acks.
   */
  private async commit(items: PreparedEvent[]): Promise<AppendedEntry[]> {
    const receivedAt = formatTimestamp(this.opts.clock.now());
    const first = this.sequencedSize;
    const run = buildRecordRun({
      log: this.name,
      firstIndex: first,
      receivedAt,
      prev: this.lastLeafHash,
      prevHex: this.lastLeafHex,
      events: items,
    });
    const started = performance.now();
    await this.journal.append(run.records);
    this.opts.onCommit?.(items.length, (performance.now() - started) / 1000);
    // Durable from here on. Update memory only after the write, so a failed append leaves no trace.
    const n = items.length;
    const sequenced = new Array<SequencedRecord>(n);
    const acks = new Array<AppendedEntry>(n);
    const { leafHashes } = run;
    for (let i = 0; i < n; i++) {
      const id = items[i]!.id;
      const leafHash = new Uint8Array(leafHashes.buffer, leafHashes.byteOffset + i * 32, 32);
      this.pendingRecords.push(run.records[i]!);
      this.pendingLeafHashes.push(leafHash);
      sequenced[i] = new SequencedRecord(
        first + i,
        id,
        leafHash,
        run.records[i]!,
        receivedAt,
        items[i]!.derived,
      );
      acks[i] = { index: first + i, id, leafHash: run.leafHashHex[i]!, receivedAt };
    }
    this.sequencedSize = first + n;
    this.lastLeafHash = this.pendingLeafHashes[this.pendingLeafHashes.length - 1]!;
    this.lastLeafHex = run.leafHashHex[n - 1];
    this.opts.onSequenced?.(sequenced);
    this.scheduleIntegration();
    if (
      this.pendingRecords.length >= this.opts.config.integrator.maxPending &&
      this.integrating === undefined
    ) {
      this.integrate().catch((err) => this.reportIntegrationError(err));
    }
    return acks;
  }

  /**
   * Resolves with a signed checkpoint covering at least `size` entries, integrating now if needed
   * (used by `wait=checkpoint`).
   */
  async checkpointCovering(size: number): Promise<SignedCheckpoint> {
    while (this.checkpoint.size < size) {
      if (size > this.sequencedSize) throw new LogError('log.out_of_range', `size ${size} is beyond the log`);
      await this.integrate();
    }
    return this.checkpoint;
  }

  /** Integrates everything sequenced so far; concurrent calls share the run (and one more after it). */
  integrate(): Promise<SignedCheckpoint> {
    if (this.integrating) {
      return this.integrating.then(() => this.integrate());
    }
    this.integrating = this.integrateOnce().finally(() => {
      this.integrating = undefined;
    });
    return this.integrating;
  }

  /**
   * The integration commit protocol. Everything before step 4 only adds objects that no signed
   * checkpoint refers to yet, so a crash anywhere before it leaves the log at its previous checkpoint
   * and `open` simply integrates the journal again (rewriting identical immutable objects is a no-op).
   */
  private async integrateOnce(): Promise<SignedCheckpoint> {
    const oldSize = this.checkpoint.size;
    const count = this.pendingRecords.length;
    if (count === 0) return this.checkpoint;
    const newSize = oldSize + count;
    const records = this.pendingRecords.slice(0, count);
    const leafHashes = this.pendingLeafHashes.slice(0, count);

    // 1. Compute hash tiles and the new root on a copy of the compact range (memory only).
    const range = CompactRange.fromHashes(this.range.size, this.range.hashes());
    const { tiles, root } = buildTiles(oldSize, (level) => this.edgeTiles.get(level), leafHashes, range);

    // 2. Entry bundles: the partial bundle at the edge grows, full ones are sealed.
    const bundles = this.bundlesFor(oldSize, records);

    // 3. Write tiles and bundles, durable on resolve. Full ones are immutable (identical rewrites
    //    after a crash are accepted); partial ones carry their width in the path, so no write here
    //    ever changes an object that a signed checkpoint refers to.
    const blobs = this.opts.storage.blobs;
    await Promise.all([
      ...tiles.map((t) => blobs.put(tilePath(t.ref), t.bytes, { immutable: t.ref.width === TILE_WIDTH })),
      ...bundles.map((b) =>
        blobs.put(entriesPath(b.index, b.width), b.bytes, { immutable: b.width === TILE_WIDTH }),
      ),
    ]);

    // 4. Sign and commit the checkpoint in the state store (compare-and-swap). This is the point of
    //    no return: once it succeeds, the log has signed tree `newSize`. Crash before: as above.
    //    Crash after: `open` finds the state ahead of the public checkpoint blobs and rewrites them.
    const cp: Checkpoint = { origin: this.origin, size: newSize, rootHash: root, extensions: [] };
    const note = signCheckpoint(cp, this.opts.signer);
    this.stateVersion = await this.commitCheckpointState(note);
    const signed: SignedCheckpoint = { size: newSize, rootHash: root, note };

    // 5. Publish: history (immutable) then the latest checkpoint. Crash between: `open` republishes.
    await this.publish(signed);

    // 6. Move memory to the new tree, then let the journal drop what is now in bundles.
    //    Crash before truncation: `open` skips journal records below the checkpoint.
    this.range = range;
    const built = new Map(tiles.map((t) => [tilePath(t.ref), t.bytes]));
    const edges = new Map<number, Uint8Array>();
    for (const ref of partialTiles(newSize)) {
      edges.set(ref.level, built.get(tilePath(ref)) ?? this.edgeTiles.get(ref.level)!);
    }
    this.edgeTiles = edges;
    const last = bundles[bundles.length - 1];
    this.edgeBundle = last && last.width < TILE_WIDTH ? last.entries : [];
    this.pendingRecords.splice(0, count);
    this.pendingLeafHashes.splice(0, count);
    this.checkpoint = signed;
    await this.journal.truncateBefore(newSize);
    return signed;
  }

  /**
   * Compare-and-swap of the signed checkpoint into the state store. A write that failed after it
   * took effect (a lost reply) leaves our version stale: if the store already holds exactly this
   * note, that earlier attempt succeeded and we adopt its version; anything else is a real conflict.
   */
  private async commitCheckpointState(note: string): Promise<string> {
    const state = this.opts.storage.state;
    try {
      return await state.compareAndSwap(STATE_CHECKPOINT, this.stateVersion, utf8(note));
    } catch (err) {
      if ((err as { code?: string }).code !== 'storage.cas_conflict') throw err;
      const current = await state.read(STATE_CHECKPOINT);
      if (current && new TextDecoder().decode(current.value) === note) return current.version;
      throw err;
    }
  }

  private bundlesFor(
    oldSize: number,
    records: readonly Uint8Array[],
  ): Array<{ index: number; width: number; entries: Uint8Array[]; bytes: Uint8Array }> {
    const out: Array<{ index: number; width: number; entries: Uint8Array[]; bytes: Uint8Array }> = [];
    let index = Math.floor(oldSize / TILE_WIDTH);
    let current = this.edgeBundle.slice();
    for (const r of records) {
      current.push(r);
      if (current.length === TILE_WIDTH) {
        out.push({ index, width: TILE_WIDTH, entries: current, bytes: encodeBundle(current) });
        current = [];
        index++;
      }
    }
    if (current.length > 0)
      out.push({ index, width: current.length, entries: current, bytes: encodeBundle(current) });
    return out;
  }

  private async publish(cp: SignedCheckpoint): Promise<void> {
    const bytes = utf8(cp.note);
    await this.opts.storage.blobs.put(checkpointHistoryKey(cp.size), bytes, { immutable: true });
    await this.opts.storage.blobs.put('checkpoint', bytes);
  }

  private reportIntegrationError(err: unknown): void {
    this.opts.logger.error({ err, log: this.name }, 'integration failed; will retry at the next interval');
  }

  /**
   * Recovery at open. Reads the last signed checkpoint from the state store (the truth about what
   * this log has signed), checks that the tiles reproduce its root, reloads the right edge, replays
   * journal records past it, and republishes the checkpoint blobs. Refuses to open when storage holds
   * less than the checkpoint covers (invariant 2: never sign a tree inconsistent with an earlier one).
   */
  private async recover(): Promise<void> {
    const { storage } = this.opts;
    this.minIndex = await readMinimumIndex(storage.state);
    const state = await storage.state.read(STATE_CHECKPOINT);
    let size = 0;
    if (state === undefined) {
      this.checkpoint = this.signEmpty();
    } else {
      const note = new TextDecoder().decode(state.value);
      const cp = openCheckpoint(note, this.verifier, this.origin);
      this.checkpoint = { size: cp.size, rootHash: cp.rootHash, note };
      this.stateVersion = state.version;
      size = cp.size;
    }

    // The published checkpoint can never be ahead of the state store (it is written after the CAS):
    // if it is, the state was rolled back or lost, and signing from it could fork the log.
    const published = await storage.blobs.get('checkpoint');
    if (published !== undefined) {
      const pub = openCheckpoint(new TextDecoder().decode(published), this.verifier, this.origin);
      if (pub.size > size) {
        throw new LogError(
          'log.storage_behind',
          `log ${this.name}: the published checkpoint covers ${pub.size} entries but the state store only ${size}; the state was rolled back or lost, refusing to start`,
          { details: { log: this.name, checkpointSize: size, publishedSize: pub.size } },
        );
      }
    }
    await this.refuseIfHistoryAhead(size);
    if (size > 0) await this.loadEdge(size);

    this.journal = await storage.openJournal(size);
    if (this.journal.start > size) {
      throw new LogError(
        'log.storage_behind',
        `log ${this.name}: the journal starts at ${this.journal.start} but the last signed checkpoint covers only ${size}; entries ${size}..${this.journal.start - 1} are missing`,
        { details: { log: this.name, checkpointSize: size, journalStart: this.journal.start } },
      );
    }
    if (this.journal.end < size) {
      throw new LogError(
        'log.storage_behind',
        `log ${this.name}: the journal ends at ${this.journal.end}, before the last signed checkpoint (${size}); storage was rolled back`,
        { details: { log: this.name, checkpointSize: size, journalEnd: this.journal.end } },
      );
    }
    await this.refuseIfSealedAhead(size, this.journal.end);
    // Replay records sequenced after the checkpoint, re-checking the chain they carry.
    this.sequencedSize = size;
    if (this.journal.end > size) {
      const records = await this.journal.read(size, this.journal.end);
      for (const bytes of records) {
        const leaf = hashLeaf(bytes);
        this.checkReplayedRecord(bytes, this.sequencedSize);
        this.pendingRecords.push(bytes);
        this.pendingLeafHashes.push(leaf);
        this.lastLeafHash = leaf;
        this.sequencedSize++;
      }
      this.opts.logger.info(
        { log: this.name, from: size, to: this.sequencedSize },
        'recovered sequenced entries from the journal',
      );
    }
    // A cut torn write is in the audit trail too (service.recovery): after a crash it is expected;
    // without one, someone cut the journal.
    const torn = this.journal.discardedBytes ?? 0;
    if (this.sequencedSize > size || torn > 0) {
      this.recovered = { from: size, to: this.sequencedSize, ...(torn > 0 ? { tornBytes: torn } : {}) };
    }
    if (state !== undefined) await this.publish(this.checkpoint);
    if (this.pendingRecords.length > 0) await this.integrate();
  }

  /**
   * Every signed checkpoint is also kept under `checkpoints/` (step 5 of the commit protocol, after
   * the state's compare-and-swap), so none there may be larger than the state's. One that is means
   * the state (and perhaps the journal and the published checkpoint) came back from an older copy
   * while newer files stayed: a partial restore. Signing from the older state would fork the log,
   * so open refuses, naming both sizes. A history object that does not verify is refused too.
   */
  private async refuseIfHistoryAhead(size: number): Promise<void> {
    const history = await this.opts.storage.blobs.list('checkpoints/');
    let newest: string | undefined;
    for (let i = history.length - 1; i >= 0 && newest === undefined; i--) {
      if (HISTORY_KEY.test(history[i]!)) newest = history[i];
    }
    if (newest === undefined || Number(newest.slice('checkpoints/'.length)) <= size) return;
    const bytes = await this.opts.storage.blobs.get(newest);
    if (bytes === undefined) return; // removed since the listing: nothing newer is kept
    let signed: number;
    try {
      signed = openCheckpoint(new TextDecoder().decode(bytes), this.verifier, this.origin).size;
    } catch (err) {
      throw new LogError(
        'log.inconsistent',
        `log ${this.name}: ${newest} does not verify: ${(err as Error).message}`,
        {
          details: { log: this.name, object: newest },
        },
      );
    }
    if (signed > size) {
      throw new LogError(
        'log.storage_behind',
        `log ${this.name}: ${newest} is a signed checkpoint of ${signed} entries but the state store covers only ${size}; the state was rolled back (a partial restore?), refusing to start`,
        { details: { log: this.name, checkpointSize: size, signedSize: signed, object: newest } },
      );
    }
  }

  /**
   * Resuming from a state older than the tiles (`sealedPastJournal`) would acknowledge appends at
   * indices whose sealed objects hold other entries, and never sign them.
   */
  private async refuseIfSealedAhead(size: number, journalEnd: number): Promise<void> {
    const key = await sealedPastJournal(this.opts.storage.blobs, size, journalEnd);
    if (key === undefined) return;
    throw new LogError(
      'log.storage_behind',
      `log ${this.name}: ${key} is sealed past the last signed checkpoint (${size} entries) and the journal, which ends at ${journalEnd}, does not hold its entries; the state and journal came from an older copy than the tiles (a partial restore?), refusing to start`,
      { details: { log: this.name, checkpointSize: size, journalEnd, object: key } },
    );
  }

  /** A replayed record must be the one this log would have written at `index` after `lastLeafHash`. */
  private checkReplayedRecord(bytes: Uint8Array, index: number): void {
    let rec: { log?: unknown; index?: unknown; prev?: unknown };
    try {
      rec = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (cause) {
      throw new LogError('log.inconsistent', `log ${this.name}: journal record ${index} is not valid JSON`, {
        cause,
      });
    }
    if (rec.log !== this.name || rec.index !== index || rec.prev !== toHex(this.lastLeafHash)) {
      throw new LogError(
        'log.inconsistent',
        `log ${this.name}: journal record ${index} does not continue the chain (log, index or prev differ)`,
        { details: { log: this.name, index } },
      );
    }
  }

  /** Loads the compact range, edge tiles, edge bundle and last leaf hash for tree size `size`. */
  private async loadEdge(size: number): Promise<void> {
    const edge = await loadSignedEdge(this.name, this.opts.storage.blobs, size, this.checkpoint.rootHash);
    this.range = edge.range;
    this.lastLeafHash = edge.lastLeaf;
    this.edgeTiles = edge.tiles;
    this.edgeBundle = edge.bundle;
  }

  private signEmpty(): SignedCheckpoint {
    const rootHash = new CompactRange().root();
    const note = signCheckpoint({ origin: this.origin, size: 0, rootHash, extensions: [] }, this.opts.signer);
    return { size: 0, rootHash, note };
  }

  // ---------------------------------------------------------------- reads

  /** The exact record bytes at `index` (any durable entry, integrated or not). */
  async readRecord(index: number): Promise<Uint8Array> {
    const [rec] = await this.readRecords(index, index + 1);
    return rec!;
  }

  /**
   * Records `[from, to)` of durable entries. Bulk sequential readers (the index feed, exports,
   * checks) pass `cache: false`, so a scan of the whole log does not push the bundles that point
   * reads share out of the bundle cache (it still uses the ones already there).
   */
  async readRecords(from: number, to: number, options: { cache?: boolean } = {}): Promise<Uint8Array[]> {
    if (
      !Number.isSafeInteger(from) ||
      !Number.isSafeInteger(to) ||
      from < 0 ||
      to < from ||
      to > this.sequencedSize
    ) {
      throw new LogError(
        'log.out_of_range',
        `entries ${from}..${to} are outside the log (size ${this.sequencedSize})`,
      );
    }
    if (from < this.minIndex && to > from) throw this.pruned(from);
    const out: Uint8Array[] = [];
    const integrated = this.checkpoint.size;
    let i = from;
    while (i < to && i < integrated) {
      const bundleIndex = Math.floor(i / TILE_WIDTH);
      const entries = await this.readBundle(bundleIndex, integrated, options.cache !== false);
      const end = Math.min(to, integrated, (bundleIndex + 1) * TILE_WIDTH);
      for (; i < end; i++) out.push(entries[i - bundleIndex * TILE_WIDTH]!);
    }
    // After the awaits, integration may have moved some of the rest from pending into bundles: read
    // it again as a whole (bundle by bundle, not entry by entry); otherwise it is all in memory.
    if (i < to && i < this.checkpoint.size) {
      for (const r of await this.readRecords(i, to, options)) out.push(r);
      return out;
    }
    for (const base = this.checkpoint.size; i < to; i++) out.push(this.pendingRecords[i - base]!);
    return out;
  }

  private async readBundle(bundleIndex: number, treeSize: number, cache = true): Promise<Uint8Array[]> {
    const full = (bundleIndex + 1) * TILE_WIDTH <= treeSize;
    if (full) {
      const hit = this.bundleCache.get(bundleIndex);
      if (hit) return hit;
    }
    const width = full ? TILE_WIDTH : treeSize - bundleIndex * TILE_WIDTH;
    if (!full) {
      // A partial bundle is served from memory only: the edge bundle (checked against the signed
      // checkpoint at open, grown from memory since). A read that began at an older tree size, while
      // integration moved on, takes the records from the bundle as it is now (the edge, or full and
      // checked), never from the older partial file, which nothing checks any more.
      const current = this.checkpoint.size;
      if (bundleIndex === Math.floor(current / TILE_WIDTH) && width <= this.edgeBundle.length) {
        return width === this.edgeBundle.length ? this.edgeBundle : this.edgeBundle.slice(0, width);
      }
      if ((bundleIndex + 1) * TILE_WIDTH <= current) {
        return (await this.readBundle(bundleIndex, current, cache)).slice(0, width);
      }
      throw new LogError(
        'log.inconsistent',
        `log ${this.name}: entry bundle ${entriesPath(bundleIndex, width)} is not in the signed tree`,
      );
    }
    const key = entriesPath(bundleIndex, width);
    const bytes = await this.opts.storage.blobs.get(key);
    if (bytes === undefined) {
      // The pruner may have raised the minimum index and deleted the bundle while this read was
      // on its way: that is a pruned entry, not a damaged log.
      if ((bundleIndex + 1) * TILE_WIDTH <= this.minIndex) throw this.pruned(bundleIndex * TILE_WIDTH);
      throw new LogError('log.inconsistent', `log ${this.name}: entry bundle ${key} is missing`);
    }
    // Checked against the signed tree (its level-0 tile) before it is used.
    const entries = await this.proofs.fullBundle(bundleIndex, bytes, { cache });
    if (cache) this.caches.bundles.set(this.bundleCache, bundleIndex, entries);
    return entries;
  }

  /**
   * Bytes of a tile as served on the C2SP read path. A partial tile of width W is served from the
   * current edge tile when W is at most its width (tiles only grow, so a narrower one is a prefix).
   */
  async readTileBytes(ref: TileRef & { kind: 'hash' | 'entries' }): Promise<Uint8Array | undefined> {
    if (ref.kind === 'hash') return this.proofs.hashTile(ref);
    const size = this.checkpoint.size;
    const available = Math.min(TILE_WIDTH, size - ref.index * TILE_WIDTH);
    if (available <= 0 || ref.width > available) return undefined;
    // C2SP tlog-tiles pruning: a bundle whose end index is at or below the minimum index is denied.
    if ((ref.index + 1) * TILE_WIDTH <= this.minIndex) throw this.pruned(ref.index * TILE_WIDTH);
    const entries = await this.readBundle(ref.index, size);
    return ref.width === entries.length ? encodeBundle(entries) : encodeBundle(entries.slice(0, ref.width));
  }

  inclusionProof(index: number, treeSize: number): Promise<Uint8Array[]> {
    return this.proofs.inclusionProof(index, treeSize);
  }

  consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    return this.proofs.consistencyProof(from, to);
  }

  /** A C2SP tlog-proof receipt for `index` against the latest checkpoint (which must cover it). */
  async receipt(index: number): Promise<string> {
    const cp = this.checkpoint;
    const proof = await this.inclusionProof(index, cp.size);
    return formatReceipt({ index, proof, checkpoint: cp.note });
  }

  private pruned(index: number): LogError {
    return new LogError(
      'log.pruned',
      `log ${this.name}: entry ${index} was pruned by the retention policy; entries start at ${this.minIndex}`,
      { details: { log: this.name, index, minimum_index: this.minIndex } },
    );
  }

  /** Finishes queued appends, integrates them, and releases the journal. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.sequencer.close();
    try {
      if (this.integrating) await this.integrating.catch(() => undefined);
      if (this.pendingRecords.length > 0) await this.integrate();
    } finally {
      await this.journal.close();
    }
  }
}
