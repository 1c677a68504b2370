/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of journal frames.
 *
 * Chosen over a 4-byte SHA-256 prefix because it is several times cheaper per byte in plain
 * JavaScript (the journal checks every record on append, open and read) and detects every burst
 * error up to 32 bits; it guards against torn writes and bit rot, not against an attacker, who can
 * rewrite a local file anyway (tamper evidence comes from the signed Merkle tree). Node 20's zlib has
 * no CRC-32C, so this is table-driven, slicing by 8 bytes per step.
 */

const TABLES = makeTables();

function makeTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let s = 1; s < 8; s++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[s * 256 + n] = c >>> 0;
    }
  }
  return t;
}

/**
 * CRC-32C of `data[start, end)`, continuing from `previous` (the result of an earlier call over the
 * bytes that precede it; 0 to begin), so `crc32c(b, 0, b.length, crc32c(a))` is the CRC of `a ‖ b`.
 */
export function crc32c(data: Uint8Array, start = 0, end = data.length, previous = 0): number {
  const t = TABLES;
  let c = ~previous;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    const hi = data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
    c =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + (hi & 0xff)]! ^
      t[512 + ((hi >>> 8) & 0xff)]! ^
      t[256 + ((hi >>> 16) & 0xff)]! ^
      t[(hi >>> 24) & 0xff]!;
  }
  for (; i < end; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
