/**
 * The right edge of a signed tree as stored: the tiles that make its root, its partial hash tiles
 * and its partial entry bundle, read from storage and checked against the checkpoint's root hash.
 *
 * Everything else in the tree is checked from here on demand (LogProofs: a full tile against its
 * parent's entry, a full bundle against its level-0 tile), so these few objects are the anchor of
 * every check a reader makes against a signed checkpoint: the log at open (Log.loadEdge) and the
 * archiver before it copies anything into WORM storage.
 */
import { bytesEqual } from '../core/crypto.js';
import { CompactRange, HASH_SIZE, hashLeaf } from '../core/merkle.js';
import { planRoot, proveInclusion, verifyInclusion } from '../core/proof.js';
import {
  decodeBundle,
  entriesPath,
  partialTiles,
  TILE_WIDTH,
  type TileRef,
  tileHashReader,
  tilePath,
} from '../core/tile.js';
import type { BlobStore } from '../storage/types.js';
import { LogError } from './errors.js';

export interface SignedEdge {
  /** The tree's compact range: its root is the signed root. */
  range: CompactRange;
  /** Leaf hash of the last entry. */
  lastLeaf: Uint8Array;
  /** The partial hash tile of each level that has one, by level. */
  tiles: Map<number, Uint8Array>;
  /** The records of the partial entry bundle (empty when the size is a multiple of 256). */
  bundle: Uint8Array[];
  /** The partial entry bundle's bytes as read and checked (undefined when there is none). */
  bundleBytes: Uint8Array | undefined;
}

/**
 * Reads and checks the edge of the tree of `size` entries whose signed root is `rootHash` (size ≥ 1).
 * Missing tiles or bundle: `log.storage_behind` naming them. Tiles that do not make the root, or a
 * partial bundle whose records are not the level-0 tile's leaves: `log.inconsistent`.
 */
export async function loadSignedEdge(
  log: string,
  blobs: Pick<BlobStore, 'get'>,
  size: number,
  rootHash: Uint8Array,
): Promise<SignedEdge> {
  const missing: string[] = [];
  // Each tile is read once: the bytes kept as the edge are the bytes that made the root.
  const read = new Map<string, Uint8Array>();
  const readTile = async (ref: TileRef): Promise<Uint8Array> => {
    const key = tilePath(ref);
    const known = read.get(key);
    if (known !== undefined) return known;
    // A read that fails (I/O, S3) says nothing about the tree: it is thrown as it is.
    const bytes = await blobs.get(key);
    if (bytes === undefined || bytes.length !== ref.width * HASH_SIZE) {
      missing.push(key);
      throw new LogError('log.storage_behind', `missing ${key}`);
    }
    read.set(key, bytes);
    return bytes;
  };
  const reader = tileHashReader(readTile, size);
  let hashes: Uint8Array[];
  let lastLeaf: Uint8Array;
  let lastProof: Uint8Array[];
  try {
    hashes = await reader(planRoot(size));
    [lastLeaf] = (await reader([{ level: 0, index: size - 1 }])) as [Uint8Array];
    lastProof = await proveInclusion(size - 1, size, reader);
  } catch (err) {
    if (missing.length === 0) throw err;
    throw new LogError(
      'log.storage_behind',
      `log ${log}: the last signed checkpoint covers ${size} entries but storage lacks ${missing.join(', ')}; refusing to start (restore the data directory from backup)`,
      { cause: err, details: { log, checkpointSize: size, missing } },
    );
  }
  const range = CompactRange.fromHashes(size, hashes);
  // The last leaf (the next record's `prev`) may sit in a full tile the root does not read: its
  // inclusion proof ties it to the signed root too.
  if (!bytesEqual(range.root(), rootHash) || !includes(size, lastLeaf, lastProof, rootHash)) {
    throw new LogError(
      'log.inconsistent',
      `log ${log}: stored tiles do not reproduce the root of the last signed checkpoint (size ${size}); one of ${[...read.keys()].join(', ')} is damaged`,
      { details: { log, checkpointSize: size, objects: [...read.keys()] } },
    );
  }
  const tiles = new Map<number, Uint8Array>();
  for (const ref of partialTiles(size)) tiles.set(ref.level, await readTile(ref));
  const edgeWidth = size % TILE_WIDTH;
  if (edgeWidth === 0) return { range, lastLeaf, tiles, bundle: [], bundleBytes: undefined };

  const key = entriesPath(Math.floor(size / TILE_WIDTH), edgeWidth);
  const bytes = await blobs.get(key);
  if (bytes === undefined) {
    throw new LogError(
      'log.storage_behind',
      `log ${log}: missing entry bundle ${key} of the last checkpoint`,
      {
        details: { log, missing: [key] },
      },
    );
  }
  // The edge bundle is sealed into a full, immutable one later: check it against the signed tree
  // (the level-0 tile, which holds exactly edgeWidth hashes) now, so a damaged partial bundle is
  // never carried forward.
  const inconsistent = (cause?: unknown) =>
    new LogError('log.inconsistent', `log ${log}: entry bundle ${key} does not match the signed tree`, {
      cause,
      details: { log, object: key },
    });
  let bundle: Uint8Array[];
  try {
    bundle = decodeBundle(bytes);
  } catch (err) {
    throw inconsistent(err);
  }
  const row = tiles.get(0);
  const ok =
    bundle.length === edgeWidth &&
    row !== undefined &&
    row.length === edgeWidth * HASH_SIZE &&
    bundle.every((rec, i) => bytesEqual(hashLeaf(rec), row.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE)));
  if (!ok) throw inconsistent();
  return { range, lastLeaf, tiles, bundle, bundleBytes: bytes };
}

function includes(size: number, leaf: Uint8Array, proof: Uint8Array[], rootHash: Uint8Array): boolean {
  try {
    verifyInclusion(size - 1, size, leaf, proof, rootHash);
    return true;
  } catch {
    return false;
  }
}
