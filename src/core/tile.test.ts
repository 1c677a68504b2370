// C2SP tlog-tiles paths, census, node location, the tile HashReader and entry bundles.
// Vectors: test/vectors/note/tlog-tiles-vectors.json (C2SP tlog-tiles.md @ 5ba5ee83 and golang/mod
// sumdb/tlog tests @ fe2ec04f). Reference tiles below are built from the spec's formula
// MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l]) with rootOf, independently of the builder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readVectorJson } from '../testing/paths.js';
import { toHex, utf8 } from './encoding.js';
import { hashLeaf, rootOf } from './merkle.js';
import {
  computeRoot,
  proveConsistency,
  proveInclusion,
  verifyConsistency,
  verifyInclusion,
} from './proof.js';
import {
  allTiles,
  decodeBundle,
  encodeBundle,
  entriesPath,
  fullTileRoot,
  nodeTile,
  parseTilePath,
  partialTiles,
  TileError,
  TileHashCache,
  type TileRef,
  tileHashReader,
  tilePath,
  tilesForNodes,
  tilesForSize,
} from './tile.js';

interface TilesVectors {
  c2spTilesSpecStatements: {
    indexEncodingExample: { index: number; N: string };
    example_size_70000: Record<string, number>;
    example_size_256: Record<string, number>;
  };
  goSumdbTilePaths_NOT_C2SP: {
    cases: Array<{ path: string; tile: { H: number; L: number; N: number; W: number } | null }>;
  };
}
const vectors = readVectorJson<TilesVectors>('note', 'tlog-tiles-vectors.json');

test('index encoding: the C2SP example 1234067 → x001/x234/067', () => {
  const { index, N } = vectors.c2spTilesSpecStatements.indexEncodingExample;
  assert.equal(tilePath({ level: 0, index, width: 256 }), `tile/0/${N}`);
  assert.equal(entriesPath(index), `tile/entries/${N}`);
  assert.deepEqual(parseTilePath(`tile/3/${N}.p/7`), { kind: 'hash', level: 3, index, width: 7 });
});

test('Go sumdb tile paths, with the height segment C2SP drops, parse the same', () => {
  // Go writes tile/<H>/<L>/<N>[.p/<W>] and tile/<H>/data/<N>; C2SP fixes H = 8 and says
  // tile/<L>/<N> and tile/entries/<N>. The N encoding is shared, so these cases carry over.
  let checked = 0;
  for (const c of vectors.goSumdbTilePaths_NOT_C2SP.cases) {
    const parts = c.path.split('/');
    const c2sp = ['tile', parts[2] === 'data' ? 'entries' : parts[2], ...parts.slice(3)].join('/');
    const partial = c.path.includes('.p/');
    if (c.tile === null) {
      assert.throws(() => parseTilePath(c2sp), { code: 'tile.invalid_path' }, c2sp);
    } else {
      const kind = c.tile.L === -1 ? 'entries' : 'hash';
      const want = { kind, level: Math.max(c.tile.L, 0), index: c.tile.N, width: partial ? c.tile.W : 256 };
      assert.deepEqual(parseTilePath(c2sp), want, c2sp);
    }
    checked++;
  }
  assert.equal(checked, 8);
});

test('parseTilePath rejects every non-canonical or malformed path', () => {
  const bad = [
    '',
    'tile',
    'tile/0',
    'tile/0/',
    '/tile/0/000',
    'tile/0/000/',
    'tile//000',
    'tile/00/000', // leading zero in the level
    'tile/01/000',
    'tile/64/000', // level above 63
    'tile/100/000',
    'tile/-1/000',
    'tile/+1/000',
    'tile/0/1', // N elements are exactly 3 digits
    'tile/0/01',
    'tile/0/0001',
    'tile/0/x001', // the last element has no x
    'tile/0/001/002', // the others must have one
    'tile/0/x000/001', // a leading all-zero element would give N two spellings
    'tile/0/x000/x000/000',
    'tile/0/X001/000',
    'tile/0/x01/000',
    'tile/0/000.p/0',
    'tile/0/000.p/00',
    'tile/0/000.p/01',
    'tile/0/000.p/256', // a full tile has no .p suffix
    'tile/0/000.p/1000',
    'tile/0/000.p/',
    'tile/0/000.p',
    'tile/0/000.P/5',
    'tile/0/000.p/5/',
    'tile/0/000\n',
    'tile/0/000 ',
    'tile/0/٠٠٠', // non-ASCII digits
    'tile/0/00a',
    'tile/data/000',
    'tile/entries/000.p/256',
    'tile/0/x009/x007/x199/x254/x740/992', // 2^53: not a safe integer
    'tile/0/x001/x000/x000/x000/x000/x000/000', // seven elements
    `tile/0/${'x001/'.repeat(40)}000`,
    'tiles/0/000',
    'tile/0/../000',
  ];
  for (const path of bad)
    assert.throws(() => parseTilePath(path), { code: 'tile.invalid_path' }, JSON.stringify(path));
  for (const notString of [undefined, null, 5, {}]) {
    assert.throws(() => parseTilePath(notString as unknown as string), { code: 'tile.invalid_path' });
  }
  assert.deepEqual(parseTilePath('tile/0/x009/x007/x199/x254/x740/991'), {
    kind: 'hash',
    level: 0,
    index: Number.MAX_SAFE_INTEGER,
    width: 256,
  });
  assert.deepEqual(parseTilePath('tile/63/000.p/255'), { kind: 'hash', level: 63, index: 0, width: 255 });
  assert.deepEqual(parseTilePath('tile/entries/x001/000.p/1'), {
    kind: 'entries',
    level: 0,
    index: 1000,
    width: 1,
  });
});

test('property: tilePath and entriesPath round-trip through parseTilePath', () => {
  const refArb = fc.record({
    level: fc.integer({ min: 0, max: 63 }),
    index: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.maxSafeNat()),
    width: fc.integer({ min: 1, max: 256 }),
  });
  fc.assert(
    fc.property(refArb, (ref) => {
      assert.deepEqual(parseTilePath(tilePath(ref)), { kind: 'hash', ...ref });
      assert.deepEqual(parseTilePath(entriesPath(ref.index, ref.width)), {
        kind: 'entries',
        ...ref,
        level: 0,
      });
    }),
    { numRuns: 500 },
  );
  for (const ref of [
    { level: -1, index: 0, width: 1 },
    { level: 64, index: 0, width: 1 },
    { level: 0, index: -1, width: 1 },
    { level: 0, index: 2 ** 53, width: 1 },
    { level: 0, index: 0, width: 0 },
    { level: 0, index: 0, width: 257 },
    { level: 0, index: 0.5, width: 1 },
  ]) {
    assert.throws(() => tilePath(ref), { code: 'tile.invalid_ref' }, JSON.stringify(ref));
  }
});

test('census: the C2SP examples for tree sizes 70000 and 256', () => {
  const s70000 = vectors.c2spTilesSpecStatements.example_size_70000;
  assert.deepEqual(tilesForSize(70000), [
    { level: 0, fullTiles: s70000.fullLevel0Tiles, partialWidth: s70000.partialLevel0Width },
    { level: 1, fullTiles: s70000.fullLevel1Tiles, partialWidth: s70000.partialLevel1Width },
    { level: 2, fullTiles: 0, partialWidth: s70000.partialLevel2Width },
  ]);
  const s256 = vectors.c2spTilesSpecStatements.example_size_256;
  assert.deepEqual(tilesForSize(256), [
    { level: 0, fullTiles: s256.fullLevel0Tiles, partialWidth: 0 },
    { level: 1, fullTiles: 0, partialWidth: s256.partialLevel1Width },
  ]);
  assert.deepEqual(partialTiles(256), [{ level: 1, index: 0, width: 1 }]);
  assert.deepEqual(tilesForSize(0), []);
  assert.equal([...allTiles(70000)].length, 273 + 1 + 1 + 1 + 1);
  assert.throws(() => tilesForSize(-1), { code: 'tile.invalid_size' });
});

test('nodeTile: where nodes of a 70000-leaf tree live', () => {
  const table: Array<[number, number, TileRef, number, number]> = [
    // level, index, tile, start, end
    [0, 0, { level: 0, index: 0, width: 256 }, 0, 1],
    [0, 69999, { level: 0, index: 273, width: 112 }, 111, 112],
    [3, 5, { level: 0, index: 0, width: 256 }, 40, 48],
    [7, 1, { level: 0, index: 0, width: 256 }, 128, 256],
    [4, 4374, { level: 0, index: 273, width: 112 }, 96, 112], // leaves 69984..69999
    [8, 0, { level: 1, index: 0, width: 256 }, 0, 1],
    [8, 272, { level: 1, index: 1, width: 17 }, 16, 17],
    [15, 1, { level: 1, index: 0, width: 256 }, 128, 256],
    [12, 16, { level: 1, index: 1, width: 17 }, 0, 16],
    [16, 0, { level: 2, index: 0, width: 1 }, 0, 1],
  ];
  for (const [level, index, tile, start, end] of table) {
    assert.deepEqual(nodeTile({ level, index }, 70000), { tile, start, end }, `${level}/${index}`);
  }
  for (const [level, index] of [
    [0, 70000],
    [8, 273],
    [17, 0],
    [4, 4375],
    [-1, 0],
    [0, -1],
    [0.5, 0],
    [60, 0],
  ]) {
    assert.throws(() => nodeTile({ level: level!, index: index! }, 70000), {
      code: 'tile.node_out_of_range',
    });
  }
  assert.deepEqual(
    tilesForNodes(
      [
        { level: 0, index: 0 },
        { level: 3, index: 5 },
        { level: 8, index: 272 },
      ],
      70000,
    ),
    [
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 1, width: 17 },
    ],
  );
});

// ---- Reference tiles from the spec's definition ----

const MAX = 70_000;
const leaves = Array.from({ length: MAX }, (_, i) => hashLeaf(utf8(`entry ${i}`)));

/** levelHashes[l][p] = MTH(D[p·256^l : (p+1)·256^l]): the hashes tiles of level l hold. */
const levelHashes: Uint8Array[][] = [];
for (let l = 0; 256 ** l <= MAX; l++) {
  const span = 256 ** l;
  levelHashes.push(
    Array.from({ length: Math.floor(MAX / span) }, (_, p) => rootOf(leaves.slice(p * span, (p + 1) * span))),
  );
}

/** The tiles of a tree of `size`, from the spec: tile n of level l holds hashes n·256 + i. */
function referenceTiles(size: number): Map<string, Uint8Array> {
  const tiles = new Map<string, Uint8Array>();
  for (let l = 0; Math.floor(size / 256 ** l) > 0; l++) {
    const count = Math.floor(size / 256 ** l); // complete subtrees of 256^l leaves
    for (let n = 0; n * 256 < count; n++) {
      const width = Math.min(256, count - n * 256);
      const bytes = new Uint8Array(width * 32);
      for (let i = 0; i < width; i++) bytes.set(levelHashes[l]![n * 256 + i]!, i * 32);
      tiles.set(tilePath({ level: l, index: n, width }), bytes);
    }
  }
  return tiles;
}
const reference = referenceTiles(MAX);
const sizeArb = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 1100 }), weight: 4 },
  { arbitrary: fc.integer({ min: 1, max: MAX }), weight: 1 },
  { arbitrary: fc.constantFrom(255, 256, 257, 65535, 65536, 65537, MAX), weight: 1 },
);

test('allTiles enumerates exactly the tiles the spec defines', () => {
  assert.deepEqual([...allTiles(MAX)].map(tilePath).sort(), [...reference.keys()].sort());
});

test('property: tileHashReader computes node hashes, roots and proofs from reference tiles', async () => {
  await fc.assert(
    fc.asyncProperty(sizeArb, fc.array(fc.nat(), { maxLength: 12 }), async (size, picks) => {
      const tiles = referenceTiles(size);
      const reads: string[] = [];
      const read = tileHashReader(async (ref) => {
        reads.push(tilePath(ref));
        return tiles.get(tilePath(ref))!;
      }, size);
      const nodes = picks.map((p) => {
        const level = p % (Math.floor(Math.log2(size)) + 1);
        return { level, index: Math.floor(p / 64) % Math.floor(size / 2 ** level) };
      });
      const hashes = await read(nodes);
      nodes.forEach((n, i) => {
        // A perfect subtree's MTH is also the MTH of its level-8 hashes, which is cheaper for big ones.
        const [row, l] = n.level >= 8 ? [levelHashes[1]!, n.level - 8] : [leaves, n.level];
        const want = rootOf(row.slice(n.index * 2 ** l, (n.index + 1) * 2 ** l));
        assert.equal(toHex(hashes[i]!), toHex(want), `node ${n.level}/${n.index} of ${size}`);
      });
      assert.equal(new Set(reads).size, reads.length, 'a tile was read twice in one call');
      assert.deepEqual(reads, tilesForNodes(nodes, size).map(tilePath));
      const root = await computeRoot(size, read);
      assert.equal(toHex(root), toHex(rootOf(leaves.slice(0, size))));
      const index = (picks[0] ?? 0) % size;
      verifyInclusion(index, size, leaves[index]!, await proveInclusion(index, size, read), root);
      const size1 = 1 + ((picks[1] ?? 0) % size);
      const root1 = rootOf(leaves.slice(0, size1));
      verifyConsistency(size1, size, await proveConsistency(size1, size, read), root1, root);
    }),
    { numRuns: 80 },
  );
});

test('tileHashReader reads tiles in parallel and accepts a wider tile for a partial ref', async () => {
  // The root of 600 = 512 + 64 + 16 + 8 leaves needs node 9/0 from tile/1/000.p/2 and the rest from
  // tile/0/002.p/88; the 70000-leaf tree's full tiles are served instead of both.
  const started: TileRef[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const read = tileHashReader(async (ref) => {
    started.push(ref);
    await gate;
    return (reference.get(tilePath({ ...ref, width: 256 })) ?? reference.get(tilePath(ref)))!;
  }, 600);
  const pending = computeRoot(600, read);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(started, [
    { level: 1, index: 0, width: 2 },
    { level: 0, index: 2, width: 88 },
  ]);
  release();
  assert.equal(toHex(await pending), toHex(rootOf(leaves.slice(0, 600))));
});

test('tileHashReader rejects tiles of the wrong size and nodes outside the tree', async () => {
  const reader = (bytes: unknown) => tileHashReader(async () => bytes as Uint8Array, 600);
  for (const bytes of [
    new Uint8Array(31),
    new Uint8Array(32 * 87),
    new Uint8Array(32 * 257),
    undefined,
    'x',
  ]) {
    await assert.rejects(reader(bytes)([{ level: 0, index: 599 }]), { code: 'tile.invalid_tile' });
  }
  await assert.rejects(reader(new Uint8Array(8192))([{ level: 0, index: 600 }]), {
    code: 'tile.node_out_of_range',
  });
  assert.throws(() => tileHashReader(async () => new Uint8Array(0), -1), { code: 'tile.invalid_size' });
});

// ---- Entry bundles ----

test('entry bundles: exact encoding and round trip', () => {
  assert.deepEqual(
    encodeBundle([utf8('a'), new Uint8Array(0)]),
    new Uint8Array([0x00, 0x01, 0x61, 0x00, 0x00]),
  );
  const big = new Uint8Array(65535).fill(7);
  const decoded = decodeBundle(encodeBundle([big]));
  assert.equal(decoded.length, 1);
  assert.deepEqual(decoded[0], big);
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 256 }), (entries) => {
      assert.deepEqual(decodeBundle(encodeBundle(entries), entries.length), entries);
    }),
    { numRuns: 200 },
  );
});

test('entry bundles: malformed input is rejected with codes', () => {
  assert.throws(() => encodeBundle([new Uint8Array(65536)]), { code: 'tile.entry_too_large' });
  assert.throws(() => encodeBundle([]), { code: 'tile.invalid_bundle' });
  assert.throws(() => encodeBundle(Array.from({ length: 257 }, () => new Uint8Array(1))), {
    code: 'tile.invalid_bundle',
  });
  const bad: Array<[string, Uint8Array, number?]> = [
    ['empty', new Uint8Array(0)],
    ['half a length prefix', new Uint8Array([0x00])],
    ['truncated entry', new Uint8Array([0x00, 0x02, 0x61])],
    ['trailing byte', new Uint8Array([0x00, 0x01, 0x61, 0x00])],
    ['257 entries', new Uint8Array(257 * 2)],
    ['width mismatch', new Uint8Array([0x00, 0x00]), 2],
  ];
  for (const [name, bytes, width] of bad) {
    assert.throws(() => decodeBundle(bytes, width), { code: 'tile.invalid_bundle' }, name);
  }
  assert.equal(decodeBundle(new Uint8Array(256 * 2)).length, 256);
  // Arbitrary bytes from the network: a TileError or entries, never anything else.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      try {
        decodeBundle(bytes);
      } catch (err) {
        assert.ok(err instanceof TileError);
      }
    }),
    { numRuns: 1000 },
  );
});

test('fullTileRoot is MTH of the 256 hashes (rootOf), and reuses the memo it fills', async () => {
  const hashes = Array.from({ length: 256 }, (_, i) => hashLeaf(utf8(`leaf ${i}`)));
  const tile = new Uint8Array(256 * 32);
  for (const [i, h] of hashes.entries()) tile.set(h, i * 32);
  const cache = new TileHashCache();
  assert.equal(toHex(fullTileRoot(tile, cache)), toHex(rootOf(hashes)));
  // The interior hashes it computed serve a reader over the same bytes: node (7, 1) = hashes 128..255.
  const read = tileHashReader(async () => tile, 256, cache);
  const [node] = await read([{ level: 7, index: 1 }]);
  assert.equal(toHex(node!), toHex(rootOf(hashes.slice(128))));
  assert.throws(() => fullTileRoot(tile.subarray(32), cache), TileError);
});
