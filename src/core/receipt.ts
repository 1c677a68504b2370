/**
 * Receipts: C2SP tlog-proof (https://c2sp.org/tlog-proof) texts that prove, offline, that one
 * entry is in a log. The format, line by line (every line ends in LF):
 *
 *   c2sp.org/tlog-proof@v1
 *   extra <base64>            optional, opaque and NOT authenticated
 *   index <decimal>           zero-based, no leading zeros
 *   <base64 hash>             zero or more: the RFC 6962 inclusion proof, leaf's sibling first
 *                             (an empty line)
 *   <signed checkpoint>       verbatim tlog-checkpoint note, to the end of the text
 *
 * A receipt is attacker-controlled text: `parseReceipt` checks the framing strictly, and only
 * `verifyReceipt` — which authenticates the checkpoint with the log's key and checks the proof
 * against its root — says anything about the log.
 */
import { type Checkpoint, CheckpointError, openCheckpoint } from './checkpoint.js';
import { fromBase64, toBase64 } from './encoding.js';
import { IndelibleError } from './errors.js';
import { hashLeaf, MerkleError } from './merkle.js';
import { isValidNoteText, type NoteVerifier } from './note.js';
import { ProofError, verifyInclusion } from './proof.js';

export type ReceiptErrorCode =
  /** The text is not a tlog-proof receipt (framing, index, hashes, or the checkpoint note/body). */
  | 'receipt.malformed'
  /** `formatReceipt`/`verifyReceipt` were given values they cannot use (programming error). */
  | 'receipt.invalid'
  /** The log key's signature on the checkpoint does not verify (tampered checkpoint). */
  | 'receipt.bad_signature'
  /** The checkpoint carries no signature by the given log key (wrong key, or unsigned). */
  | 'receipt.unverified'
  /** The checkpoint is for another origin than the one expected. */
  | 'receipt.origin_mismatch'
  /** The index is not below the checkpoint's tree size. */
  | 'receipt.index_out_of_range'
  /** The inclusion proof does not lead from the leaf at the index to the checkpoint's root. */
  | 'receipt.inclusion_failed';
export class ReceiptError extends IndelibleError<ReceiptErrorCode> {}

export interface Receipt {
  /** Zero-based index of the entry in the log. */
  index: number;
  /** Inclusion proof hashes (32 bytes each), from the leaf's sibling up to the root's child. */
  proof: Uint8Array[];
  /** The signed checkpoint note, verbatim (not yet verified when parsed). */
  checkpoint: string;
  /** Opaque, unauthenticated application data; absent when empty. */
  extra?: Uint8Array;
}

export interface VerifiedReceipt {
  index: number;
  checkpoint: Checkpoint;
  /** Unauthenticated: never trust it implicitly (tlog-proof "Format"). */
  extra?: Uint8Array;
}

const HEADER = 'c2sp.org/tlog-proof@v1';
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
/** A tree of at most 2^53 - 1 leaves has inclusion proofs of at most 53 hashes. */
const MAX_PROOF_HASHES = 53;

/** Formats a receipt; throws `receipt.invalid` when the parts cannot form one. */
export function formatReceipt(r: Receipt): string {
  if (!Number.isSafeInteger(r.index) || r.index < 0)
    throw invalid('index must be a non-negative safe integer');
  if (r.proof.length > MAX_PROOF_HASHES) throw invalid('inclusion proof is too long');
  if (!isSignedNoteShape(r.checkpoint)) throw invalid('checkpoint must be a signed note');
  let text = `${HEADER}\n`;
  if (r.extra !== undefined && r.extra.length > 0) text += `extra ${toBase64(r.extra)}\n`;
  text += `index ${r.index}\n`;
  for (const h of r.proof) {
    if (!(h instanceof Uint8Array) || h.length !== 32)
      throw invalid('inclusion proof hashes must be 32 bytes');
    text += `${toBase64(h)}\n`;
  }
  return `${text}\n${r.checkpoint}`;
}

/** Parses a receipt's framing strictly; throws `receipt.malformed`. The checkpoint is NOT verified. */
export function parseReceipt(text: string): Receipt {
  if (typeof text !== 'string') throw malformed('receipt must be text');
  let pos = 0;
  // Returns the next line without its LF; a missing LF is malformed (every line ends in one).
  const nextLine = (): string => {
    const end = text.indexOf('\n', pos);
    if (end < 0) throw malformed('unterminated line');
    const line = text.slice(pos, end);
    pos = end + 1;
    return line;
  };
  if (nextLine() !== HEADER) throw malformed(`first line must be ${HEADER}`);
  let line = nextLine();
  let extra: Uint8Array | undefined;
  if (line.startsWith('extra ')) {
    extra = fromBase64(line.slice('extra '.length));
    // Absent extra data omits the line, so an empty value is a second spelling of "none".
    if (extra === undefined || extra.length === 0)
      throw malformed('extra must be non-empty canonical base64');
    line = nextLine();
  }
  if (!line.startsWith('index ')) throw malformed('expected the index line');
  const indexText = line.slice('index '.length);
  const index = DECIMAL.test(indexText) ? Number(indexText) : Number.NaN;
  if (!Number.isSafeInteger(index))
    throw malformed('index must be a decimal safe integer without leading zeros');
  const proof: Uint8Array[] = [];
  for (line = nextLine(); line !== ''; line = nextLine()) {
    const hash = fromBase64(line);
    if (hash === undefined || hash.length !== 32)
      throw malformed('inclusion proof lines must be base64 32-byte hashes');
    if (proof.length === MAX_PROOF_HASHES) throw malformed('inclusion proof is too long');
    proof.push(hash);
  }
  const checkpoint = text.slice(pos);
  if (!isSignedNoteShape(checkpoint)) throw malformed('expected a signed checkpoint after the empty line');
  return extra === undefined ? { index, proof, checkpoint } : { index, proof, checkpoint, extra };
}

/**
 * Verifies a receipt offline: opens its checkpoint with the log's key (and `origin`, when given),
 * then checks the inclusion proof of `leaf` — a 32-byte RFC 6962 leaf hash, or `{ record }` whose
 * leaf hash is computed here — at the receipt's index against the checkpoint's root.
 */
export function verifyReceipt(
  receiptText: string,
  verifier: NoteVerifier,
  leaf: Uint8Array | { record: Uint8Array },
  origin?: string,
): VerifiedReceipt {
  let leafHash: Uint8Array;
  if (leaf instanceof Uint8Array) {
    if (leaf.length !== 32) throw invalid('leaf hash must be 32 bytes');
    leafHash = leaf;
  } else if (leaf !== null && typeof leaf === 'object' && leaf.record instanceof Uint8Array) {
    leafHash = hashLeaf(leaf.record);
  } else throw invalid('leaf must be a 32-byte leaf hash or { record: bytes }');

  const r = parseReceipt(receiptText);
  let checkpoint: Checkpoint;
  try {
    checkpoint = openCheckpoint(r.checkpoint, verifier, origin);
  } catch (cause) {
    if (!(cause instanceof CheckpointError)) throw cause;
    throw new ReceiptError(
      CHECKPOINT_TO_RECEIPT[cause.code],
      `receipt checkpoint rejected: ${cause.message}`,
      {
        cause,
        ...(cause.details === undefined ? {} : { details: { ...cause.details } }),
      },
    );
  }
  if (r.index >= checkpoint.size) {
    throw new ReceiptError('receipt.index_out_of_range', 'index is not below the checkpoint tree size', {
      details: { index: r.index, treeSize: checkpoint.size },
    });
  }
  try {
    verifyInclusion(r.index, checkpoint.size, leafHash, r.proof, checkpoint.rootHash);
  } catch (cause) {
    if (!(cause instanceof ProofError || cause instanceof MerkleError)) throw cause;
    throw new ReceiptError('receipt.inclusion_failed', `inclusion proof does not verify: ${cause.message}`, {
      cause,
      details: { index: r.index, treeSize: checkpoint.size, origin: checkpoint.origin },
    });
  }
  return r.extra === undefined
    ? { index: r.index, checkpoint }
    : { index: r.index, checkpoint, extra: r.extra };
}

const CHECKPOINT_TO_RECEIPT: Readonly<Record<CheckpointError['code'], ReceiptErrorCode>> = {
  'checkpoint.malformed': 'receipt.malformed',
  'checkpoint.bad_signature': 'receipt.bad_signature',
  'checkpoint.unverified': 'receipt.unverified',
  'checkpoint.origin_mismatch': 'receipt.origin_mismatch',
  'checkpoint.invalid': 'receipt.invalid',
};

/** Text that could be a signed note: valid note text, a blank line, newline-terminated. */
function isSignedNoteShape(s: unknown): s is string {
  return typeof s === 'string' && s.endsWith('\n') && s.includes('\n\n') && isValidNoteText(s);
}

const invalid = (why: string) => new ReceiptError('receipt.invalid', `cannot build receipt: ${why}`);
const malformed = (why: string) => new ReceiptError('receipt.malformed', `malformed receipt: ${why}`);
