// buildTiles: incremental tiles equal the spec's tiles for every size and batch split, and read back
// into the reference root and valid proofs. Reference tiles follow C2SP tlog-tiles' definition
// (tile n of level l holds MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l])), computed with rootOf.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { toHex, utf8 } from './encoding.js';
import { CompactRange, hashLeaf, rootOf } from './merkle.js';
import {
  computeRoot,
  proveConsistency,
  proveInclusion,
  verifyConsistency,
  verifyInclusion,
} from './proof.js';
import { type TileRef, tileHashReader, tilePath } from './tile.js';
import { type BuiltTile, buildTiles } from './tile-builder.js';

const MAX = 70_000; // crosses the first level-2 tile hash at 65,536
const leaves = Array.from({ length: MAX }, (_, i) => hashLeaf(utf8(`record ${i}`)));
const levelHashes: Uint8Array[][] = [];
for (let l = 0; 256 ** l <= MAX; l++) {
  const span = 256 ** l;
  levelHashes.push(
    Array.from({ length: Math.floor(MAX / span) }, (_, p) => rootOf(leaves.slice(p * span, (p + 1) * span))),
  );
}

/** The spec's tile (level l, index n) in a tree with `count` complete level-l hashes, or undefined. */
function referenceTile(l: number, n: number, count: number): [string, string] | undefined {
  const width = Math.min(256, count - n * 256);
  if (width <= 0) return undefined;
  const hashes = levelHashes[l]!.slice(n * 256, n * 256 + width);
  return [tilePath({ level: l, index: n, width }), hashes.map(toHex).join('')];
}

/** Every tile of a tree of `size`, keyed by path. */
function referenceTiles(size: number): Map<string, string> {
  const tiles = new Map<string, string>();
  for (let l = 0; Math.floor(size / 256 ** l) > 0; l++) {
    const count = Math.floor(size / 256 ** l);
    for (let n = 0; n * 256 < count; n++) tiles.set(...referenceTile(l, n, count)!);
  }
  return tiles;
}

/** Tiles of the tree of `newSize` that the tree of `oldSize` lacks (tiles are append-only). */
function appearedTiles(oldSize: number, newSize: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let l = 0; Math.floor(newSize / 256 ** l) > 0; l++) {
    const before = Math.floor(oldSize / 256 ** l);
    const after = Math.floor(newSize / 256 ** l);
    // Only tiles from the old right edge onwards can differ.
    for (let n = Math.floor(before / 256); n * 256 < after; n++) {
      const old = referenceTile(l, n, before);
      const tile = referenceTile(l, n, after)!;
      if (old?.[0] !== tile[0]) out.push(tile);
    }
  }
  return out;
}

const rootCache = new Map<number, string>();
const referenceRoot = (size: number) => {
  if (!rootCache.has(size)) rootCache.set(size, toHex(rootOf(leaves.slice(0, size))));
  return rootCache.get(size)!;
};

/** Plays an engine: keeps the range and edge tiles, applies batches, records every tile written. */
function integrate(batches: readonly number[]) {
  const range = new CompactRange();
  const edge = new Map<number, Uint8Array>();
  const written = new Map<string, Uint8Array>();
  let size = 0;
  const results: Array<{ oldSize: number; newSize: number; tiles: BuiltTile[]; root: Uint8Array }> = [];
  for (const n of batches) {
    const asked: number[] = [];
    const { tiles, root } = buildTiles(
      size,
      (level) => {
        asked.push(level);
        return edge.get(level);
      },
      leaves.slice(size, size + n),
      range,
    );
    for (const t of tiles) {
      const path = tilePath(t.ref);
      assert.ok(!written.has(path), `${path} written twice`);
      assert.equal(t.bytes.length, t.ref.width * 32);
      assert.equal(t.full, t.ref.width === 256);
      written.set(path, t.bytes);
      if (t.full) edge.delete(t.ref.level);
      else edge.set(t.ref.level, t.bytes);
    }
    // Only levels that had a partial tile and gained hashes are read back.
    for (const level of asked)
      assert.ok(
        tiles.some((t) => t.ref.level === level),
        `read level ${level} needlessly`,
      );
    results.push({ oldSize: size, newSize: size + n, tiles, root });
    size += n;
  }
  return { range, written, results, size };
}

const batchesArb = fc.oneof(
  { arbitrary: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 12 }), weight: 4 },
  { arbitrary: fc.array(fc.integer({ min: 0, max: 9000 }), { minLength: 1, maxLength: 8 }), weight: 1 },
  { arbitrary: fc.constant([65535, 1, 0, 4463, 1]), weight: 1 },
);

test('property: each batch returns exactly the tiles that appeared, equal to the spec', () => {
  fc.assert(
    fc.property(batchesArb, (raw) => {
      const batches = clamp(raw);
      const { results } = integrate(batches);
      for (const { oldSize, newSize, tiles, root } of results) {
        assert.deepEqual(
          tiles.map((t) => [tilePath(t.ref), toHex(t.bytes)]),
          appearedTiles(oldSize, newSize),
          `batch ${oldSize} → ${newSize}`,
        );
        assert.equal(toHex(root), referenceRoot(newSize));
      }
    }),
    { numRuns: 60 },
  );
});

test('property: tiles built incrementally equal tiles built in one go, and serve proofs', async () => {
  await fc.assert(
    fc.asyncProperty(batchesArb, fc.nat(), async (raw, pick) => {
      const batches = clamp(raw);
      const { written, size, range } = integrate(batches);
      if (size === 0) return;
      const once = integrate([size]);
      const latest = (w: Map<string, Uint8Array>) => {
        const byTile = new Map<string, Uint8Array>();
        for (const [path, bytes] of w) byTile.set(path.replace(/\.p\/\d+$/, ''), bytes);
        return new Map([...byTile].map(([k, v]) => [k, toHex(v)]));
      };
      assert.deepEqual(latest(written), latest(once.written));
      assert.equal(toHex(range.root()), toHex(once.range.root()));
      const read = tileHashReader(async (ref: TileRef) => written.get(tilePath(ref))!, size);
      const root = await computeRoot(size, read);
      assert.equal(toHex(root), referenceRoot(size));
      // The final edge tiles are the spec's.
      for (const [path, bytes] of referenceTiles(size)) assert.equal(toHex(written.get(path)!), bytes, path);
      const index = pick % size;
      verifyInclusion(index, size, leaves[index]!, await proveInclusion(index, size, read), root);
      const size1 = 1 + ((pick >> 3) % size);
      verifyConsistency(
        size1,
        size,
        await proveConsistency(size1, size, read),
        rootOf(leaves.slice(0, size1)),
        root,
      );
    }),
    { numRuns: 40 },
  );
});

test('buildTiles validates before touching the range', () => {
  const { range, size } = integrate([300]);
  const rootBefore = toHex(range.root());
  const table: Array<[string, () => unknown, string]> = [
    [
      'range of another size',
      () => buildTiles(299, () => undefined, [leaves[300]!], range),
      'tile.range_mismatch',
    ],
    [
      'missing partial tile',
      () => buildTiles(size, () => undefined, [leaves[300]!], range),
      'tile.invalid_tile',
    ],
    [
      'partial of wrong width',
      () => buildTiles(size, () => new Uint8Array(32 * 43), [leaves[300]!], range),
      'tile.invalid_tile',
    ],
    [
      'short leaf hash',
      () => buildTiles(size, () => new Uint8Array(32 * 44), [new Uint8Array(31)], range),
      'merkle.invalid_hash',
    ],
  ];
  for (const [name, fn, code] of table) {
    assert.throws(fn, { code }, name);
    assert.equal(range.size, size, name);
    assert.equal(toHex(range.root()), rootBefore, name);
  }
  assert.deepEqual(buildTiles(size, () => undefined, [], range).tiles, []);
});

/** Keeps the total within the precomputed leaves. */
function clamp(batches: readonly number[]): number[] {
  let total = 0;
  return batches.map((n) => {
    const take = Math.min(n, MAX - total);
    total += take;
    return take;
  });
}
