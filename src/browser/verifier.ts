/**
 * Entry of the browser verifier bundle (build.ts): Indelible's offline verification — records,
 * RFC 6962 proofs, C2SP checkpoints, notes, tiles and tlog-proof receipts — for web pages such as
 * the log viewer. It is the core itself, built with browser implementations of crypto.ts and
 * encoding.ts, so a receipt verifies in the browser by exactly the code that verifies it in Node.
 * Everything here is synchronous and pure.
 */
export { type Checkpoint, CheckpointError, openCheckpoint, parseCheckpoint } from '../core/checkpoint.js';
export { bytesEqual, sha256 } from '../core/crypto.js';
export { fromBase64, fromHex, toBase64, toHex, utf8 } from '../core/encoding.js';
export { IndelibleError, isIndelibleError } from '../core/errors.js';
export { type AuditEvent, EventError, validateEvent } from '../core/event.js';
export { canonicalize, canonicalizeBytes, JcsError } from '../core/jcs.js';
export { CompactRange, EMPTY_ROOT, hashChildren, hashLeaf, MerkleError, rootOf } from '../core/merkle.js';
export { NoteError, type NoteVerifier, openNote, parseVerifierKey } from '../core/note.js';
export { ProofError, rootFromInclusionProof, verifyConsistency, verifyInclusion } from '../core/proof.js';
export {
  parseReceipt,
  type Receipt,
  ReceiptError,
  type VerifiedReceipt,
  verifyReceipt,
} from '../core/receipt.js';
export { type AuditRecord, parseRecord, RecordError } from '../core/record.js';
export { decodeBundle, entriesPath, parseTilePath, TileError, tilePath } from '../core/tile.js';
