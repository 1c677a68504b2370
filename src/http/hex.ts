/**
 * Hex encoding of proof hashes at the HTTP edge, in one native call per response: copying the
 * hashes into one buffer and encoding it once avoids a Buffer wrapper per hash (which, for the
 * small on-heap arrays the node hasher returns, also forces V8 to move each one off the heap).
 */

const HASH_SIZE = 32;
const HEX_SIZE = 2 * HASH_SIZE;

/**
 * The JSON array text of the hashes' lowercase hex (`["…","…"]`), for routes that write their answer
 * themselves: hex digits need no escaping, so the general serializer's per-string escape scan is
 * work for nothing on the proof routes, the busiest public reads. Throws a RangeError for a hash of
 * any length but 32 bytes.
 */
export function hashesToJsonArray(hashes: readonly Uint8Array[]): string {
  const n = hashes.length;
  if (n === 0) return '[]';
  const buf = Buffer.allocUnsafe(n * HASH_SIZE);
  for (let i = 0; i < n; i++) {
    const h = hashes[i]!;
    if (h.length !== HASH_SIZE) throw new RangeError(`hash ${i} has ${h.length} bytes, not ${HASH_SIZE}`);
    buf.set(h, i * HASH_SIZE);
  }
  const hex = buf.toString('hex', 0, n * HASH_SIZE);
  let out = `["${hex.slice(0, HEX_SIZE)}`;
  for (let i = 1; i < n; i++) out += `","${hex.slice(i * HEX_SIZE, (i + 1) * HEX_SIZE)}`;
  return `${out}"]`;
}
