/**
 * Many inclusion proofs against one tree size (receipts of a `wait=checkpoint` batch, an export),
 * reading each tile once: neighbouring entries share almost every tile, so a small cache turns
 * O(n log n) tile reads into about n/256 + log n.
 */

import { proveInclusion } from '../core/proof.js';
import { formatReceipt } from '../core/receipt.js';
import { type TileRef, tileHashReader, tilePath } from '../core/tile.js';
import { LogError } from '../log/errors.js';
import type { Log } from '../log/log.js';
import type { SignedCheckpoint } from '../log/types.js';

/** Tiles kept per reader: enough for a level-0 row plus every level above it, many times over. */
const CACHE_TILES = 64;

export interface ProofReader {
  /** The inclusion proof of `index` in the tree of the reader's checkpoint. */
  inclusion(index: number): Promise<Uint8Array[]>;
  /** A C2SP tlog-proof receipt of `index` against the reader's checkpoint. */
  receipt(index: number): Promise<string>;
}

/** A proof reader over `log`'s tiles for the tree of `checkpoint` (which the log has signed). */
export function createProofReader(log: Log, checkpoint: SignedCheckpoint): ProofReader {
  const tiles = new Map<string, Promise<Uint8Array>>();
  const readTile = (ref: TileRef): Promise<Uint8Array> => {
    const key = tilePath(ref);
    let hit = tiles.get(key);
    if (hit === undefined) {
      hit = log.readTileBytes({ ...ref, kind: 'hash' }).then((bytes) => {
        if (bytes === undefined) {
          throw new LogError(
            'log.inconsistent',
            `log ${log.name}: tile ${key} of a signed checkpoint is missing`,
          );
        }
        return bytes;
      });
      hit.catch(() => tiles.delete(key));
      if (tiles.size >= CACHE_TILES) tiles.delete(tiles.keys().next().value!);
      tiles.set(key, hit);
    }
    return hit;
  };
  const reader = tileHashReader(readTile, checkpoint.size, log.tileHashCache);
  const inclusion = (index: number) => proveInclusion(index, checkpoint.size, reader);
  return {
    inclusion,
    async receipt(index) {
      return formatReceipt({ index, proof: await inclusion(index), checkpoint: checkpoint.note });
    },
  };
}
