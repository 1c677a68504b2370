// Proof planning, assembly and RFC 9162 verification against public vectors and properties.
// Vectors: test/vectors/merkle (transparency-dev/merkle @ 417fb0c3, testdata/ and testonly/) and
// test/vectors/note/derived-5-leaf-checkpoint-sigstore-verified.json (accepted by sigstore-js).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { readVectorJson, vectorPath } from '../testing/paths.js';
import { sha256 } from './crypto.js';
import { fromBase64, fromHex, toHex, utf8 } from './encoding.js';
import { CompactRange, hashChildren, hashLeaf, rootOf } from './merkle.js';
import {
  computeRoot,
  EdgeFoldCache,
  type HashReader,
  type NodeId,
  ProofError,
  planConsistency,
  planInclusion,
  proveConsistency,
  proveInclusion,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from './proof.js';

const hex = (s: string): Uint8Array => fromHex(s)!;
const b64 = (s: string): Uint8Array => fromBase64(s) ?? new Uint8Array(Buffer.from(s, 'base64'));

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof ProofError) return err.code;
    throw err;
  }
}

/** A NodeVisitor that files each node's hash into `levels[level][index]`. */
function recordInto(levels: Uint8Array[][]) {
  return (level: number, index: number, hash: Uint8Array): void => {
    levels[level] ??= [];
    levels[level][index] = hash;
  };
}

/** A HashReader over a table of perfect-subtree hashes by level, counting its calls. */
function tableReader(levels: readonly (readonly Uint8Array[])[]): HashReader & { calls: number } {
  const read = async (nodes: readonly NodeId[]): Promise<Uint8Array[]> => {
    read.calls++;
    return nodes.map((n) => {
      const h = levels[n.level]?.[n.index];
      if (h === undefined) throw new Error(`node ${n.level}/${n.index} is not in the table`);
      return h;
    });
  };
  read.calls = 0;
  return read;
}

// ---- transparency-dev/merkle testdata ----

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsonFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [],
  );
}
const testdata = (kind: string) => vectorPath('merkle', 'transparency-dev-merkle', 'testdata', kind);

test('transparency-dev inclusion probes all match wantErr', (t) => {
  const files = jsonFiles(testdata('inclusion'));
  let rejected = 0;
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    const proof = ((v.proof ?? []) as string[]).map(b64);
    const code = errorCode(() => verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), proof, b64(v.root)));
    assert.equal(code !== undefined, v.wantErr, `${file}: ${v.desc} (got ${code ?? 'accept'})`);
    if (code !== undefined) rejected++;
  }
  assert.equal(files.length, 98);
  t.diagnostic(`inclusion: ${files.length} files, ${files.length - rejected} accepted, ${rejected} rejected`);
});

test('transparency-dev consistency probes all match wantErr', (t) => {
  const files = jsonFiles(testdata('consistency'));
  let rejected = 0;
  for (const file of files) {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    const proof = ((v.proof ?? []) as string[]).map(b64);
    const code = errorCode(() => verifyConsistency(v.size1, v.size2, proof, b64(v.root1), b64(v.root2)));
    assert.equal(code !== undefined, v.wantErr, `${file}: ${v.desc} (got ${code ?? 'accept'})`);
    if (code !== undefined) rejected++;
  }
  assert.equal(files.length, 98);
  t.diagnostic(
    `consistency: ${files.length} files, ${files.length - rejected} accepted, ${rejected} rejected`,
  );
});

test('size1 = 0 is always invalid, as upstream (sizes-are-equal-zero-and-proof-is-empty)', () => {
  const v = JSON.parse(
    readFileSync(
      join(testdata('consistency'), 'additional', 'sizes-are-equal-zero-and-proof-is-empty.json'),
      'utf8',
    ),
  );
  assert.equal(
    errorCode(() => verifyConsistency(0, 0, [], b64(v.root1), b64(v.root2))),
    'proof.invalid_size',
  );
  assert.throws(() => planConsistency(0, 5), { code: 'proof.invalid_size' });
});

// ---- transparency-dev reference tree (8 leaves) ----

interface ReferenceTree {
  leafInputsHex: string[];
  nodeHashesByLevel: string[][];
  rootHashesByTreeSize: Record<string, string>;
  inclusionProofs_leafIndexIsZeroBased: Array<{ leafIndex: number; treeSize: number; proof: string[] }>;
  consistencyProofs: Array<{ size1: number; size2: number; proof: string[] }>;
}
const ref = readVectorJson<ReferenceTree>('merkle', 'reference-tree-8-leaves.json');
const refLevels = ref.nodeHashesByLevel.map((level) => level.map(hex));
const refRoot = (n: number) => hex(ref.rootHashesByTreeSize[String(n)]!);

test('reference tree: roots of every size from its node table', async () => {
  for (let n = 0; n <= 8; n++) {
    const read = tableReader(refLevels);
    assert.equal(toHex(await computeRoot(n, read)), toHex(refRoot(n)), `size ${n}`);
    assert.equal(read.calls, n === 0 ? 0 : 1);
  }
});

test('reference tree: inclusion proofs are generated byte for byte and verify', async () => {
  for (const p of ref.inclusionProofs_leafIndexIsZeroBased) {
    const read = tableReader(refLevels);
    const proof = await proveInclusion(p.leafIndex, p.treeSize, read);
    assert.deepEqual(proof.map(toHex), p.proof, `${p.leafIndex}@${p.treeSize}`);
    assert.equal(read.calls, p.proof.length === 0 ? 0 : 1);
    verifyInclusion(
      p.leafIndex,
      p.treeSize,
      refLevels[0]![p.leafIndex]!,
      p.proof.map(hex),
      refRoot(p.treeSize),
    );
  }
});

test('reference tree: consistency proofs are generated byte for byte and verify', async () => {
  for (const p of ref.consistencyProofs) {
    const read = tableReader(refLevels);
    const proof = await proveConsistency(p.size1, p.size2, read);
    assert.deepEqual(proof.map(toHex), p.proof, `${p.size1}→${p.size2}`);
    assert.equal(read.calls, p.size1 === p.size2 ? 0 : 1);
    verifyConsistency(p.size1, p.size2, p.proof.map(hex), refRoot(p.size1), refRoot(p.size2));
  }
});

test('reference tree: every (index, size) and (size1, size2) pair verifies', async () => {
  for (let n = 1; n <= 8; n++) {
    for (let i = 0; i < n; i++) {
      const proof = await proveInclusion(i, n, tableReader(refLevels));
      verifyInclusion(i, n, refLevels[0]![i]!, proof, refRoot(n));
    }
    for (let m = 1; m <= n; m++) {
      const proof = await proveConsistency(m, n, tableReader(refLevels));
      verifyConsistency(m, n, proof, refRoot(m), refRoot(n));
    }
  }
});

// ---- derived 5-leaf tree (inclusion proofs accepted by sigstore-js) ----

test('derived 5-leaf vectors: leaf hashes, root, inclusion and consistency proofs', async () => {
  const v = readVectorJson<{
    leavesUtf8: string[];
    leafHashes: string[];
    rootHex: string;
    inclusionProofs: Array<{ leafIndex: number; treeSize: number; proof: string[] }>;
    consistencyProofsTo5: Array<{ size1: number; size2: number; root1: string; proof: string[] }>;
  }>('note', 'derived-5-leaf-checkpoint-sigstore-verified.json');
  const leaves = v.leavesUtf8.map((s) => hashLeaf(utf8(s)));
  assert.deepEqual(leaves.map(toHex), v.leafHashes);
  assert.equal(toHex(rootOf(leaves)), v.rootHex);
  const levels: Uint8Array[][] = [];
  const range = new CompactRange();
  for (const leaf of leaves) range.append(leaf, recordInto(levels));
  for (const p of v.inclusionProofs) {
    verifyInclusion(p.leafIndex, p.treeSize, leaves[p.leafIndex]!, p.proof.map(hex), hex(v.rootHex));
    const made = await proveInclusion(p.leafIndex, p.treeSize, tableReader(levels));
    assert.deepEqual(made.map(toHex), p.proof);
  }
  for (const p of v.consistencyProofsTo5) {
    verifyConsistency(p.size1, p.size2, p.proof.map(hex), hex(p.root1), hex(v.rootHex));
    const made = await proveConsistency(p.size1, p.size2, tableReader(levels));
    assert.deepEqual(made.map(toHex), p.proof);
  }
});

// ---- argument checking ----

test('verification rejects bad arguments with codes, never TypeErrors', () => {
  const h = new Uint8Array(32);
  const table: Array<[string, () => unknown, string]> = [
    ['index = size', () => verifyInclusion(3, 3, h, [h, h], h), 'proof.invalid_index'],
    ['negative index', () => verifyInclusion(-1, 3, h, [], h), 'proof.invalid_index'],
    ['fractional index', () => verifyInclusion(0.5, 3, h, [], h), 'proof.invalid_index'],
    ['empty tree', () => verifyInclusion(0, 0, h, [], h), 'proof.invalid_index'],
    ['unsafe size', () => verifyInclusion(0, 2 ** 53, h, [], h), 'proof.invalid_size'],
    ['NaN size', () => verifyInclusion(0, Number.NaN, h, [], h), 'proof.invalid_size'],
    ['short leaf hash', () => verifyInclusion(0, 1, new Uint8Array(31), [], h), 'proof.invalid_hash'],
    ['long proof element', () => verifyInclusion(0, 2, h, [new Uint8Array(33)], h), 'proof.invalid_hash'],
    ['too long', () => verifyInclusion(0, 2, h, [h, h], h), 'proof.wrong_length'],
    ['too short', () => verifyInclusion(0, 4, h, [h], h), 'proof.wrong_length'],
    ['size1 > size2', () => verifyConsistency(3, 2, [h], h, h), 'proof.invalid_size'],
    ['equal sizes, proof', () => verifyConsistency(2, 2, [h], h, h), 'proof.wrong_length'],
    ['empty consistency', () => verifyConsistency(2, 3, [], h, h), 'proof.wrong_length'],
    ['short root1', () => verifyConsistency(2, 3, [h], new Uint8Array(1), h), 'proof.invalid_hash'],
  ];
  for (const [name, fn, code] of table) assert.equal(errorCode(fn), code, name);
});

test('proof generation rejects (never throws synchronously) on bad sizes', async () => {
  const read = tableReader(refLevels);
  await assert.rejects(proveInclusion(8, 8, read), { code: 'proof.invalid_index' });
  await assert.rejects(proveInclusion(0, -1, read), { code: 'proof.invalid_size' });
  await assert.rejects(proveConsistency(0, 8, read), { code: 'proof.invalid_size' });
  await assert.rejects(proveConsistency(5, 4, read), { code: 'proof.invalid_size' });
  await assert.rejects(computeRoot(2 ** 53, read), { code: 'proof.invalid_size' });
  assert.equal(read.calls, 0);
});

test('a reader that returns the wrong count or hash sizes is reported', async () => {
  await assert.rejects(
    proveInclusion(0, 4, async () => []),
    { code: 'proof.reader_mismatch' },
  );
  await assert.rejects(
    proveInclusion(0, 4, async (n) => n.map(() => new Uint8Array(3))),
    { code: 'proof.invalid_hash' },
  );
});

// ---- properties over trees up to 100,000 leaves ----

const MAX = 100_000;
const leafAt = (i: number) => hashLeaf(utf8(`leaf ${i}`));
const big = (() => {
  const leaves: Uint8Array[] = [];
  const levels: Uint8Array[][] = [];
  const roots: Uint8Array[] = [];
  const range = new CompactRange();
  roots.push(range.root());
  for (let i = 0; i < MAX; i++) {
    const leaf = leafAt(i);
    leaves.push(leaf);
    range.append(leaf, recordInto(levels));
    roots.push(range.root());
  }
  return { leaves, levels, roots };
})();

test('CompactRange roots used below agree with the RFC reference rootOf', () => {
  const sizes = [1, 2, 3, 255, 256, 257, 4097, 65535, 65536, 65537, 99_999, MAX];
  for (let k = 0; k < 8; k++) sizes.push(1 + Math.floor(Math.random() * MAX));
  for (const n of sizes)
    assert.equal(toHex(big.roots[n]!), toHex(rootOf(big.leaves.slice(0, n))), `size ${n}`);
});

/** The left/right choices of RFC 9162 PATH(m, D[n]) from the root down: fixes how a proof is hashed. */
function pathShape(m: number, n: number): string {
  let shape = '';
  for (let lo = 0, hi = n; hi - lo > 1; ) {
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    if (m < lo + k) {
      shape += 'L';
      hi = lo + k;
    } else {
      shape += 'R';
      lo += k;
    }
  }
  return shape;
}

/** The choices of RFC 9162 SUBPROOF(m, D[n], true) and whether the old root is left implicit. */
function subproofShape(m: number, n: number): string {
  let shape = '';
  let lo = 0;
  let hi = n;
  let whole = true;
  while (m !== hi) {
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    if (m <= lo + k) {
      shape += 'L';
      hi = lo + k;
    } else {
      shape += 'R';
      lo += k;
      whole = false;
    }
  }
  return shape + (whole ? '=' : '+');
}

const sizeArb = fc.oneof(
  fc.integer({ min: 1, max: 600 }),
  fc.integer({ min: 1, max: MAX }),
  // Sizes around powers of two, where the tree's shape changes.
  fc
    .tuple(fc.integer({ min: 0, max: 16 }), fc.integer({ min: -2, max: 2 }))
    .map(([bits, d]) => Math.min(MAX, Math.max(1, 2 ** bits + d))),
);

function mutations(proof: readonly Uint8Array[]): Array<[string, Uint8Array[]]> {
  const out: Array<[string, Uint8Array[]]> = [];
  for (let i = 0; i < proof.length; i++) {
    const flipped = proof.map((x) => x.slice());
    flipped[i]![(i * 7) % 32]! ^= 1 << (i % 8);
    out.push([`bit flipped in element ${i}`, flipped]);
  }
  if (proof.length > 0) {
    out.push(['last element dropped', proof.slice(0, -1)]);
    out.push(['first element dropped', proof.slice(1)]);
  }
  out.push(['extended', [...proof, big.leaves[0]!]]);
  out.push(['prefixed', [big.leaves[0]!, ...proof]]);
  return out;
}

test('property: generated inclusion proofs verify; tampering is rejected', async () => {
  let checked = 0;
  await fc.assert(
    fc.asyncProperty(sizeArb, fc.nat(), fc.nat(), fc.nat(), async (size, i, j, s) => {
      const index = i % size;
      const root = big.roots[size]!;
      const read = tableReader(big.levels);
      const proof = await proveInclusion(index, size, read);
      assert.equal(read.calls, size === 1 ? 0 : 1);
      verifyInclusion(index, size, big.leaves[index]!, proof, root);
      for (const [what, bad] of mutations(proof)) {
        assert.notEqual(
          errorCode(() => verifyInclusion(index, size, big.leaves[index]!, bad, root)),
          undefined,
          what,
        );
      }
      assert.equal(
        errorCode(() => verifyInclusion(index, size, big.leaves[(index + 1) % MAX]!, proof, root)),
        'proof.root_mismatch',
      );
      // A wrong index or size verifies exactly when RFC 9162 would hash the same path the same way.
      const otherIndex = j % size;
      const otherSize = 1 + (s % MAX);
      for (const [m, n] of [
        [otherIndex, size],
        [index, otherSize],
      ] as const) {
        if (m >= n) continue;
        const sameShape = pathShape(m, n) === pathShape(index, size);
        const accepted =
          errorCode(() => verifyInclusion(m, n, big.leaves[index]!, proof, root)) === undefined;
        assert.equal(accepted, sameShape, `verify as ${m}@${n} for ${index}@${size}`);
        if (m !== index) assert.equal(sameShape, false);
      }
      checked++;
    }),
    { numRuns: 300 },
  );
  assert.ok(checked >= 300);
});

test('property: generated consistency proofs verify; tampering is rejected', async () => {
  await fc.assert(
    fc.asyncProperty(sizeArb, sizeArb, fc.integer({ min: -3, max: 3 }), async (a, b, delta) => {
      const size1 = Math.min(a, b);
      const size2 = Math.max(a, b);
      const root1 = big.roots[size1]!;
      const root2 = big.roots[size2]!;
      const read = tableReader(big.levels);
      const proof = await proveConsistency(size1, size2, read);
      assert.equal(read.calls, size1 === size2 ? 0 : 1);
      verifyConsistency(size1, size2, proof, root1, root2);
      for (const [what, bad] of mutations(proof)) {
        assert.notEqual(
          errorCode(() => verifyConsistency(size1, size2, bad, root1, root2)),
          undefined,
          what,
        );
      }
      if (size1 !== size2) {
        assert.equal(
          errorCode(() => verifyConsistency(size1, size2, proof, root2, root1)),
          'proof.root_mismatch',
        );
      }
      for (const [m, n] of [
        [size1 + delta, size2],
        [size1, size2 + delta],
      ] as const) {
        if (delta === 0 || m < 1 || m > n || n > MAX) continue;
        const sameShape = subproofShape(m, n) === subproofShape(size1, size2);
        const accepted = errorCode(() => verifyConsistency(m, n, proof, root1, root2)) === undefined;
        assert.equal(accepted, sameShape, `verify as ${m}→${n} for ${size1}→${size2}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('property: rootFromInclusionProof equals the tree root and plans have one group per element', () => {
  fc.assert(
    fc.property(sizeArb, fc.nat(), (size, i) => {
      const index = i % size;
      const plan = planInclusion(index, size);
      // Fold each group with Node's SHA-256 directly, independently of hashChildren's fast path.
      const proof = plan.map((group) => {
        let acc = big.levels[group.at(-1)!.level]![group.at(-1)!.index]!;
        for (let g = group.length - 2; g >= 0; g--) {
          acc = hashChildrenRef(big.levels[group[g]!.level]![group[g]!.index]!, acc);
        }
        return acc;
      });
      assert.equal(
        toHex(rootFromInclusionProof(index, size, big.leaves[index]!, proof)),
        toHex(big.roots[size]!),
      );
    }),
    { numRuns: 200 },
  );
});

function hashChildrenRef(l: Uint8Array, r: Uint8Array): Uint8Array {
  return sha256(new Uint8Array([1]), l, r);
}

// ---- the right-edge fold cache ----

/** A table reader that also counts the nodes it was asked for. */
function countingReader(levels: readonly (readonly Uint8Array[])[]) {
  const inner = tableReader(levels);
  const read = async (nodes: readonly NodeId[]) => {
    read.nodes += nodes.length;
    return inner(nodes);
  };
  read.nodes = 0;
  return read;
}

test('property: proofs through a shared EdgeFoldCache equal proofs without one', async () => {
  const edges = new EdgeFoldCache(2);
  await fc.assert(
    fc.asyncProperty(sizeArb, fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), async (size, picks) => {
      for (const p of picks) {
        const index = p % size;
        const plain = await proveInclusion(index, size, tableReader(big.levels));
        const cached = await proveInclusion(index, size, tableReader(big.levels), edges);
        assert.deepEqual(cached.map(toHex), plain.map(toHex), `inclusion ${index}@${size}`);
        verifyInclusion(index, size, big.leaves[index]!, cached, big.roots[size]!);
        const from = 1 + (p % size);
        const consistency = await proveConsistency(from, size, tableReader(big.levels), edges);
        assert.deepEqual(
          consistency.map(toHex),
          (await proveConsistency(from, size, tableReader(big.levels))).map(toHex),
          `consistency ${from}→${size}`,
        );
      }
    }),
    { numRuns: 200 },
  );
});

test('EdgeFoldCache: a repeated proof reads only its perfect subtrees; elements are copies', async () => {
  // 1000 = 512 + 256 + 128 + 64 + 32 + 8: the proof of leaf 0 has one right-edge element folded
  // from the five subtrees covering [512, 1000), plus the nine perfect siblings below 512.
  const size = 1000;
  const edges = new EdgeFoldCache();
  const first = countingReader(big.levels);
  const proof = await proveInclusion(0, size, first, edges);
  assert.equal(first.nodes, 9 + 5);
  const again = countingReader(big.levels);
  const proof2 = await proveInclusion(0, size, again, edges);
  assert.equal(again.nodes, 9, 'the fold over [512, 1000) comes from the cache');
  assert.deepEqual(proof2.map(toHex), proof.map(toHex));
  proof2[9]!.fill(0); // a caller scribbling on its proof must not reach the cache
  const proof3 = await proveInclusion(0, size, countingReader(big.levels), edges);
  verifyInclusion(0, size, big.leaves[0]!, proof3, big.roots[size]!);
  // Another tree size does not see the first size's folds.
  const other = countingReader(big.levels);
  await proveInclusion(0, size - 1, other, edges);
  assert.ok(other.nodes > 9);
});

test("verification and CompactRange never modify the caller's hashes, Buffers included", () => {
  // Buffer#slice is a view, not a copy: hashing "a copy" in place would overwrite these.
  const leaves = Array.from({ length: 5 }, (_, i) => Buffer.from(hashLeaf(new Uint8Array([i]))));
  const range = new CompactRange();
  for (const leaf of leaves) range.append(leaf);
  assert.deepEqual(
    leaves.map((l) => l.toString('hex')),
    leaves.map((_, i) => toHex(hashLeaf(new Uint8Array([i])))),
  );
  const root = Buffer.from(range.root());
  const proof = [hashChildren(leaves[0]!, leaves[1]!), hashChildren(leaves[2]!, leaves[3]!)].map((h) =>
    Buffer.from(h),
  );
  const leaf4 = Buffer.from(leaves[4]!);
  const before = [leaf4, root, ...proof].map((b) => b.toString('hex'));
  verifyInclusion(4, 5, leaf4, [hashChildren(proof[0]!, proof[1]!)], root);
  const old = Buffer.from(rootOf(leaves.slice(0, 4)));
  const oldCopy = old.toString('hex');
  verifyConsistency(4, 5, [leaves[4]!], old, root);
  assert.equal(old.toString('hex'), oldCopy);
  assert.deepEqual(
    [leaf4, root, ...proof].map((b) => b.toString('hex')),
    before,
  );
});
