/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles): tile and entry-bundle paths, the tile census of a
 * tree, which tile holds a tree node, a HashReader over tiles, and entry-bundle encoding.
 *
 * A tile at level L holds up to 256 consecutive hashes of tree level 8·L; nodes of the seven
 * levels in between are recomputed from 2^(level mod 8) hashes of one tile row. Paths and bundles
 * come from the network, so parsing is strict and failures are TileErrors.
 */
import { IndelibleError } from './errors.js';
import { HASH_SIZE, hashChildrenInto, isTreeSize, pow2 } from './merkle.js';
import type { HashReader, NodeId } from './proof.js';

export type TileErrorCode =
  | 'tile.invalid_path'
  | 'tile.invalid_ref'
  | 'tile.invalid_size'
  | 'tile.invalid_tile'
  | 'tile.node_out_of_range'
  | 'tile.invalid_bundle'
  | 'tile.entry_too_large'
  | 'tile.range_mismatch';
export class TileError extends IndelibleError<TileErrorCode> {}

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
export const MAX_TILE_LEVEL = 63;
/** Largest entry a bundle can carry (its big-endian uint16 length prefix). */
export const MAX_ENTRY_SIZE = 65535;

/** A hash tile: `width` hashes (1..256, 256 = full) of tile `index` at tile level `level`. */
export interface TileRef {
  readonly level: number;
  readonly index: number;
  readonly width: number;
}

export interface ParsedTilePath extends TileRef {
  /** 'entries' paths name entry bundles; their `level` is 0 (a bundle pairs with a level-0 tile). */
  readonly kind: 'hash' | 'entries';
}

function checkRef(level: number, index: number, width: number): void {
  if (
    !Number.isSafeInteger(level) ||
    level < 0 ||
    level > MAX_TILE_LEVEL ||
    !Number.isSafeInteger(index) ||
    index < 0 ||
    !Number.isSafeInteger(width) ||
    width < 1 ||
    width > TILE_WIDTH
  ) {
    throw new TileError('tile.invalid_ref', 'tile level, index or width out of range', {
      details: { level, index, width },
    });
  }
}

/** `N` as zero-padded 3-digit path elements, all but the last prefixed with `x` (1234067 → x001/x234/067). */
function encodeIndex(index: number): string {
  let digits = String(index);
  digits = '0'.repeat((3 - (digits.length % 3)) % 3) + digits;
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 3) groups.push(digits.slice(i, i + 3));
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

const widthSuffix = (width: number) => (width === TILE_WIDTH ? '' : `.p/${width}`);

/** `tile/<L>/<N>[.p/<W>]`. */
export function tilePath(ref: TileRef): string {
  checkRef(ref.level, ref.index, ref.width);
  return `tile/${ref.level}/${encodeIndex(ref.index)}${widthSuffix(ref.width)}`;
}

/** `tile/entries/<N>[.p/<W>]`: the bundle of entries [index·256, index·256 + width). */
export function entriesPath(index: number, width: number = TILE_WIDTH): string {
  checkRef(0, index, width);
  return `tile/entries/${encodeIndex(index)}${widthSuffix(width)}`;
}

// Level: 0..63 without leading zeros. Index: x-prefixed 3-digit groups, then a bare 3-digit group.
// Width: 1..255 without leading zeros. At most 6 groups (2^53 has 16 digits); no quantifier can
// backtrack, and the length check bounds the work on hostile input anyway.
const TILE_PATH =
  /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/){0,5})([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/** Parses a tile or entry-bundle path, rejecting every non-canonical spelling. */
export function parseTilePath(path: string): ParsedTilePath {
  const bad = (why: string) => new TileError('tile.invalid_path', `invalid tile path: ${why}`);
  if (typeof path !== 'string' || path.length > 64) throw bad('too long');
  const m = TILE_PATH.exec(path);
  if (m === null) throw bad('does not match tile/<L>/<N>[.p/<W>]');
  const levelText = m[1]!;
  const prefix = m[2]!;
  const last = m[3]!;
  const widthText = m[4];
  // x000/… would give an index a second spelling.
  if (prefix.startsWith('x000/')) throw bad('index has a leading zero group');
  const index = Number(prefix.replaceAll('x', '').replaceAll('/', '') + last);
  if (!Number.isSafeInteger(index)) throw bad('index is too large');
  const width = widthText === undefined ? TILE_WIDTH : Number(widthText);
  if (widthText !== undefined && width >= TILE_WIDTH) throw bad('partial width must be 1..255');
  const kind = levelText === 'entries' ? 'entries' : 'hash';
  const level = kind === 'entries' ? 0 : Number(levelText);
  if (level > MAX_TILE_LEVEL) throw bad('level must be 0..63');
  return { kind, level, index, width };
}

// ---- Census: which tiles a tree of a given size has ----

/** Number of complete nodes at tree level 8·`tileLevel` in a tree of `treeSize` leaves. */
function levelCount(treeSize: number, tileLevel: number): number {
  return Math.floor(treeSize / pow2(TILE_HEIGHT * tileLevel));
}

export interface TileLevelCensus {
  readonly level: number;
  readonly fullTiles: number;
  /** Width of the partial tile at the right edge of this level, 0 when there is none. */
  readonly partialWidth: number;
}

function checkTreeSize(treeSize: number): void {
  if (!isTreeSize(treeSize)) {
    throw new TileError('tile.invalid_size', 'tree size must be a safe integer ≥ 0', {
      details: { treeSize },
    });
  }
}

/** Full tiles and the partial tile of every non-empty level (C2SP "Partial Tiles"). */
export function tilesForSize(treeSize: number): TileLevelCensus[] {
  checkTreeSize(treeSize);
  const census: TileLevelCensus[] = [];
  for (let level = 0, n = treeSize; n > 0; level++, n = levelCount(treeSize, level)) {
    census.push({ level, fullTiles: Math.floor(n / TILE_WIDTH), partialWidth: n % TILE_WIDTH });
  }
  return census;
}

/** The partial tiles at the right edge of the tree, lowest level first. */
export function partialTiles(treeSize: number): TileRef[] {
  return tilesForSize(treeSize)
    .filter((c) => c.partialWidth > 0)
    .map((c) => ({ level: c.level, index: c.fullTiles, width: c.partialWidth }));
}

/** Every tile of the tree, level by level, left to right (for auditors walking a whole log). */
export function* allTiles(treeSize: number): Generator<TileRef> {
  for (const c of tilesForSize(treeSize)) {
    for (let index = 0; index < c.fullTiles; index++) yield { level: c.level, index, width: TILE_WIDTH };
    if (c.partialWidth > 0) yield { level: c.level, index: c.fullTiles, width: c.partialWidth };
  }
}

// ---- Nodes in tiles ----

export interface NodeLocation {
  /** The tile of the tree of `treeSize` that holds the node's hashes (as wide as that tree has it). */
  readonly tile: TileRef;
  /** The node is the root of the perfect subtree over the tile's hashes [start, end). */
  readonly start: number;
  readonly end: number;
}

/**
 * Checks that node (level, index) is complete in a tree of `treeSize` and returns the position of
 * its first hash within tree level 8·floor(level / 8).
 */
function firstHash(level: number, index: number, treeSize: number): number {
  if (
    !Number.isInteger(level) ||
    !Number.isSafeInteger(index) ||
    level < 0 ||
    index < 0 ||
    level > 52 ||
    (index + 1) * pow2(level) > treeSize
  ) {
    throw new TileError(
      'tile.node_out_of_range',
      `node ${level}/${index} is not in a tree of size ${treeSize}`,
      {
        details: { level, index, treeSize },
      },
    );
  }
  return index * (1 << (level % TILE_HEIGHT));
}

/** The tile at `tileLevel` holding position `first` of that level, as wide as a tree of `treeSize` has it. */
function tileAt(tileLevel: number, first: number, treeSize: number): TileRef {
  const index = Math.floor(first / TILE_WIDTH);
  const count = levelCount(treeSize, tileLevel);
  return {
    level: tileLevel,
    index,
    width: index < Math.floor(count / TILE_WIDTH) ? TILE_WIDTH : count % TILE_WIDTH,
  };
}

/** Where node `node` of a tree of `treeSize` leaves is stored; it must be a complete node of that tree. */
export function nodeTile(node: NodeId, treeSize: number): NodeLocation {
  checkTreeSize(treeSize);
  const first = firstHash(node.level, node.index, treeSize);
  const start = first % TILE_WIDTH;
  const tile = tileAt(Math.floor(node.level / TILE_HEIGHT), first, treeSize);
  return { tile, start, end: start + (1 << (node.level % TILE_HEIGHT)) };
}

// Tile indices are below 2^53 / 256 and tile levels below 7, so (index, level) packs into a safe key.
const tileKey = (ref: TileRef) => ref.index * 8 + ref.level;

/** The distinct tiles that hold `nodes` in a tree of `treeSize`, in first-use order. */
export function tilesForNodes(nodes: readonly NodeId[], treeSize: number): TileRef[] {
  checkTreeSize(treeSize);
  const seen = new Map<number, TileRef>();
  for (const n of nodes) {
    const { tile } = nodeTile(n, treeSize);
    if (!seen.has(tileKey(tile))) seen.set(tileKey(tile), tile);
  }
  return [...seen.values()];
}

// Set by TileHashCache's static block, so this module can reach the cache's private map and
// callers cannot.
let memoFor: (cache: TileHashCache, tile: Uint8Array) => TileMemo;

/**
 * Interior hashes computed from tiles, kept per tile *bytes object* (a WeakMap), so they live
 * exactly as long as the caller keeps the bytes (e.g. in its tile cache). Sound because they are
 * a pure function of the bytes: readTile MUST NOT mutate bytes it has returned. Share one cache
 * between readers of successive tree sizes to keep the work done for full tiles.
 */
export class TileHashCache {
  readonly #memo = new WeakMap<Uint8Array, TileMemo>();
  static {
    memoFor = (cache, tile) => {
      let memo = cache.#memo.get(tile);
      if (memo === undefined) {
        memo = { hashes: new Uint8Array(MEMO_SLOTS * HASH_SIZE), done: new Uint8Array(MEMO_SLOTS) };
        cache.#memo.set(tile, memo);
      }
      return memo;
    };
  }
}

/** Nodes of heights 1..7 over a 256-hash row: height h, position j at slot 256 − 2^(9−h) + j. */
interface TileMemo {
  readonly hashes: Uint8Array;
  readonly done: Uint8Array;
}
const MEMO_SLOTS = TILE_WIDTH - 2;
const slotOf = (height: number, j: number) => TILE_WIDTH - (512 >> height) + j;

/** Fills the memo slot of the node of `height` (≥ 1) over hashes [j·2^height, (j+1)·2^height). */
function fill(tile: Uint8Array, memo: TileMemo, height: number, j: number): void {
  const slot = slotOf(height, j);
  if (memo.done[slot] === 1) return;
  // Both children are adjacent: in the tile row for height 1, in the memo's row below otherwise.
  if (height === 1) {
    hashChildrenInto(tile, 2 * j * HASH_SIZE, tile, (2 * j + 1) * HASH_SIZE, memo.hashes, slot * HASH_SIZE);
  } else {
    fill(tile, memo, height - 1, 2 * j);
    fill(tile, memo, height - 1, 2 * j + 1);
    const left = slotOf(height - 1, 2 * j) * HASH_SIZE;
    hashChildrenInto(memo.hashes, left, memo.hashes, left + HASH_SIZE, memo.hashes, slot * HASH_SIZE);
  }
  memo.done[slot] = 1;
}

/**
 * The hash of the node a full tile's 256 hashes make: the entry its parent tile holds for it. The
 * interior hashes computed on the way stay memoised in `cache` for proofs over the same bytes.
 */
export function fullTileRoot(tile: Uint8Array, cache: TileHashCache): Uint8Array {
  if (tile.length !== TILE_WIDTH * HASH_SIZE) {
    throw new TileError(
      'tile.invalid_tile',
      `a full tile holds ${TILE_WIDTH * HASH_SIZE} bytes, got ${tile.length}`,
    );
  }
  const memo = memoFor(cache, tile);
  fill(tile, memo, TILE_HEIGHT - 1, 0);
  fill(tile, memo, TILE_HEIGHT - 1, 1);
  const left = slotOf(TILE_HEIGHT - 1, 0) * HASH_SIZE;
  const root = new Uint8Array(HASH_SIZE);
  hashChildrenInto(memo.hashes, left, memo.hashes, left + HASH_SIZE, root, 0);
  return root;
}

/**
 * A HashReader for a tree of `treeSize` that reads each needed tile once, all in parallel, and
 * computes the requested node hashes. `readTile` may resolve to a wider version of the tile (a
 * full tile for a partial ref): tiles only grow at the right, so the prefix is the same.
 */
export function tileHashReader(
  readTile: (ref: TileRef) => Promise<Uint8Array>,
  treeSize: number,
  cache: TileHashCache = new TileHashCache(),
): HashReader {
  checkTreeSize(treeSize);
  return async (nodes) => {
    // Per node: which of `refs` holds it, and its first hash there. Tiles are few (one per tile
    // level a proof touches), so this path avoids per-node objects.
    const tileOf = new Array<number>(nodes.length);
    const firsts = new Array<number>(nodes.length);
    const slots = new Map<number, number>();
    const refs: TileRef[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const { level, index } = nodes[i]!;
      const first = firstHash(level, index, treeSize);
      const tileLevel = Math.floor(level / TILE_HEIGHT);
      const key = Math.floor(first / TILE_WIDTH) * 8 + tileLevel;
      let slot = slots.get(key);
      if (slot === undefined) {
        slot = refs.length;
        slots.set(key, slot);
        refs.push(tileAt(tileLevel, first, treeSize));
      }
      tileOf[i] = slot;
      firsts[i] = first;
    }
    const tiles = await Promise.all(refs.map(readTile));
    for (let t = 0; t < refs.length; t++) checkTile(refs[t]!, tiles[t]!);
    const out = new Array<Uint8Array>(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const bytes = tiles[tileOf[i]!]!;
      const height = nodes[i]!.level % TILE_HEIGHT;
      const start = firsts[i]! % TILE_WIDTH;
      if (height === 0) {
        out[i] = bytes.slice(start * HASH_SIZE, (start + 1) * HASH_SIZE);
        continue;
      }
      const memo = memoFor(cache, bytes);
      const j = start >> height;
      fill(bytes, memo, height, j);
      const at = slotOf(height, j) * HASH_SIZE;
      out[i] = memo.hashes.slice(at, at + HASH_SIZE);
    }
    return out;
  };
}

function checkTile(ref: TileRef, bytes: Uint8Array): Uint8Array {
  if (
    !(bytes instanceof Uint8Array) ||
    bytes.length % HASH_SIZE !== 0 ||
    bytes.length < ref.width * HASH_SIZE ||
    bytes.length > TILE_WIDTH * HASH_SIZE
  ) {
    throw new TileError('tile.invalid_tile', `tile ${tilePath(ref)} has ${bytes?.length} bytes`, {
      details: { ...ref, bytes: bytes?.length },
    });
  }
  return bytes;
}

// ---- Entry bundles: big-endian uint16 length-prefixed entries, 1..256 of them ----

export function encodeBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length === 0 || entries.length > TILE_WIDTH) {
    throw new TileError('tile.invalid_bundle', `a bundle holds 1..256 entries, not ${entries.length}`);
  }
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_SIZE) {
      throw new TileError('tile.entry_too_large', `entry of ${e.length} bytes exceeds ${MAX_ENTRY_SIZE}`);
    }
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/**
 * Splits a bundle into its entries (views into `bytes`). Rejects truncation, trailing bytes, an
 * empty bundle, more than 256 entries, and — when `width` is given — any other entry count.
 */
export function decodeBundle(bytes: Uint8Array, width?: number): Uint8Array[] {
  const bad = (why: string) => new TileError('tile.invalid_bundle', `invalid entry bundle: ${why}`);
  if (!(bytes instanceof Uint8Array)) throw bad('not bytes');
  const entries: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (entries.length === TILE_WIDTH) throw bad('more than 256 entries');
    if (at + 2 > bytes.length) throw bad('truncated length prefix');
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    if (at + 2 + length > bytes.length) throw bad('truncated entry');
    entries.push(bytes.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  if (entries.length === 0) throw bad('empty');
  if (width !== undefined && entries.length !== width)
    throw bad(`${entries.length} entries, expected ${width}`);
  return entries;
}
