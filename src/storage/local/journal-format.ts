/**
 * The byte format of local journal segments and the scan that recovers them at open.
 *
 * A segment is a sequence of frames, one per record:
 *   [u32 LE payload length][u32 LE CRC-32C(length field ‖ payload)][payload]
 * The checksum covers the length field too, so a zero-filled tail (a file extended but never
 * written) is never a valid empty record.
 *
 * Recovery rule. Only the final append of the last segment can be torn: every earlier append was
 * fdatasync'ed before it was acknowledged, and a new segment starts only after the previous one is
 * durable. So at the first invalid frame of the last segment:
 * - if no valid frame starts anywhere after it, the rest is a torn tail: it is cut off (those
 *   records were never acknowledged);
 * - otherwise acknowledged records follow a damaged one: that is corruption, reported as
 *   `storage.corrupt`, never skipped. This also catches a damaged length field, which would
 *   otherwise make the rest of the file look like one long torn record.
 * Any invalid frame in an earlier segment is corruption. Record payloads are JCS text in practice,
 * whose bytes are never below 0x20, so a payload cannot embed a plausible frame header (its length
 * would exceed MAX_RECORD_BYTES).
 */
import { StorageError } from '../errors.js';
import { crc32c } from './crc32c.js';

export const FRAME_HEADER_BYTES = 8;
/** Largest record the local journal accepts (far above the 64 KiB record limit of DESIGN.md §3). */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** Frames `records` into one buffer; `offsets[i]` is where frame i starts, relative to `position`. */
export function encodeFrames(
  records: readonly Uint8Array[],
  position: number,
): { bytes: Buffer; offsets: number[] } {
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
    bytes.writeUInt32LE(r.length, p);
    bytes.writeUInt32LE(crc32c(r, 0, r.length, crc32c(bytes, p, p + 4)), p + 4);
    bytes.set(r, p + FRAME_HEADER_BYTES);
    p += FRAME_HEADER_BYTES + r.length;
  }
  return { bytes, offsets };
}

/** The end of the valid frame starting at `p` in `buf[0, n)`, or -1 when there is none. */
export function frameEnd(buf: Uint8Array, p: number, n: number): number {
  if (p + FRAME_HEADER_BYTES > n) return -1;
  const len = (buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24)) >>> 0;
  if (len > MAX_RECORD_BYTES || len > n - p - FRAME_HEADER_BYTES) return -1;
  const sum = (buf[p + 4]! | (buf[p + 5]! << 8) | (buf[p + 6]! << 16) | (buf[p + 7]! << 24)) >>> 0;
  const start = p + FRAME_HEADER_BYTES;
  return crc32c(buf, start, start + len, crc32c(buf, p, p + 4)) === sum ? start + len : -1;
}

export interface ScanResult {
  /** Start offset of every valid frame, in order. */
  offsets: number[];
  /** Bytes of whole valid frames; anything after is a torn tail to cut off. */
  validLength: number;
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
    if (!isLast || validFrameAfter(buf, p, n)) {
      throw new StorageError('storage.corrupt', `journal segment ${segment}: invalid record at byte ${p}`, {
        details: { segment, offset: p, record: offsets.length },
      });
    }
    break;
  }
  return { offsets, validLength: p };
}

/** Whether a valid frame starts anywhere in `buf(p, n)`; cheap on garbage (implausible lengths stop early). */
function validFrameAfter(buf: Uint8Array, p: number, n: number): boolean {
  for (let q = p + 1; q + FRAME_HEADER_BYTES <= n; q++) if (frameEnd(buf, q, n) >= 0) return true;
  return false;
}
