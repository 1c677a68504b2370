/**
 * Prune statements: the log's signed declaration that entries below a *minimum index* (C2SP
 * tlog-tiles, "Pruning") were removed under its retention policy. Without one, a missing entry
 * bundle is damage; with a valid one, a verifier accepts the missing prefix and checks that prefix
 * through the hash tiles (which are never pruned) instead of the records.
 *
 * A statement is a signed note (C2SP signed-note) by the log's own key, whose text is:
 *
 *     indelible.prune/v1
 *     origin <log origin>
 *     minimum_index <M: a multiple of 256>
 *     tree_size <N: the signed tree the decision was made at, M <= N>
 *     root_hash <base64 of the root of that tree>
 *     received_before <RFC 3339 time: every pruned entry was received before it>
 *
 * The fixed first line keeps a statement from ever parsing as a checkpoint (whose first line is the
 * origin and second a bare number), so the log key signing both cannot be confused. Parsing is
 * strict: every line exactly as above, no extras, numbers without leading zeros.
 */
import { bytesEqual } from './crypto.js';
import { fromBase64, toBase64 } from './encoding.js';
import { IndelibleError } from './errors.js';
import { isRfc3339DateTime } from './event.js';
import { NoteError, type NoteSigner, type NoteVerifier, openNote, signNote } from './note.js';

export type PruneStatementErrorCode =
  /** The text is not a well-formed statement, or its values are impossible. */
  | 'prune_statement.malformed'
  /** No valid signature by the log key (bad, missing, or by other keys only). */
  | 'prune_statement.unverified'
  /** Validly signed, but for another log (origin). */
  | 'prune_statement.origin_mismatch';
export class PruneStatementError extends IndelibleError<PruneStatementErrorCode> {}

export const PRUNE_STATEMENT_HEADER = 'indelible.prune/v1';
/**
 * The action of the record that carries a statement in the pruned log itself; its
 * `metadata.statement` is the signed statement.
 */
export const PRUNE_ACTION = 'indelible.retention.prune';
/** Entries are pruned by whole entry bundles, so the minimum index is a multiple of this. */
export const PRUNE_GRANULE = 256;

export interface PruneStatement {
  origin: string;
  minimumIndex: number;
  treeSize: number;
  rootHash: Uint8Array;
  /** RFC 3339 (UTC, as written by the log). */
  receivedBefore: string;
}

const NUMBER = /^(?:0|[1-9][0-9]*)$/;

const malformed = (why: string) =>
  new PruneStatementError('prune_statement.malformed', `malformed prune statement: ${why}`);

function check(s: PruneStatement): void {
  if (typeof s.origin !== 'string' || s.origin.length === 0 || /[\s]/.test(s.origin))
    throw malformed('origin must be non-empty without spaces or newlines');
  if (!Number.isSafeInteger(s.minimumIndex) || s.minimumIndex <= 0 || s.minimumIndex % PRUNE_GRANULE !== 0)
    throw malformed(`minimum_index must be a positive multiple of ${PRUNE_GRANULE}`);
  if (!Number.isSafeInteger(s.treeSize) || s.treeSize < s.minimumIndex)
    throw malformed('tree_size must be a safe integer not below minimum_index');
  if (!(s.rootHash instanceof Uint8Array) || s.rootHash.length !== 32)
    throw malformed('root_hash must be 32 bytes');
  if (typeof s.receivedBefore !== 'string' || !isRfc3339DateTime(s.receivedBefore))
    throw malformed('received_before must be an RFC 3339 date-time');
}

/** The note text of a statement; throws `prune_statement.malformed` for impossible values. */
export function formatPruneStatement(s: PruneStatement): string {
  check(s);
  return (
    `${PRUNE_STATEMENT_HEADER}\norigin ${s.origin}\nminimum_index ${s.minimumIndex}\n` +
    `tree_size ${s.treeSize}\nroot_hash ${toBase64(s.rootHash)}\nreceived_before ${s.receivedBefore}\n`
  );
}

/** Parses statement text (not the signed note: see `openPruneStatement`). */
export function parsePruneStatement(text: string): PruneStatement {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw malformed('text must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 6 || lines[0] !== PRUNE_STATEMENT_HEADER)
    throw malformed(`expected the ${PRUNE_STATEMENT_HEADER} header and five fields`);
  const field = (i: number, name: string): string => {
    const line = lines[i]!;
    if (!line.startsWith(`${name} `)) throw malformed(`line ${i + 1} must be ${name}`);
    return line.slice(name.length + 1);
  };
  const number = (i: number, name: string): number => {
    const v = field(i, name);
    if (!NUMBER.test(v)) throw malformed(`${name} must be decimal without sign or leading zeros`);
    return Number(v);
  };
  const root = fromBase64(field(4, 'root_hash'));
  if (root === undefined) throw malformed('root_hash is not canonical base64');
  const s: PruneStatement = {
    origin: field(1, 'origin'),
    minimumIndex: number(2, 'minimum_index'),
    treeSize: number(3, 'tree_size'),
    rootHash: root,
    receivedBefore: field(5, 'received_before'),
  };
  check(s);
  return s;
}

/** A statement signed by the log key, as a signed note. */
export function signPruneStatement(s: PruneStatement, signer: NoteSigner): string {
  return signNote(formatPruneStatement(s), [signer]);
}

/**
 * Opens a signed statement: verifies the log key's signature, parses strictly, and checks the
 * origin when one is expected.
 */
export function openPruneStatement(
  note: string | Uint8Array,
  verifier: NoteVerifier,
  origin?: string,
): PruneStatement {
  let text: string;
  try {
    text = openNote(note, [verifier]).text;
  } catch (cause) {
    if (!(cause instanceof NoteError)) throw cause;
    const code =
      cause.code === 'note.malformed' || cause.code === 'note.invalid_text'
        ? 'prune_statement.malformed'
        : 'prune_statement.unverified';
    throw new PruneStatementError(code, `prune statement rejected: ${cause.message}`, { cause });
  }
  const s = parsePruneStatement(text);
  if (origin !== undefined && s.origin !== origin) {
    throw new PruneStatementError('prune_statement.origin_mismatch', 'prune statement is for another log', {
      details: { expected: origin, actual: s.origin },
    });
  }
  return s;
}

/**
 * The signed statement carried by a prune record's event (`action` PRUNE_ACTION, the note in
 * `metadata.statement`), or undefined when the event is not a prune record.
 */
export function statementOfEvent(event: unknown): string | undefined {
  const e = event as { action?: unknown; metadata?: { statement?: unknown } } | null;
  if (typeof e !== 'object' || e === null || e.action !== PRUNE_ACTION) return undefined;
  const statement = e.metadata?.statement;
  return typeof statement === 'string' ? statement : undefined;
}

/**
 * True when a statement found in entry `statementIndex` allows the minimum index a log declares:
 * it is for exactly that minimum index, signs a tree no larger than `treeSize` (the tree being
 * verified), and sits in a record the log still holds (at or past the minimum index).
 */
export function statementFits(
  s: PruneStatement,
  at: { minimumIndex: number; treeSize: number; statementIndex: number },
): boolean {
  return (
    s.minimumIndex === at.minimumIndex && s.treeSize <= at.treeSize && at.statementIndex >= at.minimumIndex
  );
}

/**
 * True when a tree of `size` leaves whose root is `root()` contradicts the statement: same size,
 * another root. (A verifier calls it as its walk grows the tree, so the root is computed only at
 * the statement's size.)
 */
export function contradictsStatement(s: PruneStatement, size: number, root: () => Uint8Array): boolean {
  return size === s.treeSize && !bytesEqual(root(), s.rootHash);
}
