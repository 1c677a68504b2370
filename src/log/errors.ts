import { IndelibleError } from '../core/errors.js';

export type LogErrorCode =
  /** The log does not exist. */
  | 'log.not_found'
  /** A log with that name already exists. */
  | 'log.exists'
  /** Not a valid log name (`^[a-z0-9][a-z0-9._-]{0,62}$`; `_` names are reserved for system logs). */
  | 'log.invalid_name'
  /** The sequencer queue is over its limit; retry later (HTTP 503 + Retry-After). */
  | 'log.pushback'
  /** The log or engine is closed (shutting down). */
  | 'log.closed'
  /** The log failed (a storage error on the append path) and must be reopened. */
  | 'log.failed'
  /** Storage holds less than the last signed checkpoint covers: refusing to start. */
  | 'log.storage_behind'
  /** Stored data contradicts itself or a signed checkpoint (evidence in `details`). */
  | 'log.inconsistent'
  /** An index or tree size outside what the log holds. */
  | 'log.out_of_range'
  /** An event id that was already appended with different content. */
  | 'log.id_conflict'
  /** Entries below the log's minimum index were pruned by its retention policy (HTTP 410). */
  | 'log.pruned';

export class LogError extends IndelibleError<LogErrorCode> {}
