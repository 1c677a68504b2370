/**
 * Inclusion proofs and C2SP tlog-proof receipts against one signed checkpoint (receipts of a
 * `wait=checkpoint` batch, the receipt route). Proofs come from the log's own proof path, which
 * keeps hash tiles, their interior hashes and the right-edge folds in memory across requests.
 */

import { formatReceipt } from '../core/receipt.js';
import type { Log } from '../log/log.js';
import type { SignedCheckpoint } from '../log/types.js';

export interface ProofReader {
  /** The inclusion proof of `index` in the tree of the reader's checkpoint. */
  inclusion(index: number): Promise<Uint8Array[]>;
  /** A C2SP tlog-proof receipt of `index` against the reader's checkpoint. */
  receipt(index: number): Promise<string>;
}

/** A proof reader over `log` for the tree of `checkpoint` (which the log has signed). */
export function createProofReader(log: Log, checkpoint: SignedCheckpoint): ProofReader {
  const inclusion = (index: number) => log.inclusionProof(index, checkpoint.size);
  return {
    inclusion,
    async receipt(index) {
      return formatReceipt({ index, proof: await inclusion(index), checkpoint: checkpoint.note });
    },
  };
}
