/**
 * The local sequencing journal: append-only segment files `<log>/journal/<base, 20 digits>.seg`,
 * framed and recovered as described in journal-format.ts.
 *
 * `append` is one positioned write of every framed record followed by one fdatasync: that is the
 * acknowledgement point, as cheap as appending NDJSON and syncing once per batch. An in-memory
 * offset per held record makes `read` one pread per segment touched. Segments roll when the current
 * one passes `segmentBytes`, and when `truncateBefore` finds every record already integrated; whole
 * segments before the truncation index are then deleted, oldest first, each deletion fsynced so the
 * survivors always form a contiguous range.
 *
 * A segment that holds no records keeps no file open: the next append opens it. An idle log (every
 * record integrated, its journal rolled to an empty segment) thus holds no file descriptor, so a
 * data directory of thousands of logs stays within the process's descriptor limit (`ulimit -n`).
 */
import { type FileHandle, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError, toStorageError } from '../errors.js';
import type { Journal, JournalSegmentScan } from '../types.js';
import { type DurableFolders, fsyncDir } from './durable-write.js';
import { encodeFrames, FRAME_HEADER_BYTES, frameEnd, scanSegment, TAG_MODULUS } from './journal-format.js';
import type { StorageLogger } from './logger.js';

export interface LocalJournalOptions {
  dir: string;
  base: number;
  segmentBytes: number;
  folders: DurableFolders;
  logger: StorageLogger;
  /** Segment files open across the journals that share it (default: this journal's own, unbounded). */
  handles?: JournalHandles;
}

/**
 * The segment files a driver's journals hold open, and how many may stay open between appends.
 * Past `limit`, a segment's file is closed after each append and opened again by the next: with
 * thousands of logs written at once, the process keeps descriptors for its other files (an
 * integration's tiles and bundles) instead of running out and failing appends and integrations.
 */
export interface JournalHandles {
  open: number;
  readonly limit: number;
  /** Appends past `limit` holding a file of their own just now, and those waiting for their turn. */
  transient?: { running: number; waiting: Array<() => void> };
}

/** Appends past JournalHandles.limit that may hold a file at once (the others wait their turn). */
const TRANSIENT_APPENDS = 16;

interface Segment {
  readonly base: number;
  readonly path: string;
  /** Open while the segment holds records (or is being written), unless past `handles.limit`. */
  fh: FileHandle | undefined;
  readonly handles: JournalHandles;
  /** Byte offset of each record's frame. */
  readonly offsets: number[];
  size: number;
  readers: number;
  /** Deleted or journal closed: close `fh` once no read uses it. */
  retired: boolean;
}

const SEGMENT_NAME = /^(\d{20})\.seg$/;

function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}.seg`;
}

function checkIndex(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new StorageError('storage.out_of_range', `journal ${name} must be a non-negative safe integer`, {
      details: { [name]: value },
    });
  }
}

async function releaseIfIdle(seg: Segment): Promise<void> {
  if (seg.retired && seg.readers === 0) await closeHandle(seg);
}

/** Closes the segment's file, if open; a later append (of a live, empty segment) opens it again. */
async function closeHandle(seg: Segment): Promise<void> {
  const fh = seg.fh;
  if (fh === undefined) return;
  seg.fh = undefined;
  seg.handles.open--;
  await fh.close().catch(() => {});
}

/**
 * Opens the journal in `dir` as stored (cutting a torn tail), or creates it empty at `base` when no
 * segment exists; see `LogStorage.openJournal`.
 */
export async function openLocalJournal(options: LocalJournalOptions): Promise<LocalJournal> {
  const { dir, base, folders } = options;
  const handles = options.handles ?? { open: 0, limit: Number.POSITIVE_INFINITY };
  checkIndex('base', base);
  const segments: Segment[] = [];
  let nextTag = 0;
  let discarded = 0;
  try {
    await folders.ensure(dir);
    const names = await segmentNames(dir);
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const path = join(dir, name);
      const bytes = await readFile(path);
      const isLast = i === names.length - 1;
      const scan = scanSegment(bytes, isLast, name);
      nextTag = scan.nextTag;
      const prev = segments[segments.length - 1];
      const segBase = segmentBase(name, prev && prev.base + prev.offsets.length);
      const fh = await open(path, isLast ? 'r+' : 'r');
      handles.open++;
      segments.push({
        base: segBase,
        path,
        fh,
        handles,
        offsets: scan.offsets,
        size: scan.validLength,
        readers: 0,
        retired: false,
      });
      if (scan.validLength < bytes.length) {
        // A torn final append, as a crash leaves one (never acknowledged: cutting it loses nothing
        // promised). A tail cut by hand looks the same, so the bytes are reported (discardedBytes).
        await fh.truncate(scan.validLength);
        await fh.sync();
        discarded += bytes.length - scan.validLength;
        options.logger.warn(
          { component: 'storage.local', segment: path, discardedBytes: bytes.length - scan.validLength },
          'journal: discarded a torn final write (as a crash leaves one; with no crash before this start, find out who cut the file)',
        );
      }
    }
    if (segments.length === 0) segments.push(await createSegment(dir, base, handles));
    const last = segments[segments.length - 1]!;
    if (last.offsets.length === 0) await closeHandle(last);
    if (handles.open > handles.limit) for (const seg of segments) await closeHandle(seg);
  } catch (err) {
    await Promise.all(segments.map((s) => closeHandle(s)));
    throw toStorageError(err, 'opening the journal', { dir });
  }
  return new LocalJournal(options, segments, nextTag, discarded);
}

/** The segment files in `dir`, oldest first. */
async function segmentNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => SEGMENT_NAME.test(n)).sort();
}

/** The index of segment `name`'s first record; `expected` is where its predecessor ended. */
function segmentBase(name: string, expected: number | undefined): number {
  const base = Number(SEGMENT_NAME.exec(name)![1]);
  if (!Number.isSafeInteger(base) || (expected !== undefined && base !== expected)) {
    throw new StorageError('storage.corrupt', `journal segment ${name} does not continue its predecessor`, {
      details: { segment: name },
    });
  }
  return base;
}

/**
 * The journal in `dir` as stored (LogStorage.scanJournal), one segment at a time: the same scan and
 * continuity checks as openLocalJournal, but nothing is cut, created or opened for writing.
 */
export async function* scanLocalJournal(dir: string): AsyncGenerator<JournalSegmentScan> {
  let names: string[];
  try {
    names = await segmentNames(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw toStorageError(err, 'listing the journal', { dir });
  }
  let expected: number | undefined;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, name));
    } catch (err) {
      throw toStorageError(err, 'reading the journal', { segment: name });
    }
    const { offsets, validLength } = scanSegment(bytes, i === names.length - 1, name);
    const base = segmentBase(name, expected);
    const records = offsets.map((at, k) => {
      const start = at + FRAME_HEADER_BYTES;
      const end = k + 1 < offsets.length ? offsets[k + 1]! : validLength;
      return new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start);
    });
    expected = base + records.length;
    yield { name, base, records, tornBytes: bytes.length - validLength };
  }
}

async function createSegment(dir: string, base: number, handles: JournalHandles): Promise<Segment> {
  const path = join(dir, segmentName(base));
  const fh = await open(path, 'wx+', 0o644);
  try {
    await fh.sync();
    await fsyncDir(dir);
  } catch (err) {
    await fh.close();
    throw err;
  }
  handles.open++;
  return { base, path, fh, handles, offsets: [], size: 0, readers: 0, retired: false };
}

export class LocalJournal implements Journal {
  readonly #options: LocalJournalOptions;
  readonly #segments: Segment[];
  #end: number;
  #tail: Promise<unknown> = Promise.resolve();
  #state: 'open' | 'failed' | 'closed' = 'open';
  // The next append's tag (journal-format.ts): one more than the last append's, mod 64.
  #tag: number;

  /** Bytes of a torn final write cut at open (Journal.discardedBytes). */
  readonly discardedBytes: number;

  constructor(options: LocalJournalOptions, segments: Segment[], nextTag = 0, discardedBytes = 0) {
    this.#options = options;
    this.#segments = segments;
    this.#tag = nextTag;
    this.discardedBytes = discardedBytes;
    const last = segments[segments.length - 1]!;
    this.#end = last.base + last.offsets.length;
  }

  get start(): number {
    return this.#segments[0]!.base;
  }

  get end(): number {
    return this.#end;
  }

  #check(): void {
    if (this.#state !== 'open') {
      const why = this.#state === 'failed' ? 'an append failed; reopen it' : 'it is closed';
      throw new StorageError('storage.closed', `journal unusable: ${why}`, {
        details: { state: this.#state },
      });
    }
  }

  /** Runs mutations one at a time, in call order. */
  #serial<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(() => {
      this.#check();
      return task();
    });
    this.#tail = result.catch(() => {});
    return result;
  }

  get #last(): Segment {
    return this.#segments[this.#segments.length - 1]!;
  }

  async #roll(): Promise<Segment> {
    const seg = await createSegment(this.#options.dir, this.#end, this.#last.handles);
    this.#segments.push(seg);
    this.#tag = 0; // each segment counts its appends from 0 (journal-format.ts)
    return seg;
  }

  append(records: readonly Uint8Array[]): Promise<void> {
    return this.#serial(async () => {
      if (records.length === 0) return;
      let seg = this.#last;
      let transient: JournalHandles['transient'];
      try {
        if (seg.size >= this.#options.segmentBytes && seg.offsets.length > 0) seg = await this.#roll();
        if (seg.fh === undefined) {
          const handles = seg.handles;
          if (handles.open >= handles.limit) {
            handles.transient ??= { running: 0, waiting: [] };
            const turns = handles.transient;
            while (turns.running >= TRANSIENT_APPENDS) await new Promise<void>((r) => turns.waiting.push(r));
            turns.running++;
            transient = turns;
          }
          handles.open++;
          try {
            seg.fh = await open(seg.path, 'r+');
          } catch (err) {
            handles.open--;
            throw err;
          }
        }
        const fh = seg.fh;
        const { bytes, offsets } = encodeFrames(records, seg.size, this.#tag);
        let done = 0;
        while (done < bytes.length) {
          const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, seg.size + done);
          done += bytesWritten;
        }
        await fh.datasync();
        for (const o of offsets) seg.offsets.push(o);
        seg.size += bytes.length;
        this.#end += records.length;
        this.#tag = (this.#tag + 1) % TAG_MODULUS;
        if (transient === undefined && seg.handles.open > seg.handles.limit && seg.readers === 0)
          await closeHandle(seg);
      } catch (err) {
        // A partial write may sit past `size`; only a reopen (which scans and cuts it) is safe.
        if (!(err instanceof StorageError && err.code === 'storage.out_of_range')) this.#state = 'failed';
        throw toStorageError(err, 'journal append', { end: this.#end });
      } finally {
        if (transient !== undefined) {
          if (seg.readers === 0) await closeHandle(seg);
          transient.running--;
          transient.waiting.shift()?.();
        }
      }
    });
  }

  async read(from: number, to: number): Promise<Uint8Array[]> {
    this.#check();
    const start = this.start;
    const end = this.#end;
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < start || from > to || to > end) {
      throw new StorageError(
        'storage.out_of_range',
        `journal read [${from}, ${to}) outside [${start}, ${end})`,
        {
          details: { from, to, start, end },
        },
      );
    }
    const out: Uint8Array[] = [];
    if (from === to) return out;
    let i = this.#segmentIndex(from);
    const used: Segment[] = [];
    try {
      for (; i < this.#segments.length && out.length < to - from; i++) {
        const seg = this.#segments[i]!;
        seg.readers++;
        used.push(seg);
        const a = Math.max(from, seg.base) - seg.base;
        const b = Math.min(to, seg.base + seg.offsets.length) - seg.base;
        const byteStart = seg.offsets[a]!;
        const byteEnd = b < seg.offsets.length ? seg.offsets[b]! : seg.size;
        const buf = Buffer.allocUnsafeSlow(byteEnd - byteStart);
        let got = 0;
        // A segment whose file was closed (past handles.limit) is opened for this read only.
        const own = seg.fh === undefined ? await open(seg.path, 'r') : undefined;
        const fh = own ?? seg.fh!;
        try {
          while (got < buf.length) {
            const { bytesRead } = await fh.read(buf, got, buf.length - got, byteStart + got);
            if (bytesRead === 0) break;
            got += bytesRead;
          }
        } finally {
          await own?.close();
        }
        for (let k = a; k < b; k++) {
          const p = seg.offsets[k]! - byteStart;
          const next = (k + 1 < b ? seg.offsets[k + 1]! : byteEnd) - byteStart;
          // Re-verified on every read: bits can rot after open, and a damaged record is never returned.
          if (next > got || frameEnd(buf, p, next) !== next) {
            throw new StorageError('storage.corrupt', `journal record ${seg.base + k} is damaged`, {
              details: { index: seg.base + k, segment: seg.path },
            });
          }
          out.push(
            new Uint8Array(
              buf.buffer,
              buf.byteOffset + p + FRAME_HEADER_BYTES,
              next - p - FRAME_HEADER_BYTES,
            ),
          );
        }
      }
    } catch (err) {
      if (this.#state === 'closed') this.#check();
      throw toStorageError(err, 'journal read', { from, to });
    } finally {
      for (const seg of used) {
        seg.readers--;
        await releaseIfIdle(seg);
      }
    }
    return out;
  }

  /** Index of the segment holding record `index` (binary search over bases). */
  #segmentIndex(index: number): number {
    let lo = 0;
    let hi = this.#segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#segments[mid]!.base <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  truncateBefore(index: number): Promise<void> {
    return this.#serial(async () => {
      if (!Number.isSafeInteger(index) || index < 0 || index > this.#end) {
        throw new StorageError(
          'storage.out_of_range',
          `journal truncate at ${index} beyond end ${this.#end}`,
          {
            details: { index, start: this.start, end: this.#end },
          },
        );
      }
      if (index <= this.start) return;
      try {
        // Fully integrated: a fresh segment lets the whole current one go. It stays closed until
        // the next append, so an idle log holds no file open.
        if (index === this.#end && this.#last.offsets.length > 0) await closeHandle(await this.#roll());
        while (this.#segments.length > 1 && this.#segments[1]!.base <= index) {
          const seg = this.#segments.shift()!;
          seg.retired = true;
          await unlink(seg.path);
          await fsyncDir(this.#options.dir);
          await releaseIfIdle(seg);
        }
      } catch (err) {
        throw toStorageError(err, 'journal truncate', { index });
      }
    });
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    // Refuse new calls at once; let the mutation already running finish first.
    this.#state = 'closed';
    await this.#tail;
    for (const seg of this.#segments) {
      seg.retired = true;
      await releaseIfIdle(seg);
    }
  }
}
