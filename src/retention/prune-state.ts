/**
 * The pruning state of one log (C2SP tlog-tiles "Pruning"): the log's *minimum index* and the
 * signed prune statement that set it. Kept as JSON under the key `prune` of the log's own state
 * store. Absent = never pruned = minimum index 0.
 *
 * Invariants: `minimumIndex` is a multiple of 256 (whole entry bundles are pruned, never part of one),
 * it only grows, and it is never above the size of a checkpoint the log signed. Entry bundles whose
 * end index is ≤ `minimumIndex` may be missing locally and in the archive; hash tiles are always
 * kept, so proofs for remaining entries and across the prune keep verifying.
 */
import type { StateStore } from '../storage/types.js';
import { RetentionError } from './errors.js';

export const PRUNE_STATE_KEY = 'prune';

export interface PruneState {
  /** Entries below this index are pruned (their bundles may be gone). Multiple of 256. */
  minimumIndex: number;
  /** Index in the log of the record holding the prune statement that set `minimumIndex`. */
  statementIndex: number;
  /** RFC 3339 time the statement was made. */
  prunedAt: string;
}

/** The stored prune state and its version (for compare-and-swap), or an unpruned state. */
export async function readPruneState(
  state: StateStore,
): Promise<{ prune: PruneState | null; version: string | undefined }> {
  const stored = await state.read(PRUNE_STATE_KEY);
  if (!stored) return { prune: null, version: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(stored.value).toString('utf8'));
  } catch {
    throw damaged('is not JSON');
  }
  const p = parsed as Partial<PruneState>;
  if (
    typeof p !== 'object' ||
    p === null ||
    !Number.isSafeInteger(p.minimumIndex) ||
    (p.minimumIndex as number) < 0 ||
    (p.minimumIndex as number) % 256 !== 0 ||
    !Number.isSafeInteger(p.statementIndex) ||
    (p.statementIndex as number) < (p.minimumIndex as number) ||
    typeof p.prunedAt !== 'string'
  ) {
    throw damaged('has missing or invalid fields');
  }
  return {
    prune: { minimumIndex: p.minimumIndex!, statementIndex: p.statementIndex!, prunedAt: p.prunedAt! },
    version: stored.version,
  };
}

/** The log's minimum index: 0 when it was never pruned. */
export async function readMinimumIndex(state: StateStore): Promise<number> {
  return (await readPruneState(state)).prune?.minimumIndex ?? 0;
}

/** Encodes a prune state for `compareAndSwap`. */
export function encodePruneState(p: PruneState): Uint8Array {
  return Buffer.from(JSON.stringify(p), 'utf8');
}

function damaged(what: string): RetentionError {
  return new RetentionError('retention.invalid_prune_state', `the stored prune state ${what}`);
}
