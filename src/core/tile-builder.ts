/**
 * The pure part of integration: folding new leaf hashes into C2SP hash tiles.
 *
 * The engine keeps a CompactRange and the right-edge partial tiles in memory; `buildTiles`
 * appends the new leaves to the range and returns every tile that appeared or grew, plus the new
 * root. Nothing is written here: the caller stores the tiles (full ones immutably), signs the
 * checkpoint, and only then keeps the mutated range.
 */
import { type CompactRange, HASH_SIZE, MerkleError, pow2 } from './merkle.js';
import { TILE_HEIGHT, TILE_WIDTH, TileError, type TileRef, tilePath } from './tile.js';

export interface BuiltTile {
  readonly ref: TileRef;
  /** Exactly `ref.width` hashes. Owned by the caller. */
  readonly bytes: Uint8Array;
  /** True for 256-hash tiles: immutable from now on (C2SP, DESIGN invariant 3). */
  readonly full: boolean;
}

export interface BuildResult {
  /** Ordered by level, then index; a level's partial tile (if it grew) comes last. */
  readonly tiles: BuiltTile[];
  /** MTH of the tree after the append. */
  readonly root: Uint8Array;
}

/** The tile being filled at one tile level. */
interface OpenTile {
  readonly index: number;
  readonly bytes: Uint8Array;
  width: number;
}

/**
 * Appends `newLeafHashes` to `range` (whose size must be `oldSize`) and returns the tiles that
 * changed. `readPartial(level)` must return the partial tile of that level for the tree of
 * `oldSize` — exactly `floor(oldSize / 256^level) mod 256` hashes — and is asked only for levels
 * that gain hashes. Everything is validated before the first append, so when this throws,
 * `range` is unchanged.
 */
export function buildTiles(
  oldSize: number,
  readPartial: (level: number) => Uint8Array | undefined,
  newLeafHashes: readonly Uint8Array[],
  range: CompactRange,
): BuildResult {
  if (range.size !== oldSize) {
    throw new TileError('tile.range_mismatch', `compact range has size ${range.size}, expected ${oldSize}`, {
      details: { oldSize, rangeSize: range.size },
    });
  }
  const newSize = oldSize + newLeafHashes.length;
  if (!Number.isSafeInteger(newSize)) {
    throw new TileError('tile.invalid_size', 'tree size would exceed 2^53 − 1');
  }
  for (const h of newLeafHashes) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new MerkleError('merkle.invalid_hash', `leaf hashes must be ${HASH_SIZE} bytes`);
    }
  }

  // Reopen the old partial tile of every level that gains hashes.
  const open: Array<OpenTile | undefined> = [];
  for (let level = 0; ; level++) {
    const before = Math.floor(oldSize / pow2(TILE_HEIGHT * level));
    const after = Math.floor(newSize / pow2(TILE_HEIGHT * level));
    if (after === 0) break;
    const width = before % TILE_WIDTH;
    if (after === before || width === 0) continue;
    const ref: TileRef = { level, index: Math.floor(before / TILE_WIDTH), width };
    const old = readPartial(level);
    if (!(old instanceof Uint8Array) || old.length !== width * HASH_SIZE) {
      throw new TileError(
        'tile.invalid_tile',
        `partial tile ${tilePath(ref)} is missing or not ${width} hashes`,
        {
          details: { ...ref, bytes: old?.length },
        },
      );
    }
    const bytes = new Uint8Array(TILE_WIDTH * HASH_SIZE);
    bytes.set(old);
    open[level] = { index: ref.index, bytes, width };
  }

  const tiles: BuiltTile[] = [];
  // Each node of level 8·L is the next hash of the open tile at level L (nodes arrive in order).
  const visit = (nodeLevel: number, nodeIndex: number, hash: Uint8Array): void => {
    if (nodeLevel % TILE_HEIGHT !== 0) return;
    const level = nodeLevel / TILE_HEIGHT;
    let tile = open[level];
    if (tile === undefined) {
      tile = {
        index: Math.floor(nodeIndex / TILE_WIDTH),
        bytes: new Uint8Array(TILE_WIDTH * HASH_SIZE),
        width: 0,
      };
      open[level] = tile;
    }
    tile.bytes.set(hash, tile.width * HASH_SIZE);
    tile.width++;
    if (tile.width === TILE_WIDTH) {
      tiles.push({ ref: { level, index: tile.index, width: TILE_WIDTH }, bytes: tile.bytes, full: true });
      open[level] = undefined;
    }
  };
  for (const leaf of newLeafHashes) range.append(leaf, visit);

  for (let level = 0; level < open.length; level++) {
    const tile = open[level];
    if (tile === undefined) continue;
    const ref = { level, index: tile.index, width: tile.width };
    tiles.push({ ref, bytes: tile.bytes.slice(0, tile.width * HASH_SIZE), full: false });
  }
  tiles.sort((a, b) => a.ref.level - b.ref.level || a.ref.index - b.ref.index);
  return { tiles, root: range.root() };
}
