/**
 * The proof half of the core benchmark: a tree of hash tiles in memory, built by `buildTiles` as
 * the integrator builds them, and inclusion / consistency proofs generated from it (warm and cold
 * `TileHashCache`) and verified, with a createHash baseline for verification.
 */
import { createHash } from 'node:crypto';
import { CompactRange, hashLeaf } from '../src/core/merkle.js';
import {
  computeRoot,
  proveConsistency,
  proveInclusion,
  verifyConsistency,
  verifyInclusion,
} from '../src/core/proof.js';
import { TileHashCache, type TileRef, tileHashReader } from '../src/core/tile.js';
import { buildTiles } from '../src/core/tile-builder.js';
import { bestRate, compareRates, type Rate, seededRandom } from './measure.js';

/** Hash tiles of a growing tree held in memory, built exactly as the integrator builds them. */
export class MemoryTree {
  readonly range = new CompactRange();
  readonly tiles = new Map<number, Uint8Array>();
  root: Uint8Array = new Uint8Array(32);
  buildMs = 0;
  readonly #leaf = new Uint8Array(8);

  get size(): number {
    return this.range.size;
  }

  grow(to: number): void {
    while (this.size < to) {
      const from = this.size;
      const count = Math.min(65_536, to - from);
      const leafHashes = new Array<Uint8Array>(count);
      const view = new DataView(this.#leaf.buffer);
      for (let i = 0; i < count; i++) {
        view.setFloat64(0, from + i);
        leafHashes[i] = hashLeaf(this.#leaf);
      }
      const t0 = performance.now();
      const { tiles, root } = buildTiles(from, (level) => this.partial(from, level), leafHashes, this.range);
      this.buildMs += performance.now() - t0;
      for (const t of tiles) this.tiles.set(t.ref.index * 8 + t.ref.level, t.bytes);
      this.root = root;
    }
  }

  private partial(size: number, level: number): Uint8Array | undefined {
    return this.tiles.get(Math.floor(size / 256 ** level / 256) * 8 + level);
  }

  /** Returns the newest (widest) version of a tile, which tileHashReader accepts for narrower refs. */
  readonly readTile = async (ref: TileRef): Promise<Uint8Array> => {
    const bytes = this.tiles.get(ref.index * 8 + ref.level);
    if (bytes === undefined) throw new Error(`bench: no tile ${ref.level}/${ref.index}`);
    return bytes;
  };

  leafHash(index: number): Uint8Array {
    const tile = this.tiles.get(Math.floor(index / 256) * 8)!;
    const at = (index % 256) * 32;
    return tile.subarray(at, at + 32);
  }
}

/** Rates per second of the main thread's CPU time (see measure.ts `rate`); wall-clock ones are in the JSON. */
export interface ProofFigures {
  size: number;
  inclusionLength: number;
  inclusionGeneratedWarm: Rate;
  inclusionGeneratedCold: Rate;
  inclusionVerified: Rate;
  verifyBaseline: Rate;
  consistencyLength: number;
  consistencyGeneratedWarm: Rate;
  consistencyGeneratedCold: Rate;
  consistencyVerified: Rate;
}

const SAMPLES = 2048;

export async function benchProofs(tree: MemoryTree): Promise<ProofFigures> {
  const size = tree.size;
  const random = seededRandom(size);
  const indices = Array.from({ length: SAMPLES }, () => Math.floor(random() * size));
  const cache = new TileHashCache();
  const warm = tileHashReader(tree.readTile, size, cache);
  const proofs: Uint8Array[][] = [];
  for (const i of indices) proofs.push(await proveInclusion(i, size, warm));
  const inclusionLength = proofs.reduce((n, p) => n + p.length, 0) / SAMPLES;

  let k = 0;
  const inclusionGeneratedWarm = await bestRate(3, 300, 64, async () => {
    for (let i = 0; i < 64; i++) await proveInclusion(indices[k++ % SAMPLES]!, size, warm);
  });
  // A new TileHashCache per proof recomputes the interior nodes of every tile it touches: what a
  // server that reads tiles per request without sharing a cache pays.
  const inclusionGeneratedCold = await bestRate(3, 300, 8, async () => {
    for (let i = 0; i < 8; i++) {
      await proveInclusion(indices[k++ % SAMPLES]!, size, tileHashReader(tree.readTile, size));
    }
  });
  const leaves = indices.map((i) => tree.leafHash(i));
  const root = tree.root;
  // Baseline: the node hashes one verification computes, each through createHash over 65 bytes.
  const node = Buffer.alloc(65, 1);
  const hashesPerProof = Math.max(1, Math.round(inclusionLength));
  const verify = await compareRates(
    3,
    300,
    {
      n: 64,
      body: () => {
        for (let i = 0; i < 64 * hashesPerProof; i++) createHash('sha256').update(node).digest();
      },
    },
    {
      n: 64,
      body: () => {
        for (let i = 0; i < 64; i++) {
          const s = k++ % SAMPLES;
          verifyInclusion(indices[s]!, size, leaves[s]!, proofs[s]!, root);
        }
      },
    },
  );

  // Consistency from random earlier sizes to `size`; old roots come from the same tiles (untimed).
  const olds = Array.from({ length: SAMPLES / 4 }, () => 1 + Math.floor(random() * (size - 1)));
  const oldRoots: Uint8Array[] = [];
  const consProofs: Uint8Array[][] = [];
  for (const old of olds) {
    oldRoots.push(await computeRoot(old, tileHashReader(tree.readTile, old, cache)));
    consProofs.push(await proveConsistency(old, size, warm));
  }
  const consistencyLength = consProofs.reduce((n, p) => n + p.length, 0) / olds.length;
  const consistencyGeneratedWarm = await bestRate(3, 300, 64, async () => {
    for (let i = 0; i < 64; i++) await proveConsistency(olds[k++ % olds.length]!, size, warm);
  });
  const consistencyGeneratedCold = await bestRate(3, 300, 8, async () => {
    for (let i = 0; i < 8; i++) {
      await proveConsistency(olds[k++ % olds.length]!, size, tileHashReader(tree.readTile, size));
    }
  });
  const consistencyVerified = await bestRate(3, 300, 64, () => {
    for (let i = 0; i < 64; i++) {
      const s = k++ % olds.length;
      verifyConsistency(olds[s]!, size, consProofs[s]!, oldRoots[s]!, root);
    }
  });
  return {
    size,
    inclusionLength,
    inclusionGeneratedWarm,
    inclusionGeneratedCold,
    inclusionVerified: verify.subject,
    verifyBaseline: verify.baseline,
    consistencyLength,
    consistencyGeneratedWarm,
    consistencyGeneratedCold,
    consistencyVerified,
  };
}
