/**
 * RFC 6962 / RFC 9162 §2.1 Merkle tree hashing, the reference tree hash and an incremental tree.
 *
 * Leaf hash = SHA-256(0x00 ‖ entry), interior node = SHA-256(0x01 ‖ left ‖ right), empty tree =
 * SHA-256(""). Sizes and indices are plain numbers that must be safe integers (≤ 2^53 − 1).
 */
import { sha256, sha256Into } from './crypto.js';
import { IndelibleError } from './errors.js';

export type MerkleErrorCode = 'merkle.invalid_size' | 'merkle.invalid_hash';
export class MerkleError extends IndelibleError<MerkleErrorCode> {}

export const HASH_SIZE = 32;
const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** The root of the empty tree, SHA-256 of the empty string (RFC 9162 §2.1.1). Never mutate it. */
export const EMPTY_ROOT: Uint8Array = sha256();

/** The RFC 6962 leaf hash of one entry. */
export function hashLeaf(data: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, data);
}

/** The RFC 6962 interior node hash SHA-256(0x01 ‖ left ‖ right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length === HASH_SIZE && right.length === HASH_SIZE) {
    return hashChildrenInto(left, 0, right, 0, new Uint8Array(HASH_SIZE), 0);
  }
  // Only the hasher test vectors hash children that are not 32-byte hashes.
  return sha256(NODE_PREFIX, left, right);
}

// ---- Bit arithmetic on safe integers (JavaScript bit operators truncate to 32 bits). ----

const TWO_32 = 2 ** 32;

/** Number of bits needed to write `n` (0 for 0); `n` is a non-negative safe integer. */
export function bitLength(n: number): number {
  return n < TWO_32 ? 32 - Math.clz32(n) : 32 + bitLength(Math.floor(n / TWO_32));
}

/** Number of set bits of a non-negative safe integer. */
export function popCount(n: number): number {
  let count = 0;
  for (let x = n; x > 0; x = Math.floor(x / 2)) count += x % 2;
  return count;
}

/** True when `n` is 2^k for some k ≥ 0. */
export function isPowerOfTwo(n: number): boolean {
  return n > 0 && pow2(bitLength(n) - 1) === n;
}

/** 2^k for 0 ≤ k ≤ 53 (a shift while it fits in 31 bits, which is the common case). */
export function pow2(k: number): number {
  return k < 31 ? 1 << k : 2 ** k;
}

/** The largest power of two strictly less than `n` (the RFC 9162 split point k, for n ≥ 2). */
export function splitPoint(n: number): number {
  return pow2(bitLength(n - 1) - 1);
}

export function isTreeSize(n: unknown): n is number {
  return Number.isSafeInteger(n) && (n as number) >= 0;
}

function checkHash(hash: Uint8Array, what: string): void {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw new MerkleError('merkle.invalid_hash', `${what} must be ${HASH_SIZE} bytes`);
  }
}

/**
 * MTH(D[n]) over leaf hashes, straight from the recursive definition of RFC 9162 §2.1.1.
 * O(n) hashes and O(log n) stack: the reference that CompactRange and tiles are tested against.
 */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return new Uint8Array(EMPTY_ROOT);
  for (const h of leafHashes) checkHash(h, 'leaf hash');
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return new Uint8Array(leafHashes[lo]!);
    const k = splitPoint(hi - lo);
    return hashChildren(mth(lo, lo + k), mth(lo + k, hi));
  };
  return mth(0, leafHashes.length);
}

/** Called for each complete subtree that becomes computable: level 0 is the leaf itself. */
export type NodeVisitor = (level: number, index: number, hash: Uint8Array) => void;

/**
 * The right edge of a growing tree in O(log n) memory: the roots of the perfect subtrees that
 * decompose [0, size), largest (leftmost) first — one per set bit of `size`.
 *
 * `append` passes every node that becomes complete to `visit` (in increasing level), which is
 * how the tile builder learns the level-0/8/16… hashes without re-reading anything. Hashes given
 * to the visitor are owned by the range: copy them before mutating.
 */
export class CompactRange {
  #size = 0;
  readonly #stack: Uint8Array[] = [];

  get size(): number {
    return this.#size;
  }

  append(leafHash: Uint8Array, visit?: NodeVisitor): void {
    checkHash(leafHash, 'leaf hash');
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new MerkleError('merkle.invalid_size', 'tree is full');
    let index = this.#size;
    let hash: Uint8Array = new Uint8Array(leafHash); // a copy even of a Buffer (whose slice() is a view)
    let level = 0;
    visit?.(0, index, hash);
    // Each trailing 1 bit of the old size is a perfect subtree that the new leaf completes.
    while (index % 2 === 1) {
      hash = hashChildren(this.#stack.pop()!, hash);
      index = (index - 1) / 2;
      level++;
      visit?.(level, index, hash);
    }
    this.#stack.push(hash);
    this.#size++;
  }

  /** MTH over [0, size): the perfect-subtree roots folded right to left (RFC 9162 §2.1.1). */
  root(): Uint8Array {
    const stack = this.#stack;
    if (stack.length === 0) return new Uint8Array(EMPTY_ROOT);
    let root = stack[stack.length - 1]!;
    for (let i = stack.length - 2; i >= 0; i--) root = hashChildren(stack[i]!, root);
    return root === stack[stack.length - 1] ? new Uint8Array(root) : root;
  }

  /** Copies of the perfect-subtree roots, left to right (what `fromHashes` needs to restore). */
  hashes(): Uint8Array[] {
    return this.#stack.map((h) => new Uint8Array(h));
  }

  clone(): CompactRange {
    return CompactRange.fromHashes(this.#size, this.#stack);
  }

  /** Restores a range persisted with `size` and `hashes()`; rejects a count that does not fit `size`. */
  static fromHashes(size: number, hashes: readonly Uint8Array[]): CompactRange {
    if (!isTreeSize(size)) throw new MerkleError('merkle.invalid_size', 'size must be a safe integer ≥ 0');
    if (hashes.length !== popCount(size)) {
      throw new MerkleError('merkle.invalid_size', `a range of size ${size} has ${popCount(size)} hashes`, {
        details: { size, hashes: hashes.length },
      });
    }
    const range = new CompactRange();
    for (const h of hashes) {
      checkHash(h, 'range hash');
      range.#stack.push(new Uint8Array(h));
    }
    range.#size = size;
    return range;
  }
}

// ---- SHA-256 of one interior node (0x01 ‖ 32 bytes ‖ 32 bytes). ----
// Proof verification and tile computation are nothing but node hashes, so the message is assembled
// in one reused buffer (hashing is synchronous) and hashed with crypto.ts's one-shot SHA-256.

const nodeMessage = new Uint8Array(1 + 2 * HASH_SIZE);
nodeMessage[0] = 0x01;

/**
 * Writes SHA-256(0x01 ‖ left[lo..lo+32) ‖ right[ro..ro+32)) to out[oo..oo+32) and returns `out`.
 * Offsets let tile code hash adjacent hashes without allocating views. All input is read before
 * any output is written, so `out` may overlap either input (verifiers hash in place).
 */
export function hashChildrenInto(
  left: Uint8Array,
  lo: number,
  right: Uint8Array,
  ro: number,
  out: Uint8Array,
  oo: number,
): Uint8Array {
  // Byte loops, not subarray views: this runs once per tree node and views cost an allocation each.
  for (let i = 0; i < HASH_SIZE; i++) nodeMessage[1 + i] = left[lo + i]!;
  for (let i = 0; i < HASH_SIZE; i++) nodeMessage[1 + HASH_SIZE + i] = right[ro + i]!;
  sha256Into(nodeMessage, out, oo);
  return out;
}
