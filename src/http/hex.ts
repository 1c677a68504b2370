/**
 * Hex encoding of proof hashes at the HTTP edge, in one native call per response: copying the
 * hashes into one buffer and encoding it once avoids a Buffer wrapper per hash (which, for the
 * small on-heap arrays the node hasher returns, also forces V8 to move each one off the heap).
 */

const HASH_SIZE = 32;

/** Lowercase hex of each 32-byte hash, in order; throws a RangeError for any other length. */
export function hashesToHex(hashes: readonly Uint8Array[]): string[] {
  const n = hashes.length;
  if (n === 0) return [];
  const buf = Buffer.allocUnsafe(n * HASH_SIZE);
  for (let i = 0; i < n; i++) {
    const h = hashes[i]!;
    if (h.length !== HASH_SIZE) throw new RangeError(`hash ${i} has ${h.length} bytes, not ${HASH_SIZE}`);
    buf.set(h, i * HASH_SIZE);
  }
  const hex = buf.toString('hex', 0, n * HASH_SIZE);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = hex.slice(i * 2 * HASH_SIZE, (i + 1) * 2 * HASH_SIZE);
  return out;
}
