// RFC 6962 hashing, the reference tree hash and CompactRange.
// Vectors: test/vectors/merkle/reference-tree-8-leaves.json (transparency-dev/merkle @ 417fb0c3,
// testonly/constants.go and rfc6962/rfc6962_test.go) and the derived 5-leaf tree in test/vectors/note.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { readVectorJson } from '../testing/paths.js';
import { fromHex, toHex, utf8 } from './encoding.js';
import {
  bitLength,
  CompactRange,
  EMPTY_ROOT,
  hashChildren,
  hashChildrenInto,
  hashLeaf,
  isPowerOfTwo,
  popCount,
  rootOf,
  splitPoint,
} from './merkle.js';

const hex = (s: string): Uint8Array => fromHex(s)!;
/** SHA-256 through node:crypto, independent of merkle.ts's own node hash. */
const nodeSha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return toHex(new Uint8Array(h.digest()));
};

interface ReferenceTree {
  leafInputsHex: string[];
  nodeHashesByLevel: string[][];
  rootHashesByTreeSize: Record<string, string>;
  hasherVectors: {
    emptyRoot: { sha256: string };
    emptyLeaf: { leafAscii: string; hash: string };
    leaf_L123456: { leafAscii: string; hash: string };
    node_N123_N456: { leftAscii: string; rightAscii: string; hash: string };
  };
}
const ref = readVectorJson<ReferenceTree>('merkle', 'reference-tree-8-leaves.json');
const refLeaves = ref.leafInputsHex.map((h) => hashLeaf(hex(h)));

test('RFC 6962 hasher vectors (transparency-dev rfc6962_test.go)', () => {
  const v = ref.hasherVectors;
  assert.equal(toHex(EMPTY_ROOT), v.emptyRoot.sha256);
  assert.equal(toHex(hashLeaf(utf8(v.emptyLeaf.leafAscii))), v.emptyLeaf.hash);
  assert.equal(toHex(hashLeaf(utf8(v.leaf_L123456.leafAscii))), v.leaf_L123456.hash);
  // 4-byte children take the general path; 32-byte children the specialised one (below).
  assert.equal(
    toHex(hashChildren(utf8(v.node_N123_N456.leftAscii), utf8(v.node_N123_N456.rightAscii))),
    v.node_N123_N456.hash,
  );
});

test('reference tree: leaf hashes, every root by size, from rootOf and CompactRange', () => {
  assert.deepEqual(refLeaves.map(toHex), ref.nodeHashesByLevel[0]);
  const range = new CompactRange();
  for (let n = 0; n <= 8; n++) {
    const want = ref.rootHashesByTreeSize[String(n)];
    assert.equal(toHex(rootOf(refLeaves.slice(0, n))), want, `rootOf size ${n}`);
    assert.equal(toHex(range.root()), want, `CompactRange size ${n}`);
    if (n < 8) range.append(refLeaves[n]!);
  }
});

test('reference tree: the visitor reports every node of the 8-leaf tree exactly once', () => {
  const seen = new Map<string, string>();
  const range = new CompactRange();
  for (const leaf of refLeaves) {
    range.append(leaf, (level, index, hash) => {
      const key = `${level}/${index}`;
      assert.ok(!seen.has(key), `visited ${key} twice`);
      seen.set(key, toHex(hash));
    });
  }
  const want = new Map(
    ref.nodeHashesByLevel.flatMap((row, level) => row.map((h, i) => [`${level}/${i}`, h] as const)),
  );
  assert.deepEqual(seen, want);
});

test('derived 5-leaf tree root (accepted by sigstore-js)', () => {
  const v = readVectorJson<{ leavesUtf8: string[]; rootHex: string }>(
    'note',
    'derived-5-leaf-checkpoint-sigstore-verified.json',
  );
  assert.equal(toHex(rootOf(v.leavesUtf8.map((s) => hashLeaf(utf8(s))))), v.rootHex);
});

test('property: the specialised node hash equals SHA-256(0x01 ‖ l ‖ r) from node:crypto', () => {
  const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const edge = fc.constantFrom(
    new Uint8Array(32),
    new Uint8Array(32).fill(0xff),
    new Uint8Array(32).fill(0x80),
  );
  fc.assert(
    fc.property(fc.oneof(hash32, edge), fc.oneof(hash32, edge), fc.nat(40), fc.nat(40), (l, r, lo, ro) => {
      const want = nodeSha(new Uint8Array([1]), l, r);
      assert.equal(toHex(hashChildren(l, r)), want);
      // At offsets inside larger buffers, as tile code calls it.
      const lb = new Uint8Array(lo + 32 + 7);
      lb.set(l, lo);
      const rb = new Uint8Array(ro + 32 + 3);
      rb.set(r, ro);
      const out = new Uint8Array(80);
      hashChildrenInto(lb, lo, rb, ro, out, 17);
      assert.equal(toHex(out.subarray(17, 49)), want);
    }),
    { numRuns: 3000 },
  );
});

test('every value of the last input byte (the precomputed second block)', () => {
  const l = new Uint8Array(32).map((_, i) => i * 13);
  for (let last = 0; last < 256; last++) {
    const r = new Uint8Array(32).map((_, i) => 255 - i);
    r[31] = last;
    assert.equal(toHex(hashChildren(l, r)), nodeSha(new Uint8Array([1]), l, r), `last byte ${last}`);
  }
});

test('bit helpers at 32-bit and 53-bit boundaries', () => {
  const table: Array<[number, number, number]> = [
    // n, bitLength, popCount
    [0, 0, 0],
    [1, 1, 1],
    [2 ** 31 - 1, 31, 31],
    [2 ** 31, 32, 1],
    [2 ** 32 - 1, 32, 32],
    [2 ** 32, 33, 1],
    [2 ** 32 + 5, 33, 3],
    [Number.MAX_SAFE_INTEGER, 53, 53],
  ];
  for (const [n, len, pop] of table) {
    assert.equal(bitLength(n), len, `bitLength(${n})`);
    assert.equal(popCount(n), pop, `popCount(${n})`);
  }
  assert.equal(splitPoint(2), 1);
  assert.equal(splitPoint(5), 4);
  assert.equal(splitPoint(8), 4);
  assert.equal(splitPoint(2 ** 40 + 1), 2 ** 40);
  assert.equal(isPowerOfTwo(2 ** 52), true);
  assert.equal(isPowerOfTwo(2 ** 52 + 2), false);
  assert.equal(isPowerOfTwo(0), false);
});

const leafAt = (i: number) => hashLeaf(utf8(`leaf ${i}`));
const leaves = Array.from({ length: 5000 }, (_, i) => leafAt(i));

test('property: CompactRange matches rootOf, visits each perfect node once, and restores', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 5000 }), fc.nat(), (size, cut) => {
      const split = size === 0 ? 0 : cut % (size + 1);
      const visited = new Map<string, Uint8Array>();
      const visit = (level: number, index: number, hash: Uint8Array) => {
        const key = `${level}/${index}`;
        assert.ok(!visited.has(key), `visited ${key} twice`);
        visited.set(key, hash.slice());
      };
      const first = new CompactRange();
      for (let i = 0; i < split; i++) first.append(leaves[i]!, visit);
      // Persist and restore mid-way, as the engine does across restarts.
      const saved = first.hashes();
      assert.equal(saved.length, popCount(split));
      const range = CompactRange.fromHashes(split, saved);
      for (let i = split; i < size; i++) range.append(leaves[i]!, visit);
      assert.equal(range.size, size);
      assert.equal(toHex(range.root()), toHex(rootOf(leaves.slice(0, size))));
      // Every perfect subtree of [0, size) was visited, with the reference hash of its leaves.
      let expected = 0;
      for (let level = 0; 2 ** level <= size; level++) expected += Math.floor(size / 2 ** level);
      assert.equal(visited.size, expected);
      for (let k = 0; k < 8 && size > 0; k++) {
        const level = (cut + k) % bitLength(size);
        const count = Math.floor(size / 2 ** level);
        const index = (cut * 7 + k) % count;
        const span = leaves.slice(index * 2 ** level, (index + 1) * 2 ** level);
        assert.equal(toHex(visited.get(`${level}/${index}`)!), toHex(rootOf(span)));
      }
    }),
    { numRuns: 150 },
  );
});

test('CompactRange owns its hashes: callers mutating inputs or outputs change nothing', () => {
  const range = new CompactRange();
  const leaf = leafAt(1);
  range.append(leaf);
  leaf.fill(0);
  const root = range.root();
  root.fill(1);
  range.hashes()[0]!.fill(2);
  assert.equal(toHex(range.root()), toHex(leafAt(1)));
  const clone = range.clone();
  clone.append(leafAt(2));
  assert.equal(range.size, 1);
  assert.equal(clone.size, 2);
  const r = rootOf([leafAt(3)]);
  r.fill(0);
  assert.equal(toHex(rootOf([leafAt(3)])), toHex(leafAt(3)));
  EMPTY_ROOT.slice().fill(0);
  assert.equal(toHex(new CompactRange().root()), ref.hasherVectors.emptyRoot.sha256);
});

test('CompactRange and rootOf reject malformed input with codes', () => {
  const table: Array<[string, () => unknown, string]> = [
    ['short leaf', () => new CompactRange().append(new Uint8Array(31)), 'merkle.invalid_hash'],
    ['not bytes', () => new CompactRange().append('x' as unknown as Uint8Array), 'merkle.invalid_hash'],
    ['count ≠ popcount', () => CompactRange.fromHashes(3, [leafAt(0)]), 'merkle.invalid_size'],
    ['negative size', () => CompactRange.fromHashes(-1, []), 'merkle.invalid_size'],
    ['unsafe size', () => CompactRange.fromHashes(2 ** 53, [leafAt(0)]), 'merkle.invalid_size'],
    ['fractional size', () => CompactRange.fromHashes(1.5, [leafAt(0)]), 'merkle.invalid_size'],
    ['short range hash', () => CompactRange.fromHashes(1, [new Uint8Array(3)]), 'merkle.invalid_hash'],
    ['rootOf short leaf', () => rootOf([leafAt(0), new Uint8Array(2)]), 'merkle.invalid_hash'],
  ];
  for (const [name, fn, code] of table) assert.throws(fn, { code }, name);
  // A range restored at the largest safe size is full.
  const full = CompactRange.fromHashes(
    Number.MAX_SAFE_INTEGER,
    Array.from({ length: 53 }, (_, i) => leafAt(i)),
  );
  assert.throws(() => full.append(leafAt(0)), { code: 'merkle.invalid_size' });
});
