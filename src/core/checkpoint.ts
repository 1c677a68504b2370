/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed tree head of a log.
 *
 * The note text is: origin line, tree size (ASCII decimal, no leading zeros), base64 root hash,
 * then optional non-empty extension lines; every line ends in LF. We parse strictly — a root
 * must be exactly 32 bytes (SHA-256, RFC 6962), trailing empty lines are not extensions, the size
 * must be a safe integer — because a checkpoint is attacker-controlled until its signature
 * verifies and two texts must never mean the same tree head.
 */

import { fromBase64, toBase64 } from './encoding.js';
import { IndelibleError } from './errors.js';
import {
  isValidNoteText,
  NoteError,
  type NoteSigner,
  type NoteVerifier,
  openNote,
  signNote,
} from './note.js';

export type CheckpointErrorCode =
  /** The text (or the note around it) is not a well-formed checkpoint. */
  | 'checkpoint.malformed'
  /** The log key's signature does not verify over the text. */
  | 'checkpoint.bad_signature'
  /** The note carries no signature by the log key (unsigned, or signed by other keys only). */
  | 'checkpoint.unverified'
  /** The checkpoint is validly signed but for another origin than the one expected. */
  | 'checkpoint.origin_mismatch'
  /** `formatCheckpoint`/`signCheckpoint` were given values that cannot form a checkpoint. */
  | 'checkpoint.invalid';
export class CheckpointError extends IndelibleError<CheckpointErrorCode> {}

export interface Checkpoint {
  /** Unique identity of the log, e.g. `example.com/log42`; non-empty. */
  origin: string;
  /** Number of leaves in the tree (a safe integer). */
  size: number;
  /** RFC 6962 Merkle tree hash of the first `size` leaves (32 bytes). */
  rootHash: Uint8Array;
  /** Opaque, non-empty extension lines (without their LF); NOT RECOMMENDED by the spec. */
  extensions: string[];
}

const SIZE = /^(?:0|[1-9][0-9]*)$/;

/** Formats the note text (body) of a checkpoint; throws `checkpoint.invalid` for impossible values. */
export function formatCheckpoint(cp: Checkpoint): string {
  if (!isLine(cp.origin)) throw invalid('origin must be one non-empty line of valid note text');
  if (!Number.isSafeInteger(cp.size) || cp.size < 0)
    throw invalid('size must be a non-negative safe integer');
  if (!(cp.rootHash instanceof Uint8Array) || cp.rootHash.length !== 32)
    throw invalid('root hash must be 32 bytes');
  let text = `${cp.origin}\n${cp.size}\n${toBase64(cp.rootHash)}\n`;
  for (const ext of cp.extensions) {
    if (!isLine(ext)) throw invalid('extension lines must be non-empty lines of valid note text');
    text += `${ext}\n`;
  }
  return text;
}

const invalid = (why: string) =>
  new CheckpointError('checkpoint.invalid', `cannot format checkpoint: ${why}`);
const malformed = (why: string) =>
  new CheckpointError('checkpoint.malformed', `malformed checkpoint: ${why}`);

function isLine(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && !s.includes('\n') && isValidNoteText(s);
}

/** Parses checkpoint note text (not a signed note: see `openCheckpoint`). Throws `checkpoint.malformed`. */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw malformed('text must end in a newline');
  if (!isValidNoteText(text)) throw malformed('control characters or invalid UTF-8');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('needs origin, tree size and root hash lines');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw malformed('empty origin');
  if (!SIZE.test(sizeText)) throw malformed('tree size must be decimal without sign or leading zeros');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw malformed('tree size exceeds 2^53 - 1');
  const rootHash = fromBase64(rootText);
  if (rootHash === undefined) throw malformed('root hash is not canonical base64');
  if (rootHash.length !== 32) throw malformed('root hash is not 32 bytes');
  if (extensions.some((e) => e.length === 0)) throw malformed('empty extension line');
  return { origin, size, rootHash, extensions };
}

/** A signed checkpoint note: the formatted body signed by the log's key. */
export function signCheckpoint(cp: Checkpoint, signer: NoteSigner): string {
  const text = formatCheckpoint(cp);
  try {
    return signNote(text, [signer]);
  } catch (cause) {
    if (cause instanceof NoteError) throw new CheckpointError('checkpoint.invalid', cause.message, { cause });
    throw cause;
  }
}

/**
 * Opens a signed checkpoint: verifies the log key's signature (other signatures — witnesses,
 * rotated keys, other algorithms — are ignored as the spec requires), parses the body, and checks
 * the origin when one is expected. The key name SHOULD equal the origin but need not
 * (sum.golang.org signs `go.sum database tree`), so that is not enforced; pass `origin` to pin it.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  verifier: NoteVerifier,
  origin?: string,
): Checkpoint {
  let text: string;
  try {
    text = openNote(note, [verifier]).text;
  } catch (cause) {
    if (!(cause instanceof NoteError)) throw cause;
    const code = NOTE_TO_CHECKPOINT[cause.code];
    throw new CheckpointError(code, `checkpoint note rejected: ${cause.message}`, {
      cause,
      ...(cause.details === undefined ? {} : { details: { ...cause.details } }),
    });
  }
  const cp = parseCheckpoint(text);
  if (origin !== undefined && cp.origin !== origin) {
    throw new CheckpointError('checkpoint.origin_mismatch', 'checkpoint is for another origin', {
      details: { expected: origin, actual: cp.origin },
    });
  }
  return cp;
}

const NOTE_TO_CHECKPOINT: Readonly<Record<NoteError['code'], CheckpointErrorCode>> = {
  'note.malformed': 'checkpoint.malformed',
  'note.too_many_signatures': 'checkpoint.malformed',
  'note.invalid_text': 'checkpoint.malformed',
  'note.bad_signature': 'checkpoint.bad_signature',
  'note.no_verified_signature': 'checkpoint.unverified',
  // Only reachable when the caller's verifier itself is inconsistent (name, key ID, public key).
  'note.invalid_key': 'checkpoint.invalid',
};
