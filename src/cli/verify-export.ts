/**
 * Offline verification of an export file (`indelible verify --export FILE --key VKEY`), in the
 * format of src/http/routes-export.ts: entry lines `{"index","leaf_hash","record","proof"}` in
 * increasing index order, then one final `{"checkpoint","tree_size","count"}` line.
 *
 * The file is attacker-controlled (whoever handed it over may have edited it), so nothing in it is
 * believed until it is bound to the checkpoint, and the checkpoint to the pinned key:
 *
 * 1. the LAST line is read first: it must be the checkpoint line (a missing one, or the server's
 *    `{"error"}` line, means the export is truncated), its note must verify under the key, its
 *    origin be the key's name (Indelible names every log key after its log's origin) and its size
 *    equal `tree_size`;
 * 2. every other line, streamed in order, must be an entry whose record hashes to its `leaf_hash`,
 *    is a valid record naming this log and this index, chains (`prev`) to the entry before when
 *    that one is in the file too, and whose inclusion proof leads to the checkpoint's root;
 * 3. the number of entries must equal `count` (a consistency check of the file only: that line is
 *    not signed, so whoever removes entries can lower it too);
 * 4. with `complete`, no entry may be missing from the log's start to the checkpoint's last
 *    (`export.gap`): what an unfiltered export without `from` or `to` holds. The log's start is
 *    index 0, or — for a pruned log — its minimum index M when the file proves it: an unfiltered
 *    export of a pruned log holds the prune record (action `indelible.retention.prune`, always at
 *    an index ≥ M), whose statement, signed by the same key, declares every entry below M pruned
 *    (core/prune-statement.ts). A file starting above 0 without such a statement is missing its
 *    prefix. Without `complete`, the report says where the file starts against that start, how many
 *    indices between its first and last are not in it, and whether it reaches the tree's end.
 *
 * Memory stays constant whatever the file's size: only the previous entry is remembered.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { type Checkpoint, CheckpointError, openCheckpoint } from '../core/checkpoint.js';
import { bytesEqual } from '../core/crypto.js';
import { fromHex, toHex, utf8 } from '../core/encoding.js';
import { IndelibleError } from '../core/errors.js';
import { hashLeaf, MerkleError } from '../core/merkle.js';
import type { NoteVerifier } from '../core/note.js';
import { ProofError, verifyInclusion } from '../core/proof.js';
import {
  openPruneStatement,
  PruneStatementError,
  statementFits,
  statementOfEvent,
} from '../core/prune-statement.js';
import { parseRecord, RecordError } from '../core/record.js';
import { InvalidUtf8Error, Utf8Lines } from '../util/utf8-lines.js';
import { namingPath } from './options.js';

export type ExportVerifyErrorCode =
  /** A line that is not an export line (not JSON, wrong fields, or a checkpoint line mid-file). */
  | 'export.malformed'
  /** No final checkpoint line, or the server's `{"error"}` line: the export is truncated. */
  | 'export.incomplete'
  /** The final checkpoint does not verify under the key, or disagrees with `tree_size`. */
  | 'export.bad_checkpoint'
  /** A record that is not a valid record, or that names another log or index than its line. */
  | 'export.bad_record'
  /** `leaf_hash` is not SHA-256(0x00 ‖ record). */
  | 'export.leaf_mismatch'
  /** An entry's inclusion proof does not lead to the checkpoint's root. */
  | 'export.inclusion_failed'
  /** Indices not strictly increasing, or not below the checkpoint's tree size. */
  | 'export.out_of_order'
  /** A record's `prev` is not the leaf hash of the entry before it. */
  | 'export.chain_broken'
  /** The number of entries is not the final line's `count`. */
  | 'export.count_mismatch'
  /**
   * With `complete`: an entry between the log's start (0, or a minimum index proven by a prune
   * statement in the file) and the checkpoint's last is not in the file.
   */
  | 'export.gap';
export class ExportVerifyError extends IndelibleError<ExportVerifyErrorCode> {}

export interface ExportReport {
  /** The log every record names. */
  log: string | undefined;
  origin: string;
  treeSize: number;
  /** Lowercase hex root of the checkpoint. */
  rootHash: string;
  count: number;
  first: number | undefined;
  last: number | undefined;
  /** Indices between `first` and `last` that are not in the file (a filtered export, or removed). */
  missing: number;
  /**
   * Where the log starts, as far as the file proves: 0, or the minimum index M of a pruned log when
   * the file holds a prune record whose statement (signed by the key, for this origin) declares
   * the entries below M pruned. A `first` above it means entries before the file's first are not in
   * it (a filtered export, one with `from`, or a prefix removed).
   */
  minimumIndex: number;
  /** The entry holding the prune statement that proves `minimumIndex`, when it is above 0. */
  statementIndex: number | undefined;
  /**
   * No entry missing from `minimumIndex` to the checkpoint's last (what `complete` requires):
   * the file starts there, has no gap, and reaches the end of the tree.
   */
  complete: boolean;
}

export interface VerifyExportOptions {
  /** Require every record to name this log (default: the log the first record names). */
  log?: string;
  /**
   * Require every entry from the log's start to the checkpoint's last (`export.gap` otherwise):
   * an unfiltered export. The start is 0, or a pruned log's minimum index when a prune statement
   * in the file proves it (`ExportReport.minimumIndex`).
   */
  complete?: boolean;
  onProgress?: (done: number, bytes: { read: number; total: number }) => void;
}

/** A line longer than this is not an export line (a record is at most 64 KiB before escaping). */
const MAX_LINE = 1 << 20;
const HEX32 = /^[0-9a-f]{64}$/;

const fail = (
  code: ExportVerifyErrorCode,
  message: string,
  details: Record<string, unknown>,
  cause?: unknown,
) => new ExportVerifyError(code, message, { details, ...(cause === undefined ? {} : { cause }) });

/** `line` is 1-based, or 'last' for the final line (read first, before lines are counted). */
function parseLine(text: string, line: number | 'last'): Record<string, unknown> {
  const where = line === 'last' ? 'the last line' : `line ${line}`;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (cause) {
    throw fail('export.malformed', `${where} is not JSON`, { line }, cause);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw fail('export.malformed', `${where} is not a JSON object`, { line });
  const o = v as Record<string, unknown>;
  if (o.error !== undefined) {
    const code = (o.error as { code?: unknown } | null)?.code;
    throw fail(
      'export.incomplete',
      `${where} is the server's error line: the export failed and is incomplete`,
      {
        line,
        serverCode: typeof code === 'string' ? code : undefined,
      },
    );
  }
  return o;
}

/** Reads the last line and where it starts; a file not ending in LF was cut off mid-line. */
async function readLastLine(path: string): Promise<{ text: string; start: number; size: number }> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const incomplete = (why: string) => fail('export.incomplete', `the export ${why}: it is truncated`, {});
    if (size === 0) throw incomplete('is empty');
    let tail = Buffer.alloc(0);
    for (let pos = size; ; ) {
      const n = Math.min(pos, 65536);
      pos -= n;
      const chunk = Buffer.alloc(n);
      await fh.read(chunk, 0, n, pos).catch((err: unknown) => {
        throw namingPath(path, err);
      });
      tail = Buffer.concat([chunk, tail]);
      if (tail[tail.length - 1] !== 0x0a) throw incomplete('does not end with a complete line');
      const nl = tail.lastIndexOf(0x0a, tail.length - 2);
      if (nl >= 0 || pos === 0) {
        const start = pos + nl + 1;
        return { text: tail.subarray(nl + 1, tail.length - 1).toString('utf8'), start, size };
      }
      if (tail.length > MAX_LINE) throw fail('export.malformed', 'the last line is too long', {});
    }
  } finally {
    await fh.close();
  }
}

/** Opens the final line: the checkpoint every proof is against. */
function finalLine(text: string, verifier: NoteVerifier): { cp: Checkpoint; count: number } {
  const line = 'last';
  const o = parseLine(text, line);
  if (typeof o.checkpoint !== 'string') {
    throw fail('export.incomplete', 'the export has no final checkpoint line: it is truncated', { line });
  }
  const count = o.count;
  const size = o.tree_size;
  if (!Number.isSafeInteger(count) || (count as number) < 0 || !Number.isSafeInteger(size))
    throw fail('export.malformed', 'the last line: tree_size and count must be integers', { line });
  let cp: Checkpoint;
  try {
    // Indelible names every log key after its log's origin: another origin is another log's.
    cp = openCheckpoint(o.checkpoint, verifier, verifier.name);
  } catch (cause) {
    if (!(cause instanceof CheckpointError)) throw cause;
    throw fail('export.bad_checkpoint', `the export's checkpoint does not verify: ${cause.message}`, {
      line,
      reason: cause.code,
    });
  }
  if (cp.size !== size)
    throw fail('export.bad_checkpoint', `tree_size ${size} is not the checkpoint's size ${cp.size}`, {
      line,
    });
  return { cp, count: count as number };
}

/** Verifies the export file at `path` against `verifier`; throws ExportVerifyError at the first failure. */
export async function verifyExportFile(
  path: string,
  verifier: NoteVerifier,
  options: VerifyExportOptions = {},
): Promise<ExportReport> {
  const last = await readLastLine(path);
  let line = 0;
  let log = options.log;
  let prev: { index: number; leaf: Uint8Array } | undefined;
  let first: number | undefined;
  let count = 0;
  let missing = 0;
  const { cp, count: expected } = finalLine(last.text, verifier);
  /**
   * The minimum indices declared by valid prune statements in the file, and the entry holding each
   * (an unfiltered export of a pruned log holds at least the one for its minimum index).
   */
  const statements = new Map<number, number>();

  const checkEntry = (text: string) => {
    line++;
    const o = parseLine(text, line);
    if (o.checkpoint !== undefined)
      throw fail('export.malformed', `line ${line} is a checkpoint line before the end`, { line });
    const { index, leaf_hash: leafHex, record, proof } = o;
    if (
      !Number.isSafeInteger(index) ||
      (index as number) < 0 ||
      typeof leafHex !== 'string' ||
      !HEX32.test(leafHex) ||
      typeof record !== 'string' ||
      !Array.isArray(proof) ||
      proof.length > 64 ||
      !proof.every((h) => typeof h === 'string' && HEX32.test(h))
    ) {
      throw fail('export.malformed', `line ${line} is not an export entry`, { line });
    }
    const i = index as number;
    const at = { line, index: i };
    if ((prev !== undefined && i <= prev.index) || i >= cp.size)
      throw fail('export.out_of_order', `line ${line}: entry ${i} is out of order or beyond the tree`, at);
    if (prev !== undefined && i > prev.index + 1) {
      if (options.complete) {
        throw fail('export.gap', `line ${line}: entries ${prev.index + 1}..${i - 1} are not in the export`, {
          ...at,
          from: prev.index + 1,
          to: i,
        });
      }
      missing += i - prev.index - 1;
    }
    const leaf = hashLeaf(utf8(record));
    if (!bytesEqual(leaf, fromHex(leafHex)!))
      throw fail(
        'export.leaf_mismatch',
        `line ${line}: entry ${i}'s record does not hash to its leaf_hash`,
        at,
      );
    let rec: ReturnType<typeof parseRecord>;
    try {
      rec = parseRecord(record);
    } catch (cause) {
      if (!(cause instanceof RecordError)) throw cause;
      throw fail(
        'export.bad_record',
        `line ${line}: entry ${i} is not a valid record (${cause.code})`,
        at,
        cause,
      );
    }
    log ??= rec.log;
    if (rec.index !== i || rec.log !== log)
      throw fail(
        'export.bad_record',
        `line ${line}: entry ${i} holds the record of ${rec.log}[${rec.index}]`,
        at,
      );
    if (prev !== undefined && prev.index === i - 1 && rec.prev !== toHex(prev.leaf))
      throw fail('export.chain_broken', `line ${line}: entry ${i} does not chain to entry ${i - 1}`, at);
    try {
      verifyInclusion(
        i,
        cp.size,
        leaf,
        proof.map((h) => fromHex(h as string)!),
        cp.rootHash,
      );
    } catch (cause) {
      if (!(cause instanceof ProofError || cause instanceof MerkleError)) throw cause;
      throw fail('export.inclusion_failed', `line ${line}: entry ${i}'s inclusion proof fails`, at, cause);
    }
    first ??= i;
    // A prune record: its statement counts only when signed by this key for this origin (any
    // writer can append an event with this action; only the log key can sign the statement).
    const note = statementOfEvent(rec.event);
    if (note !== undefined) {
      try {
        const s = openPruneStatement(note, verifier, cp.origin);
        if (statementFits(s, { minimumIndex: s.minimumIndex, treeSize: cp.size, statementIndex: i }))
          statements.set(s.minimumIndex, i);
      } catch (cause) {
        if (!(cause instanceof PruneStatementError)) throw cause;
      }
    }
    prev = { index: i, leaf };
    count++;
  };

  if (last.start > 0) {
    const input = createReadStream(path, { start: 0, end: last.start - 1, highWaterMark: 1 << 20 });
    // Split into lines before decoding, so that invalid UTF-8 is reported on its own line.
    const lines = new Utf8Lines();
    let read = 0;
    try {
      for await (const chunk of input) {
        read += (chunk as Buffer).length;
        let texts: string[];
        try {
          texts = lines.push(chunk as Buffer);
        } catch (cause) {
          if (!(cause instanceof InvalidUtf8Error)) throw cause;
          throw fail(
            'export.malformed',
            `line ${cause.line} is not valid UTF-8`,
            { line: cause.line },
            cause,
          );
        }
        for (const text of texts) checkEntry(text);
        if (lines.pendingBytes > MAX_LINE)
          throw fail('export.malformed', `line ${line + 1} is too long`, { line: line + 1 });
        options.onProgress?.(count, { read, total: last.size });
      }
    } finally {
      input.destroy();
    }
    // The range ends right before the last line, after an LF: nothing may be left over.
    const rest = lines.end();
    if (rest !== undefined) checkEntry(rest);
  }
  if (count !== expected) {
    throw fail(
      'export.count_mismatch',
      `the export holds ${count} entries but its last line says ${expected}`,
      {
        count,
        expected,
      },
    );
  }
  const end = prev === undefined ? undefined : prev.index + 1;
  // The log's start as far as the file proves it: the highest minimum index a statement in it
  // declares at or below its first entry (those below the file's first entry prove part of its
  // missing prefix pruned; those above it come from a prune decided after the export began).
  let minimumIndex = 0;
  for (const m of statements.keys()) if (m <= (first ?? 0) && m > minimumIndex) minimumIndex = m;
  const statementIndex = minimumIndex > 0 ? statements.get(minimumIndex) : undefined;
  const startsAtStart = (first ?? minimumIndex) === minimumIndex;
  const complete = startsAtStart && missing === 0 && (end ?? 0) === cp.size;
  if (options.complete && !startsAtStart) {
    const to = first!;
    const proven =
      minimumIndex > 0
        ? `the prune statement in entry ${statementIndex} proves only the entries below ${minimumIndex} pruned`
        : 'it holds no prune statement signed by the key that declares them pruned';
    throw fail(
      'export.gap',
      `entries ${minimumIndex}..${to - 1} are not in the export: it starts at entry ${to}, and ${proven}`,
      { from: minimumIndex, to },
    );
  }
  if (options.complete && !complete) {
    const from = end ?? 0;
    throw fail(
      'export.gap',
      `entries ${from}..${cp.size - 1} of the checkpoint's tree are not in the export (it ends ${end === undefined ? 'without entries' : `at entry ${from - 1}`})`,
      { from, to: cp.size },
    );
  }
  return {
    missing,
    complete,
    log,
    origin: cp.origin,
    treeSize: cp.size,
    rootHash: toHex(cp.rootHash),
    count,
    first,
    last: prev?.index,
    minimumIndex,
    statementIndex,
  };
}
