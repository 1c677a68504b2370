import { IndelibleError } from '../core/errors.js';

/**
 * Codes of the retention module (policy, archiver, tiered reads). Tests assert these, never messages.
 *
 * - `retention.invalid_policy`: a policy value out of range or unparsable (fails at start).
 * - `retention.archive_moved`: the archive target (bucket or prefix) changed after local copies were
 *   evicted; they exist only in the old archive, so switching is refused.
 * - `retention.bad_local_object`: a local object the archiver must copy or date is missing or does
 *   not parse (a bundle, a record's `received_at`, a checkpoint note).
 * - `retention.legal_hold_active`: a legal hold blocks the deletion, or a second hold was asked.
 * - `retention.no_legal_hold`: a release was asked while no legal hold is set.
 * - `retention.invalid_prune_state`: the stored prune state (prune-state.ts) is damaged.
 * - `retention.bad_prune_statement`: a prune statement does not parse or its signature or claims
 *   do not hold (verification of a pruned log).
 */
export type RetentionErrorCode =
  | 'retention.invalid_policy'
  | 'retention.archive_moved'
  | 'retention.bad_local_object'
  | 'retention.legal_hold_active'
  | 'retention.no_legal_hold'
  | 'retention.invalid_prune_state'
  | 'retention.bad_prune_statement';

export class RetentionError extends IndelibleError<RetentionErrorCode> {}
