/**
 * The read side of a log's hash tiles: the tiles as served on the C2SP read path, and inclusion and
 * consistency proofs computed from them, with the caches that make a busy proof endpoint cheap.
 * Everything here reads tiles the log has already published (at or below its latest checkpoint),
 * which never change once written, so every cache is safe without invalidation.
 *
 * A full hash tile read from storage is checked against the entry its parent tile holds for it
 * before it is used or cached (the parent checked the same way when full; the partial tiles at
 * the right edge were checked against the signed checkpoint at open, and are written from memory
 * since). So a tile damaged on disk behind the edge is refused as `log.inconsistent`, naming it,
 * instead of yielding proofs that fail at the client. Each full tile is checked once per cache
 * life: 255 hashes, whose interior results the proofs over it reuse.
 *
 * Full entry bundles read from storage are checked the same way (`fullBundle`): every record's leaf
 * hash against the checked level-0 tile, so a damaged bundle is refused, naming it, instead of
 * serving records whose inclusion proofs then fail at the client.
 */

import { bytesEqual } from '../core/crypto.js';
import { HASH_SIZE, hashLeaf } from '../core/merkle.js';
import { EdgeFoldCache, type HashReader, proveConsistency, proveInclusion } from '../core/proof.js';
import {
  decodeBundle,
  entriesPath,
  fullTileRoot,
  TILE_WIDTH,
  TileHashCache,
  type TileRef,
  tileHashReader,
  tilePath,
} from '../core/tile.js';
import type { BlobStore } from '../storage/types.js';
import { LogError } from './errors.js';
import { CacheBudget, DEFAULT_READ_CACHE } from './read-cache.js';

export class LogProofs {
  // Hash tiles by path, and the interior node hashes computed from them (keyed by the same bytes),
  // shared by every proof: neighbouring proofs touch the same few tiles.
  private readonly tileCache = new Map<string, Uint8Array>();
  private readonly tileHashCache = new TileHashCache();
  // Proofs read hash tiles by (level, index) from `proofTiles`: the widest version of each tile seen
  // (full, or the latest edge tile), which serves every narrower ref too (tiles only grow at the
  // right). So a proof for an older tree size reuses the interior hashes memoised for that tile
  // object instead of recomputing them for a fresh narrower view, and a hit costs no tile path
  // string and no promise chain. `proofReader` is the reader of the last tree size proven.
  private readonly proofTiles = new Map<number, Uint8Array>();
  private proofReader: { size: number; read: HashReader } | undefined;
  // Right-edge proof elements of the latest tree sizes, shared by every proof against them.
  private readonly edgeFolds = new EdgeFoldCache();

  /**
   * `size()` is the tree size of the log's latest checkpoint: every tile up to it is published.
   * `edgeTile(level)` is the log's own partial tile of that level at that size (checked against the
   * signed checkpoint at open, grown in memory since): partial tiles are taken from there, never
   * read back from storage, where an older or rewritten copy could sit.
   */
  constructor(
    private readonly name: string,
    private readonly blobs: Pick<BlobStore, 'get'>,
    private readonly size: () => number,
    private readonly edgeTile: (level: number) => Uint8Array | undefined,
    /**
     * The bound on tiles cached here, shared with the other logs of an engine (read-cache.ts);
     * by default one of its own.
     */
    private readonly budget: CacheBudget = new CacheBudget(DEFAULT_READ_CACHE.tiles),
  ) {}

  /**
   * Bytes of a hash tile as served on the C2SP read path, or undefined when the latest checkpoint
   * does not cover it. A partial tile of width W is served from the current edge tile when W is at
   * most its width (tiles only grow, so a narrower one is a prefix). `cache: false` (bulk scans)
   * uses a cached tile but does not add the one it reads, so a scan does not push out proof tiles.
   */
  async hashTile(ref: TileRef, options: { cache?: boolean } = {}): Promise<Uint8Array | undefined> {
    const levelSize = Math.floor(this.size() / TILE_WIDTH ** ref.level);
    const available = Math.min(TILE_WIDTH, levelSize - ref.index * TILE_WIDTH);
    if (available <= 0 || ref.width > available) return undefined;
    if (available < TILE_WIDTH) {
      const edge = this.edgeTile(ref.level);
      if (edge === undefined || edge.length !== available * HASH_SIZE) {
        throw new LogError(
          'log.inconsistent',
          `log ${this.name}: the edge tile of level ${ref.level} does not have ${available} hashes`,
          { details: { log: this.name, level: ref.level } },
        );
      }
      return ref.width === available ? edge : edge.subarray(0, ref.width * HASH_SIZE);
    }
    const key = tilePath({ level: ref.level, index: ref.index, width: available });
    let bytes = this.tileCache.get(key);
    if (bytes === undefined) {
      bytes = await this.blobs.get(key);
      if (bytes === undefined) return undefined;
      await this.checkFullTile(ref.level, ref.index, bytes);
      // Tiles at a path never change (the width is in the path), so caching them is always safe.
      if (options.cache !== false) this.budget.set(this.tileCache, key, bytes);
    }
    return ref.width === available ? bytes : bytes.subarray(0, ref.width * 32);
  }

  /** Refuses a full tile whose hashes do not make the entry its parent tile holds for it. */
  async checkFullTile(level: number, index: number, bytes: Uint8Array): Promise<void> {
    const path = tilePath({ level, index, width: TILE_WIDTH });
    const damaged = (why: string) =>
      new LogError('log.inconsistent', `log ${this.name}: hash tile ${path} ${why}; run indelible verify`, {
        details: { log: this.name, tile: path },
      });
    if (bytes.length !== TILE_WIDTH * HASH_SIZE) throw damaged(`holds ${bytes.length} bytes`);
    const at = index % TILE_WIDTH;
    const parentIndex = Math.floor(index / TILE_WIDTH);
    // A full tile's node exists at the next level, so its parent holds at least at + 1 hashes.
    const parentSize = Math.floor(this.size() / TILE_WIDTH ** (level + 1));
    const width = Math.min(TILE_WIDTH, parentSize - parentIndex * TILE_WIDTH);
    const parentRef = { level: level + 1, index: parentIndex, width };
    const parent = width > at ? await this.hashTile(parentRef) : undefined;
    if (parent === undefined) throw damaged(`has no parent tile ${tilePath(parentRef)}`);
    const expected = parent.subarray(at * HASH_SIZE, (at + 1) * HASH_SIZE);
    if (!bytesEqual(fullTileRoot(bytes, this.tileHashCache), expected)) {
      throw damaged(`does not match entry ${at} of its parent ${tilePath(parentRef)}`);
    }
  }

  /**
   * The records of the full entry bundle `index`, decoded from `bytes` as read from storage, once
   * each record's leaf hash matches its entry in the level-0 hash tile (checked by `hashTile`).
   * 256 leaf hashes: the caller reads a bundle from storage once per cache life. `cache: false`
   * (bulk scans) leaves the tile cache as it is (see `hashTile`).
   */
  async fullBundle(
    index: number,
    bytes: Uint8Array,
    options: { cache?: boolean } = {},
  ): Promise<Uint8Array[]> {
    const path = entriesPath(index, TILE_WIDTH);
    const damaged = (why: string) =>
      new LogError(
        'log.inconsistent',
        `log ${this.name}: entry bundle ${path} ${why}; run indelible verify`,
        {
          details: { log: this.name, bundle: path },
        },
      );
    let records: Uint8Array[];
    try {
      records = decodeBundle(bytes, TILE_WIDTH);
    } catch (err) {
      throw damaged(`cannot be read (${(err as Error).message})`);
    }
    const leaves = await this.hashTile({ level: 0, index, width: TILE_WIDTH }, options);
    if (leaves === undefined)
      throw damaged(`has no hash tile ${tilePath({ level: 0, index, width: TILE_WIDTH })}`);
    for (let i = 0; i < TILE_WIDTH; i++) {
      if (!bytesEqual(hashLeaf(records[i]!), leaves.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE))) {
        throw damaged(`holds a record at index ${index * TILE_WIDTH + i} that is not the logged one`);
      }
    }
    return records;
  }

  async inclusionProof(index: number, treeSize: number): Promise<Uint8Array[]> {
    this.checkProofSize(treeSize);
    if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) {
      throw new LogError('log.out_of_range', `index ${index} is not below tree size ${treeSize}`);
    }
    return proveInclusion(index, treeSize, this.hashReader(treeSize), this.edgeFolds);
  }

  async consistencyProof(from: number, to: number): Promise<Uint8Array[]> {
    this.checkProofSize(to);
    if (!Number.isSafeInteger(from) || from < 0 || from > to) {
      throw new LogError(
        'log.out_of_range',
        `consistency proof needs 0 <= from <= to, got ${from} and ${to}`,
      );
    }
    return proveConsistency(from, to, this.hashReader(to), this.edgeFolds);
  }

  /** A hash reader over the tiles of the current checkpoint, valid for any tree size up to it. */
  private hashReader(treeSize: number): HashReader {
    const last = this.proofReader;
    if (last !== undefined && last.size === treeSize) return last.read;
    const read = tileHashReader((ref) => this.proofTile(ref), treeSize, this.tileHashCache);
    this.proofReader = { size: treeSize, read };
    return read;
  }

  /** A hash tile at least `ref.width` wide (possibly wider), already resolved when in memory. */
  private proofTile(ref: TileRef): Promise<Uint8Array> {
    // Tile levels are below 8 for any safe tree size (53 levels / 8 per tile), as in tileHashReader.
    const key = ref.index * 8 + ref.level;
    const known = this.proofTiles.get(key);
    if (known !== undefined && known.length >= ref.width * 32) return Promise.resolve(known);
    return this.loadProofTile(ref, key);
  }

  /** Reads the widest version of `ref`'s tile in the current checkpoint and keeps it for proofs. */
  private async loadProofTile(ref: TileRef, key: number): Promise<Uint8Array> {
    const levelSize = Math.floor(this.size() / TILE_WIDTH ** ref.level);
    const width = Math.min(TILE_WIDTH, levelSize - ref.index * TILE_WIDTH);
    const bytes = width >= ref.width ? await this.hashTile({ ...ref, width }) : undefined;
    if (bytes === undefined)
      throw new LogError('log.inconsistent', `log ${this.name}: tile ${tilePath(ref)} is missing`);
    const known = this.proofTiles.get(key);
    if (known === undefined || known.length < bytes.length) this.budget.set(this.proofTiles, key, bytes);
    return bytes;
  }

  private checkProofSize(treeSize: number): void {
    const size = this.size();
    if (!Number.isSafeInteger(treeSize) || treeSize < 1 || treeSize > size) {
      throw new LogError(
        'log.out_of_range',
        `tree size ${treeSize} is not between 1 and the latest checkpoint size ${size}`,
      );
    }
  }
}
