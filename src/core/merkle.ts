/**
 * RFC 6962 / RFC 9162 §2.1 Merkle tree hashing, the reference tree hash and an incremental tree.
 *
 * Leaf hash = SHA-256(0x00 ‖ entry), interior node = SHA-256(0x01 ‖ left ‖ right), empty tree =
 * SHA-256(""). Sizes and indices are plain numbers that must be safe integers (≤ 2^53 − 1).
 */
import { sha256 } from './crypto.js';
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
  if (leafHashes.length === 0) return EMPTY_ROOT.slice();
  for (const h of leafHashes) checkHash(h, 'leaf hash');
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leafHashes[lo]!.slice();
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
    let hash: Uint8Array = leafHash.slice();
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
    if (stack.length === 0) return EMPTY_ROOT.slice();
    let root = stack[stack.length - 1]!;
    for (let i = stack.length - 2; i >= 0; i--) root = hashChildren(stack[i]!, root);
    return root === stack[stack.length - 1] ? root.slice() : root;
  }

  /** Copies of the perfect-subtree roots, left to right (what `fromHashes` needs to restore). */
  hashes(): Uint8Array[] {
    return this.#stack.map((h) => h.slice());
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
      range.#stack.push(h.slice());
    }
    range.#size = size;
    return range;
  }
}

// ---- SHA-256 of one interior node (0x01 ‖ 32 bytes ‖ 32 bytes = 65 bytes, two blocks). ----
//
// Proof verification and proof generation from tiles are nothing but node hashes, and Node's
// createHash costs ~1.4 µs per call in object set-up alone; this FIPS 180-4 compression,
// specialised to the fixed 65-byte message, is ~3x faster (see the report's figures). It is
// checked against crypto.ts's sha256 on every vector and on random inputs by merkle.test.ts.
// The second block holds one message byte (the right child's last), so its 64-word schedule
// is precomputed for all 256 values.

const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const IV = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const state = new Int32Array(8);
const kw1 = new Int32Array(64);
const kw2 = new Int32Array(256 * 64);

/** Expands W[0..15] to W[0..63] in place and adds the round constants. */
function schedule(w: Int32Array, out: Int32Array, outOffset: number): void {
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  for (let i = 0; i < 64; i++) out[outOffset + i] = (K[i]! + w[i]!) | 0;
}

{
  const w = new Int32Array(64);
  for (let last = 0; last < 256; last++) {
    w.fill(0);
    w[0] = (last << 24) | 0x800000; // the last message byte, then the 0x80 padding byte
    w[15] = 65 * 8; // message length in bits
    schedule(w, kw2, last * 64);
  }
}
const w1 = new Int32Array(64);

function compress(kw: Int32Array, offset: number): void {
  const s = state;
  let a = s[0]!;
  let b = s[1]!;
  let c = s[2]!;
  let d = s[3]!;
  let e = s[4]!;
  let f = s[5]!;
  let g = s[6]!;
  let h = s[7]!;
  let t = 0;
  for (let o = offset; o < offset + 64; o += 8) {
    t =
      (h +
        (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        (g ^ (e & (f ^ g))) +
        kw[o + 0]!) |
      0;
    d = (d + t) | 0;
    h =
      (t +
        (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) | (c & (a | b)))) |
      0;
    t =
      (g +
        (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) +
        (f ^ (d & (e ^ f))) +
        kw[o + 1]!) |
      0;
    c = (c + t) | 0;
    g =
      (t +
        (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) +
        ((h & a) | (b & (h | a)))) |
      0;
    t =
      (f +
        (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) +
        (e ^ (c & (d ^ e))) +
        kw[o + 2]!) |
      0;
    b = (b + t) | 0;
    f =
      (t +
        (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) +
        ((g & h) | (a & (g | h)))) |
      0;
    t =
      (e +
        (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) +
        (d ^ (b & (c ^ d))) +
        kw[o + 3]!) |
      0;
    a = (a + t) | 0;
    e =
      (t +
        (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) +
        ((f & g) | (h & (f | g)))) |
      0;
    t =
      (d +
        (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) +
        (c ^ (a & (b ^ c))) +
        kw[o + 4]!) |
      0;
    h = (h + t) | 0;
    d =
      (t +
        (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) +
        ((e & f) | (g & (e | f)))) |
      0;
    t =
      (c +
        (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) +
        (b ^ (h & (a ^ b))) +
        kw[o + 5]!) |
      0;
    g = (g + t) | 0;
    c =
      (t +
        (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) +
        ((d & e) | (f & (d | e)))) |
      0;
    t =
      (b +
        (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) +
        (a ^ (g & (h ^ a))) +
        kw[o + 6]!) |
      0;
    f = (f + t) | 0;
    b =
      (t +
        (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) +
        ((c & d) | (e & (c | d)))) |
      0;
    t =
      (a +
        (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) +
        (h ^ (f & (g ^ h))) +
        kw[o + 7]!) |
      0;
    e = (e + t) | 0;
    a =
      (t +
        (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) +
        ((b & c) | (d & (b | c)))) |
      0;
  }
  s[0] = (s[0]! + a) | 0;
  s[1] = (s[1]! + b) | 0;
  s[2] = (s[2]! + c) | 0;
  s[3] = (s[3]! + d) | 0;
  s[4] = (s[4]! + e) | 0;
  s[5] = (s[5]! + f) | 0;
  s[6] = (s[6]! + g) | 0;
  s[7] = (s[7]! + h) | 0;
}

/**
 * Writes SHA-256(0x01 ‖ left[lo..lo+32) ‖ right[ro..ro+32)) to out[oo..oo+32) and returns `out`.
 * Offsets let tile code hash adjacent hashes in place without allocating views.
 */
export function hashChildrenInto(
  left: Uint8Array,
  lo: number,
  right: Uint8Array,
  ro: number,
  out: Uint8Array,
  oo: number,
): Uint8Array {
  const w = w1;
  w[0] = 0x01000000 | (left[lo]! << 16) | (left[lo + 1]! << 8) | left[lo + 2]!;
  for (let i = 1, p = lo + 3; i < 8; i++, p += 4) {
    w[i] = (left[p]! << 24) | (left[p + 1]! << 16) | (left[p + 2]! << 8) | left[p + 3]!;
  }
  w[8] = (left[lo + 31]! << 24) | (right[ro]! << 16) | (right[ro + 1]! << 8) | right[ro + 2]!;
  for (let i = 9, p = ro + 3; i < 16; i++, p += 4) {
    w[i] = (right[p]! << 24) | (right[p + 1]! << 16) | (right[p + 2]! << 8) | right[p + 3]!;
  }
  schedule(w, kw1, 0);
  state.set(IV);
  compress(kw1, 0);
  compress(kw2, right[ro + 31]! * 64);
  for (let i = 0, p = oo; i < 8; i++, p += 4) {
    const v = state[i]!;
    out[p] = v >>> 24;
    out[p + 1] = v >>> 16;
    out[p + 2] = v >>> 8;
    out[p + 3] = v;
  }
  return out;
}
