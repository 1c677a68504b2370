/**
 * RFC 9162 §2.1.3 inclusion and §2.1.4 consistency proofs: planning which tree nodes a proof
 * needs, assembling proofs from a hash reader, and verifying proofs (pure and synchronous).
 *
 * Proof elements are ordered as in the RFC: from the leaf (or the old tree) upward. An element
 * whose subtree is not perfect (the ragged right edge of the tree) is the hash of several
 * complete subtrees, folded right to left like a compact-range root.
 */
import { bytesEqual } from './crypto.js';
import { IndelibleError } from './errors.js';
import {
  bitLength,
  EMPTY_ROOT,
  HASH_SIZE,
  hashChildren,
  hashChildrenInto,
  isPowerOfTwo,
  isTreeSize,
  pow2,
  splitPoint,
} from './merkle.js';

export type ProofErrorCode =
  | 'proof.invalid_index'
  | 'proof.invalid_size'
  | 'proof.wrong_length'
  | 'proof.root_mismatch'
  | 'proof.invalid_hash'
  | 'proof.reader_mismatch';
export class ProofError extends IndelibleError<ProofErrorCode> {}

/** The complete subtree over leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** Returns the hashes of `nodes`, in order. Implementations read storage (e.g. tiles). */
export type HashReader = (nodes: readonly NodeId[]) => Promise<Uint8Array[]>;

function checkSize(size: number, name: string): void {
  if (!isTreeSize(size)) {
    throw new ProofError('proof.invalid_size', `${name} must be a safe integer ≥ 0`, {
      details: { [name]: size },
    });
  }
}

function checkIndex(index: number, treeSize: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= treeSize) {
    throw new ProofError('proof.invalid_index', 'leaf index must be in [0, tree size)', {
      details: { index, treeSize },
    });
  }
}

function checkHash(hash: Uint8Array, what: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw new ProofError('proof.invalid_hash', `${what} must be ${HASH_SIZE} bytes`);
  }
}

// ---- Planning ----

/** The perfect subtrees that cover [lo, hi), left to right (largest aligned block first). */
export function planRange(lo: number, hi: number): NodeId[] {
  const nodes: NodeId[] = [];
  for (let pos = lo; pos < hi; ) {
    let size = pow2(bitLength(hi - pos) - 1);
    while (pos % size !== 0) size /= 2;
    const level = bitLength(size) - 1;
    nodes.push({ level, index: pos / size });
    pos += size;
  }
  return nodes;
}

/** The perfect subtrees whose fold is the root of a tree of `treeSize` (none when empty). */
export function planRoot(treeSize: number): NodeId[] {
  checkSize(treeSize, 'treeSize');
  return planRange(0, treeSize);
}

/** The nodes of PATH(index, D[treeSize]) (RFC 9162 §2.1.3.1), one group per proof element. */
export function planInclusion(index: number, treeSize: number): NodeId[][] {
  checkSize(treeSize, 'treeSize');
  checkIndex(index, treeSize);
  const elements: NodeId[][] = [];
  // Walk down from the root; each split contributes the subtree on the side away from the leaf.
  let lo = 0;
  let hi = treeSize;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      elements.push(planRange(lo + k, hi));
      hi = lo + k;
    } else {
      elements.push([{ level: bitLength(k) - 1, index: lo / k }]);
      lo += k;
    }
  }
  return elements.reverse();
}

/**
 * The nodes of PROOF(size1, D[size2]) (RFC 9162 §2.1.4.1), one group per proof element.
 * size1 = 0 is rejected (proof.invalid_size), as verifyConsistency does; size1 = size2 gives [].
 */
export function planConsistency(size1: number, size2: number): NodeId[][] {
  checkSize(size1, 'size1');
  checkSize(size2, 'size2');
  if (size1 === 0 || size1 > size2) {
    throw new ProofError('proof.invalid_size', 'consistency needs 0 < size1 ≤ size2', {
      details: { size1, size2 },
    });
  }
  const elements: NodeId[][] = [];
  // SUBPROOF(m, D[lo:hi], b) unrolled; invariant lo < m ≤ hi.
  let lo = 0;
  let hi = size2;
  let whole = true; // b: [lo, hi) is still a prefix of the original tree
  while (size1 !== hi) {
    const k = splitPoint(hi - lo);
    if (size1 <= lo + k) {
      elements.push(planRange(lo + k, hi));
      hi = lo + k;
    } else {
      elements.push([{ level: bitLength(k) - 1, index: lo / k }]);
      lo += k;
      whole = false;
    }
  }
  if (!whole) elements.push(planRange(lo, hi));
  return elements.reverse();
}

// ---- Assembly through a HashReader (one read per proof) ----

/** Sizes whose folds an EdgeFoldCache keeps by default (the latest ones proven against). */
const EDGE_FOLD_SIZES = 4;

/**
 * Memoised proof elements over the ragged right edge of a tree: an element covering [start, size)
 * that is not one perfect subtree is a fold of several stored nodes, and it is the same for every
 * proof against `size` whose path passes there. Keeps the folds of the last `sizes` tree sizes asked
 * for (at most one per level each). A cache belongs to ONE tree (one log): a fold is a function of
 * that tree's leaves, so sharing a cache between trees returns wrong proofs.
 */
export class EdgeFoldCache {
  readonly #bySize = new Map<number, Map<number, Uint8Array>>();
  constructor(private readonly sizes = EDGE_FOLD_SIZES) {}

  /** The fold of [start, treeSize), if known; a copy, so callers may keep or modify it. */
  get(treeSize: number, start: number): Uint8Array | undefined {
    const fold = this.#bySize.get(treeSize)?.get(start);
    return fold === undefined ? undefined : new Uint8Array(fold);
  }

  set(treeSize: number, start: number, fold: Uint8Array): void {
    let folds = this.#bySize.get(treeSize);
    if (folds === undefined) {
      if (this.#bySize.size >= this.sizes) this.#bySize.delete(this.#bySize.keys().next().value!);
      folds = new Map();
      this.#bySize.set(treeSize, folds);
    }
    folds.set(start, new Uint8Array(fold));
  }
}

/** First leaf under `node`. */
const startOf = (node: NodeId): number => node.index * pow2(node.level);

/**
 * Folds each group of `hashes` (laid out as the groups of `plan` without a `known` element,
 * flattened) into one proof element; a group with a `known` element takes it as is.
 */
function foldPlan(
  plan: readonly (readonly NodeId[])[],
  hashes: readonly Uint8Array[],
  known: readonly (Uint8Array | undefined)[],
): Uint8Array[] {
  let total = 0;
  for (let g = 0; g < plan.length; g++) if (known[g] === undefined) total += plan[g]!.length;
  if (hashes.length !== total) {
    throw new ProofError(
      'proof.reader_mismatch',
      `hash reader returned ${hashes.length} hashes for ${total} nodes`,
    );
  }
  const out: Uint8Array[] = [];
  let next = 0;
  for (let g = 0; g < plan.length; g++) {
    const given = known[g];
    if (given !== undefined) {
      out.push(given);
      continue;
    }
    const end = next + plan[g]!.length;
    let acc = hashes[end - 1]!;
    checkHash(acc, 'hash from reader');
    for (let i = end - 2; i >= next; i--) {
      checkHash(hashes[i]!, 'hash from reader');
      acc = hashChildren(hashes[i]!, acc);
    }
    out.push(acc);
    next = end;
  }
  return out;
}

/**
 * Reads the nodes of `plan` in one `read` and folds them. With `edges`, a group of several nodes
 * ending at `treeSize` (a right-edge fold) is taken from the cache when there, and stored after.
 */
async function readPlan(
  plan: NodeId[][],
  read: HashReader,
  treeSize: number,
  edges: EdgeFoldCache | undefined,
): Promise<Uint8Array[]> {
  if (plan.length === 0) return [];
  const nodes: NodeId[] = [];
  const known = new Array<Uint8Array | undefined>(plan.length);
  // Groups of several nodes are right-edge folds; cache only those ending at the tree's edge.
  const edgeStart = (group: readonly NodeId[]): number | undefined => {
    if (edges === undefined || group.length < 2) return undefined;
    const last = group[group.length - 1]!;
    return startOf(last) + pow2(last.level) === treeSize ? startOf(group[0]!) : undefined;
  };
  for (let g = 0; g < plan.length; g++) {
    const group = plan[g]!;
    const start = edgeStart(group);
    if (start !== undefined) known[g] = edges!.get(treeSize, start);
    if (known[g] === undefined) for (const node of group) nodes.push(node);
  }
  const hashes = nodes.length === 0 ? [] : await read(nodes);
  const out = foldPlan(plan, hashes, known);
  for (let g = 0; g < plan.length; g++) {
    const start = known[g] === undefined ? edgeStart(plan[g]!) : undefined;
    if (start !== undefined) edges!.set(treeSize, start, out[g]!);
  }
  return out;
}

/**
 * PATH(index, D[treeSize]) from stored nodes, in at most one `read`. Every failure is a rejection.
 * `edges` (one per tree) memoises the right-edge folds, which every proof against a size shares.
 */
export async function proveInclusion(
  index: number,
  treeSize: number,
  read: HashReader,
  edges?: EdgeFoldCache,
): Promise<Uint8Array[]> {
  return readPlan(planInclusion(index, treeSize), read, treeSize, edges);
}

/** PROOF(size1, D[size2]) from stored nodes, in at most one `read` (none when size1 = size2). */
export async function proveConsistency(
  size1: number,
  size2: number,
  read: HashReader,
  edges?: EdgeFoldCache,
): Promise<Uint8Array[]> {
  return readPlan(planConsistency(size1, size2), read, size2, edges);
}

/** MTH(D[treeSize]) from stored nodes; the empty tree's root without reading anything. */
export async function computeRoot(treeSize: number, read: HashReader): Promise<Uint8Array> {
  const nodes = planRoot(treeSize);
  if (nodes.length === 0) return new Uint8Array(EMPTY_ROOT);
  const [root] = await readPlan([nodes], read, treeSize, undefined);
  return root!;
}

// ---- Verification, exactly RFC 9162 §2.1.3.2 and §2.1.4.2 ----
//
// Hash inputs (the leaf hash, every proof element, and both roots when size1 < size2) must be
// 32 bytes (proof.invalid_hash). A root is otherwise only compared: an inclusion root of another
// length is a proof.root_mismatch, and for size1 = size2 any two equal byte strings match, which
// is what transparency-dev's vector sizes-are-equal-one-and-proof-is-empty expects.

/** The root that `proof` implies for `leafHash` at `index` in a tree of `treeSize` (§2.1.3.2 steps 1–4). */
export function rootFromInclusionProof(
  index: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array {
  checkSize(treeSize, 'treeSize');
  checkIndex(index, treeSize);
  checkHash(leafHash, 'leaf hash');
  for (const p of proof) checkHash(p, 'proof element');
  let fn = index;
  let sn = treeSize - 1;
  // A copy, hashed in place (`new Uint8Array`: a Buffer's slice() would be a view of the caller's bytes).
  const r = new Uint8Array(leafHash);
  for (const p of proof) {
    if (sn === 0) throw new ProofError('proof.wrong_length', 'inclusion proof is too long');
    if (fn % 2 === 1 || fn === sn) {
      hashChildrenInto(p, 0, r, 0, r, 0);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      hashChildrenInto(r, 0, p, 0, r, 0);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new ProofError('proof.wrong_length', 'inclusion proof is too short');
  return r;
}

/** Throws a ProofError unless `proof` shows `leafHash` at `index` in the tree of `treeSize` with `root`. */
export function verifyInclusion(
  index: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const computed = rootFromInclusionProof(index, treeSize, leafHash, proof);
  if (!bytesEqual(computed, root)) {
    throw new ProofError('proof.root_mismatch', 'inclusion proof does not lead to the root', {
      details: { index, treeSize },
    });
  }
}

/**
 * Throws a ProofError unless `proof` shows that the tree of `size2` with `root2` extends the tree
 * of `size1` with `root1` (§2.1.4.2).
 *
 * size1 = 0 is always rejected (proof.invalid_size), even with size2 = 0, like transparency-dev's
 * verifier and its vectors: every tree extends the empty tree, so a proof from size 0 proves
 * nothing and callers holding no checkpoint yet skip this check. size1 = size2 needs an empty
 * proof and root1 = root2; size1 > size2 is proof.invalid_size.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  checkSize(size1, 'size1');
  checkSize(size2, 'size2');
  if (size1 === 0 || size1 > size2) {
    throw new ProofError('proof.invalid_size', 'consistency needs 0 < size1 ≤ size2', {
      details: { size1, size2 },
    });
  }
  if (size1 === size2) {
    if (proof.length !== 0)
      throw new ProofError('proof.wrong_length', 'proof between equal sizes must be empty');
    if (!bytesEqual(root1, root2)) {
      throw new ProofError('proof.root_mismatch', 'equal tree sizes with different roots', {
        details: { size1 },
      });
    }
    return;
  }
  // Step 1: an empty path fails.
  if (proof.length === 0) throw new ProofError('proof.wrong_length', 'consistency proof is empty');
  checkHash(root1, 'root1');
  checkHash(root2, 'root2');
  for (const p of proof) checkHash(p, 'proof element');
  // Step 2: when size1 is a power of two its root is the first path element, left implicit.
  const seeded = isPowerOfTwo(size1);
  const path = (i: number): Uint8Array => (seeded ? (i === 0 ? root1 : proof[i - 1]!) : proof[i]!);
  const length = seeded ? proof.length + 1 : proof.length;
  // Steps 3–4.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  // Steps 5–6, hashing in place.
  // Copies (never `slice()`, which is a view for a Buffer): both are hashed in place.
  const fr = new Uint8Array(path(0));
  const sr = new Uint8Array(fr);
  for (let i = 1; i < length; i++) {
    const c = path(i);
    if (sn === 0) throw new ProofError('proof.wrong_length', 'consistency proof is too long');
    if (fn % 2 === 1 || fn === sn) {
      hashChildrenInto(c, 0, fr, 0, fr, 0);
      hashChildrenInto(c, 0, sr, 0, sr, 0);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      hashChildrenInto(sr, 0, c, 0, sr, 0);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 7.
  if (sn !== 0) throw new ProofError('proof.wrong_length', 'consistency proof is too short');
  const root1Matches = bytesEqual(fr, root1);
  const root2Matches = bytesEqual(sr, root2);
  if (!root1Matches || !root2Matches) {
    // Which root the path reproduced: one that leads to root2 but not to root1 shows the tree of
    // root2 has another prefix of size1 (a fork), where a path that misses root2 shows nothing.
    throw new ProofError('proof.root_mismatch', 'consistency proof does not lead to both roots', {
      details: { size1, size2, root1Matches, root2Matches },
    });
  }
}
