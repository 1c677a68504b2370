/**
 * The byte format of local journal segments and the scan that recovers them at open.
 *
 * A segment is a sequence of frames, one per record:
 *   [u32 LE length word][u32 LE CRC-32C(length word ‖ payload)][payload]
 * The length word is the payload length (21 bits, at most MAX_RECORD_BYTES) with flags: FRAME_V2
 * (bit 30) on every frame written since appends were delimited, APPEND_END (bit 31) on the last
 * frame of each append, and a 6-bit append tag (bits 24-29: the append's number within its segment
 * mod 64, counting from 0, or from 1 after older frames; the same on all its frames). Bits 21-23
 * are zero. Frames without FRAME_V2 (older journals) have all of bits 21-31 zero and are read as
 * before. The checksum covers the length word too, so a zero-filled tail (a file extended but never
 * written) is never a valid empty record, and a flag cannot flip unnoticed.
 *
 * Recovery rule. Only the final append of the last segment can be torn: every earlier append was
 * fdatasync'ed before it was acknowledged, and a new segment starts only after the previous one is
 * durable. So at the first invalid frame of the last segment:
 * - if no valid frame starts anywhere after it, the rest is a torn tail, cut off (those records
 *   were never acknowledged), when it looks like a crash: the file ends inside the frame (in its
 *   header, or before the end its length announces), or the damage holds a lost sector (see
 *   below; or, for an append starting 1-3 bytes before a sector boundary, those zero bytes and a
 *   frame whose CRC matches once its length is put back). A frame that is all there and still
 *   wrong is a flipped bit, perhaps in an acknowledged record: corruption, as etcd's WAL also
 *   decides (a torn write leaves zeroed sectors, not different bytes). A frame that seems cut
 *   short but whose CRC matches with the length the file leaves it had a length bit flipped:
 *   corruption too. At the end of the file a lost sector may hold as little as 1 byte of the
 *   frame (its last bytes), and an append that starts 1-3 bytes before a lost sector may also be
 *   cut short;
 * - if valid frames follow, it is still a torn tail when the damage looks like a power loss inside
 *   the final append: each stretch of invalid bytes holds a lost sector (a 512-byte-aligned sector
 *   whose part after the damage point is all zeros: never written; its part before that point, if
 *   any, must be an earlier append's, since one write covers all of an append's sectors; or, for
 *   an append starting 1-3 bytes before a sector boundary, those zero bytes and a first frame whose
 *   CRC matches once the length its successor implies is put back into them), and every valid
 *   frame after the damage is a delimited frame of one append — the append the damage is in, by its tag —
 *   with APPEND_END on none but the last (no later append exists: one could only have been written
 *   after this one was durable). A disk may persist the pages of an unfinished write in any order,
 *   so later records of an unacknowledged append can survive an earlier one;
 * - anything else is corruption, reported as `storage.corrupt`, never skipped: a flipped bit (no
 *   zeroed sector), damage followed by frames of another append, or damage after undelimited
 *   (older) frames. This also catches a damaged length field, which would otherwise make the rest
 *   of the file look like one long torn record.
 * What is kept always ends with a whole append: delimited frames of an append whose APPEND_END was
 * lost are cut too (never acknowledged), so every kept append is complete and the next append's tag
 * follows the last one's.
 * Any invalid frame in an earlier segment is corruption. Record payloads are JCS text in practice,
 * whose bytes are never below 0x20, so a payload cannot embed a plausible frame header: the third
 * byte of its length word would be 0x20 or more, which sets a bit that is always zero.
 */
import { StorageError } from '../errors.js';
import { crc32c } from './crc32c.js';

export const FRAME_HEADER_BYTES = 8;
/** Largest record the local journal accepts (far above the 64 KiB record limit of DESIGN.md §3). */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** Length-word flag: the frame belongs to a delimited append (see the file comment). */
const FRAME_V2 = 0x4000_0000;
/** Length-word flag: the last frame of an append. */
const APPEND_END = 0x8000_0000;
const LENGTH_MASK = 0x001f_ffff;
const TAG_SHIFT = 24;
/** Append tags run 0..63 and wrap; each segment's first append has tag 0. */
export const TAG_MODULUS = 64;
const RESERVED_V2 = 0x00e0_0000;
const RESERVED_LEGACY = 0xffe0_0000;
const LENGTH_WORD_BYTES = 4;
/** The sector size whose all-zero occurrence marks never-written bytes (a power loss). */
const SECTOR_BYTES = 512;

/** Frames `records` into one buffer; `offsets[i]` is where frame i starts, relative to `position`. */
export function encodeFrames(
  records: readonly Uint8Array[],
  position: number,
  tag: number,
): { bytes: Buffer; offsets: number[] } {
  const tagBits = ((tag % TAG_MODULUS) << TAG_SHIFT) >>> 0;
  let total = 0;
  for (const r of records) {
    if (!(r instanceof Uint8Array) || r.length > MAX_RECORD_BYTES) {
      throw new StorageError('storage.out_of_range', `journal record larger than ${MAX_RECORD_BYTES} bytes`, {
        details: { length: r?.length },
      });
    }
    total += FRAME_HEADER_BYTES + r.length;
  }
  const bytes = Buffer.allocUnsafeSlow(total);
  const offsets = new Array<number>(records.length);
  let p = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    offsets[i] = position + p;
    const flags = i === records.length - 1 ? FRAME_V2 | APPEND_END : FRAME_V2;
    bytes.writeUInt32LE((r.length | flags | tagBits) >>> 0, p);
    bytes.writeUInt32LE(crc32c(r, 0, r.length, crc32c(bytes, p, p + 4)), p + 4);
    bytes.set(r, p + FRAME_HEADER_BYTES);
    p += FRAME_HEADER_BYTES + r.length;
  }
  return { bytes, offsets };
}

/** The u32 LE at `p`. */
function u32(buf: Uint8Array, p: number): number {
  return (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
}

/** The length word of the frame at `p` (payload length and flags). */
function lengthWord(buf: Uint8Array, p: number): number {
  return u32(buf, p);
}

/** The stored checksum of the frame at `p`. */
function storedSum(buf: Uint8Array, p: number): number {
  return u32(buf, p + LENGTH_WORD_BYTES);
}

/** Whether `word` sets a bit that is always zero in its frame's format (then it is no length word). */
function hasReservedBits(word: number): boolean {
  return (word & ((word & FRAME_V2) !== 0 ? RESERVED_V2 : RESERVED_LEGACY)) !== 0;
}

/**
 * Whether the `len` payload bytes of the frame at `p` match its stored CRC under the length word `w`
 * rather than the one stored (a length word with lost or flipped bits put back).
 */
function sumMatchesWith(buf: Uint8Array, p: number, w: number, len: number): boolean {
  const word = new Uint8Array(LENGTH_WORD_BYTES);
  for (let i = 0; i < LENGTH_WORD_BYTES; i++) word[i] = (w >>> (8 * i)) & 0xff;
  const start = p + FRAME_HEADER_BYTES;
  return crc32c(buf, start, start + len, crc32c(word, 0, LENGTH_WORD_BYTES)) === storedSum(buf, p);
}

/**
 * How many bytes from `p` to the next sector boundary, when they are 1-3 and all zero: the low
 * bytes of a length word whose sector was lost. 0 otherwise.
 */
function zerosToBoundary(buf: Uint8Array, p: number): number {
  const lost = SECTOR_BYTES - (p % SECTOR_BYTES);
  if (lost >= LENGTH_WORD_BYTES) return 0;
  for (let i = p; i < p + lost; i++) if (buf[i] !== 0) return 0;
  return lost;
}

/** The end of the valid frame starting at `p` in `buf[0, n)`, or -1 when there is none. */
export function frameEnd(buf: Uint8Array, p: number, n: number): number {
  if (p + FRAME_HEADER_BYTES > n) return -1;
  const word = lengthWord(buf, p);
  const len = word & LENGTH_MASK;
  // Bits that are always zero (which ones depends on the frame's format): not a frame.
  if (hasReservedBits(word)) return -1;
  if (len > MAX_RECORD_BYTES || len > n - p - FRAME_HEADER_BYTES) return -1;
  const start = p + FRAME_HEADER_BYTES;
  return crc32c(buf, start, start + len, crc32c(buf, p, p + 4)) === storedSum(buf, p) ? start + len : -1;
}

/** The append tag of the frame at `p`, or undefined for an undelimited (older) frame. */
function frameTag(buf: Uint8Array, p: number): number | undefined {
  const word = lengthWord(buf, p);
  return (word & FRAME_V2) === 0 ? undefined : (word >>> TAG_SHIFT) % TAG_MODULUS;
}

function isAppendEnd(buf: Uint8Array, p: number): boolean {
  return (lengthWord(buf, p) & APPEND_END) !== 0;
}

export interface ScanResult {
  /** Start offset of every valid frame, in order. */
  offsets: number[];
  /** Bytes of whole valid frames; anything after is a torn tail to cut off. */
  validLength: number;
  /** The tag for the next append into this segment. */
  nextTag: number;
}

/** Scans one segment per the recovery rule above; throws `storage.corrupt` with the segment and offset. */
export function scanSegment(buf: Uint8Array, isLast: boolean, segment: string): ScanResult {
  const n = buf.length;
  const offsets: number[] = [];
  let p = 0;
  while (p < n) {
    const end = frameEnd(buf, p, n);
    if (end >= 0) {
      offsets.push(p);
      p = end;
      continue;
    }
    const next = isLast ? validFrameAfter(buf, p, n) : p;
    const torn =
      isLast && (next < 0 ? tornAtEnd(buf, offsets, p, n) : tornInsideFinalAppend(buf, offsets, p, next, n));
    if (!torn) {
      throw new StorageError('storage.corrupt', `journal segment ${segment}: invalid record at byte ${p}`, {
        details: { segment, offset: p, record: offsets.length },
      });
    }
    break;
  }
  // Keep whole appends only: delimited frames after the last APPEND_END were never acknowledged.
  if (isLast) {
    while (offsets.length > 0) {
      const last = offsets[offsets.length - 1]!;
      if (frameTag(buf, last) === undefined || isAppendEnd(buf, last)) break;
      p = last;
      offsets.pop();
    }
  }
  // The next tag: one more than the last append's; 0 in an empty segment, 1 after older frames (so
  // a hole at byte 0 that hides them cannot pass for the first append of the segment).
  const last = offsets[offsets.length - 1];
  const tag = last === undefined ? -1 : (frameTag(buf, last) ?? 0);
  return { offsets, validLength: p, nextTag: (tag + 1) % TAG_MODULUS };
}

/** Where the first valid frame in `buf(p, n)` starts, or -1; cheap on garbage (implausible lengths stop early). */
function validFrameAfter(buf: Uint8Array, p: number, n: number): number {
  for (let q = p + 1; q + FRAME_HEADER_BYTES <= n; q++) if (frameEnd(buf, q, n) >= 0) return q;
  return -1;
}

/**
 * Which append damage at `p` is in, from the last valid frame before it (`kept`): `tag`, and
 * `afterEnd` when that frame ended its append (so `p` starts a new one, and bytes before `p` were
 * durable before it was written). At byte 0 it is the segment's first append (tag 0). Undefined
 * after undelimited (older) frames: there is no telling.
 */
function appendAt(buf: Uint8Array, kept: readonly number[]): { tag: number; afterEnd: boolean } | undefined {
  const before = kept[kept.length - 1];
  if (before === undefined) return { tag: 0, afterEnd: true };
  const t = frameTag(buf, before);
  if (t === undefined) return undefined;
  const afterEnd = isAppendEnd(buf, before);
  return { tag: afterEnd ? (t + 1) % TAG_MODULUS : t, afterEnd };
}

/**
 * The first torn-tail case of the recovery rule: no valid frame starts after the damage at `p`.
 * A crash leaves the final append cut short (the file ends inside a frame: in its header, or before
 * the end its length announces) or with lost sectors (zeros where a write never landed). A frame
 * that is all there, without a lost sector, and still wrong is a flipped bit in what may be an
 * acknowledged record: corruption, never cut.
 */
function tornAtEnd(buf: Uint8Array, kept: readonly number[], p: number, n: number): boolean {
  if (n - p < FRAME_HEADER_BYTES) return true;
  const word = lengthWord(buf, p);
  const len = word & LENGTH_MASK;
  if (!hasReservedBits(word) && len <= MAX_RECORD_BYTES && p + FRAME_HEADER_BYTES + len > n) {
    // Cut short by the end of the file; unless the frame is whole after all and only a bit of its
    // length flipped: with the length the file leaves it, its CRC matches.
    const rest = n - p - FRAME_HEADER_BYTES;
    return !sumMatchesWith(buf, p, ((word & ~LENGTH_MASK) | rest) >>> 0, rest);
  }
  const at = appendAt(buf, kept);
  if (at === undefined) return holdsLostSector(buf, p, n, false);
  return (
    holdsLostSector(buf, p, n, at.afterEnd) ||
    (at.afterEnd && (lostFirstBytes(buf, p, n, at.tag, true) || lostFirstBytesThenCut(buf, p, n, at.tag)))
  );
}

/**
 * A final append that starts 1-3 bytes before a sector boundary, lost that sector (those bytes, the
 * low bytes of its first length word, read as zeros), and was cut short by the end of the file:
 * the bytes that survived are a plausible first length word of append `tag` whose largest
 * possible length runs past the end. Nothing can be checked by CRC, as the frame is incomplete.
 */
function lostFirstBytesThenCut(buf: Uint8Array, p: number, n: number, tag: number): boolean {
  const lost = zerosToBoundary(buf, p);
  if (lost === 0) return false;
  const w = lengthWord(buf, p);
  if ((w & RESERVED_V2) !== 0 || (w & FRAME_V2) === 0 || (w >>> TAG_SHIFT) % TAG_MODULUS !== tag)
    return false;
  const largest = Math.min(MAX_RECORD_BYTES, (w & LENGTH_MASK) | ((1 << (8 * lost)) - 1));
  return p + FRAME_HEADER_BYTES + largest > n;
}

/**
 * The second torn-tail case of the recovery rule: the invalid bytes `[p, q)` hold a lost sector,
 * and from `q` on there are only frames of the append the damage is in (found by scanning past any
 * further damage, which must hold lost sectors too), with APPEND_END on the last at most.
 * `kept` are the offsets of the valid frames before `p`.
 */
function tornInsideFinalAppend(
  buf: Uint8Array,
  kept: readonly number[],
  p: number,
  q: number,
  n: number,
): boolean {
  const damaged = appendAt(buf, kept);
  if (damaged === undefined) return false;
  const { tag, afterEnd } = damaged;
  if (!holdsLostSector(buf, p, q, afterEnd) && !(afterEnd && lostFirstBytes(buf, p, q, tag, false)))
    return false;
  let at = q;
  for (;;) {
    const end = frameEnd(buf, at, n);
    const t = frameTag(buf, at);
    if (t !== tag) return false;
    const next = validFrameAfter(buf, end - 1, n);
    if (isAppendEnd(buf, at)) return next < 0; // the append's last frame: nothing may follow
    if (next < 0) return true;
    if (next > end && !holdsLostSector(buf, end, next, false)) return false;
    at = next;
  }
}

/**
 * Whether the damaged bytes `[from, to)` hold a lost sector: an aligned 512-byte sector starting
 * before `to` whose bytes from `from` on are all zero, at least a length word's worth (an intact
 * delimited length word is never zero: it has FRAME_V2). Its bytes before `from` may belong to the
 * previous append when `afterDurable` says they do (an append can start mid-sector, after bytes that
 * were durable before it was written); never to the same append, whose write covered the whole
 * sector. It may also reach up to 3 bytes into the valid frame at `to`, whose first length-word
 * bytes can be zero (a length that is a multiple of 256). An append starting 1-3 bytes before a
 * sector boundary whose first sector was lost leaves too few zeros to count here; lostFirstBytes
 * covers it.
 */
function holdsLostSector(buf: Uint8Array, from: number, to: number, afterDurable: boolean): boolean {
  for (let s = Math.floor(from / SECTOR_BYTES) * SECTOR_BYTES; s < to; s += SECTOR_BYTES) {
    if (s < from && !afterDurable) continue;
    const lo = Math.max(s, from);
    const hi = Math.min(s + SECTOR_BYTES, buf.length);
    // A sector that the end of the file cuts may hold just 1-3 bytes of the damaged frame (its
    // last): zeros there are lost too, since no frame follows them and a record's bytes are never
    // zero. Elsewhere a length word's worth is needed (see above).
    const least = to === buf.length && hi === buf.length && s >= from ? 1 : LENGTH_WORD_BYTES;
    if (hi - lo < least || hi - to >= LENGTH_WORD_BYTES) continue;
    let zero = true;
    for (let i = lo; i < hi; i++) {
      if (buf[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return true;
  }
  return false;
}

/**
 * The lost-sector evidence for an append that starts 1-3 bytes before a sector boundary, whose first
 * sector was lost: only those bytes (the low bytes of its first length word) are zero, too few for
 * holdsLostSector. So the zeros must be all that is wrong with the frame `[from, to)`: putting back
 * the low bytes of the length that `to` implies (the next valid frame starts there) must make it a
 * valid delimited frame — its CRC-32C over the length word and payload matches — of append `tag`.
 * Damage of any other shape fails the CRC and stays corruption.
 */
function lostFirstBytes(buf: Uint8Array, from: number, to: number, tag: number, last: boolean): boolean {
  const lost = zerosToBoundary(buf, from);
  if (lost === 0) return false;
  const len = to - from - FRAME_HEADER_BYTES;
  if (len < 0 || len > MAX_RECORD_BYTES) return false;
  // The length word with its lost low bytes put back (the buffer itself is left as read).
  const low = 2 ** (8 * lost) - 1;
  const w = ((lengthWord(buf, from) & ~low) | (len & low)) >>> 0;
  // The length bits that survived must agree; the flags must be those of a frame that is its
  // append's last exactly when `last` (at the end of the file), not when valid frames of the same
  // append follow it.
  if (
    (w & LENGTH_MASK) !== len ||
    (w & RESERVED_V2) !== 0 ||
    (w & FRAME_V2) === 0 ||
    ((w & APPEND_END) !== 0) !== last
  ) {
    return false;
  }
  if ((w >>> TAG_SHIFT) % TAG_MODULUS !== tag) return false;
  return sumMatchesWith(buf, from, w, len);
}
