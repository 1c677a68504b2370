/**
 * The derived search index: contract shared by every backend (`sqlite` now, `postgres` later; one
 * folder per backend, Kysely style).
 *
 * The log is the source of truth. The index is derived from it, may lag behind it, can be thrown
 * away and rebuilt, and always says how far it covers (`coveredSize`). Nothing the index says is
 * trusted for proofs; it only finds entries, and every result carries the entry's leaf hash so a
 * caller can prove it against a checkpoint.
 */
import { IndelibleError } from '../core/errors.js';

export type IndexErrorCode =
  /** The log name does not match `^[a-z0-9_][a-z0-9._-]{0,62}$`. */
  | 'index.invalid_log'
  /** An entry is malformed: index not a safe integer, leaf hash not 32 bytes, record not a record of this log at this index. */
  | 'index.invalid_entry'
  /** `add` was given a gap (first new index beyond `coveredSize`) or indices that are not consecutive. */
  | 'index.not_contiguous'
  /** An already indexed index arrived with a different leaf hash: the index and the log disagree. */
  | 'index.conflict'
  /** A query field is malformed or out of range (`details.field` names it). */
  | 'index.invalid_query'
  /** A cursor was not made by this index for this ordering (tampered, truncated, or from another order). */
  | 'index.invalid_cursor'
  /** A backend limit was reached (too many logs, or an index past what the backend can address). */
  | 'index.capacity'
  /** The stored index was written by a newer version of Indelible (schema version unknown here). */
  | 'index.schema_too_new'
  /** The index was closed. */
  | 'index.closed'
  /** The index kept failing to take writes (the engine gave up waiting for it; `cause` says why). */
  | 'index.unavailable';

export class IndexError extends IndelibleError<IndexErrorCode> {}

/** `limit` when a query gives none, and the largest `limit` accepted. */
export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 1000;

/** One entry handed to the index by the engine, exactly as the log holds it. */
export interface IndexEntry {
  index: number;
  /** `SHA-256(0x00 ‖ record bytes)` (RFC 6962), 32 bytes. */
  leafHash: Uint8Array;
  /** The exact record text (JCS, DESIGN.md §3). */
  record: string;
  /**
   * What `SearchIndex.deriveEvent` returned for this entry's event, when the caller had the event
   * (the engine has, for the entries it indexes from memory), with the record's `id` and
   * `received_at`. An index that gets all three MAY use them instead of parsing `record`; they MUST
   * be what it would derive from `record` itself.
   */
  derived?: unknown;
  id?: string;
  receivedAt?: string;
}

/**
 * Filters combine with AND; omitted filters match everything.
 *
 * Time bounds are RFC 3339 date-times compared against the record's `received_at` (the server's
 * clock, which follows index order), as a half-open interval `since <= received_at < until`, so
 * consecutive windows never overlap. The client-claimed `occurred_at` is not filterable: it is
 * attacker-chosen and in no useful order.
 */
export interface EventQuery {
  /** `actor.id`, exact. */
  actor?: string;
  /**
   * `action`, exact; or a prefix when it ends in `*` (`document.*` matches `document.update`). A
   * backend MAY refuse a prefix standing for too many distinct actions (`index.invalid_query`; the
   * SQLite index: more than 256).
   */
  action?: string;
  /** Matches `target.id` or any `targets[].id`, exact. */
  target?: string;
  /** One of `success|failure|denied|error|unknown`. */
  outcome?: string;
  since?: string;
  until?: string;
  /**
   * Free text: whitespace-separated words, each matched as a phrase (case-insensitive) against the
   * event's action, actor, targets, outcome, source and metadata string/number values; all words
   * must match. No operators: `*`, quotes and `OR` are plain text.
   */
  q?: string;
  /** 1..1000, default 100. */
  limit?: number;
  /** Opaque, from a previous result's `nextCursor` of the same query. */
  cursor?: string;
  /** Index order of the results; default `asc`. */
  order?: 'asc' | 'desc';
  /**
   * Only entries with `fromIndex <= index < toIndex` (either bound optional; `from`/`to` of an
   * export). The search starts at the bound, so a narrow range of a long log costs as little as a
   * short log. Not a filter of the HTTP query route.
   */
  fromIndex?: number;
  toIndex?: number;
}

export interface IndexedEvent {
  index: number;
  /** The record's `id`. */
  id: string;
  /** The record's `received_at`, as written in the record. */
  receivedAt: string;
  /** Lowercase hex. */
  leafHash: string;
  /** The event object as accepted (the record's `event`). */
  event: unknown;
}

/** Where an event id sits in a log. */
export interface EntryRef {
  index: number;
  /** Lowercase hex. */
  leafHash: string;
}

export interface QueryResult {
  events: IndexedEvent[];
  /**
   * Where to continue, or `null` when the search reached the end of what the index covers.
   * A page MAY hold fewer than `limit` events (even none) with a non-null cursor: a backend bounds
   * the work of one call, so a rare match far away takes several calls, never one unbounded scan.
   * Cursors stay valid while appends continue (they name a position in index order).
   */
  nextCursor: string | null;
  /** The tree size the answer reflects: entries at or past it were not searched. */
  coveredSize: number;
}

/**
 * A search index backend. Methods MAY return plain values or promises; callers await either.
 * A backend MUST reject malformed input with an IndexError (never a TypeError), and MUST leave its
 * state unchanged when `add` fails.
 */
export interface SearchIndex {
  /**
   * Adds entries of one log, given in consecutive index order. Entries below `coveredSize` are
   * checked, not rewritten: the same leaf hash is a no-op (a retried batch is safe), a different one
   * fails with `index.conflict`. The first entry past the covered prefix MUST be at `coveredSize`
   * (else `index.not_contiguous`). All of one call is applied, or none of it.
   */
  add(log: string, entries: readonly IndexEntry[]): void | Promise<void>;
  /**
   * Optional, synchronous: what the index would derive from a record holding this event, computed
   * by the appending thread right after validation (so it sees the event exactly as canonicalized)
   * and handed back with the entry as `IndexEntry.derived`. For an index that derives search fields
   * from each record, this replaces parsing the record again. The event is plain JSON data.
   */
  deriveEvent?(event: Readonly<Record<string, unknown>>): unknown;
  query(log: string, q: EventQuery): QueryResult | Promise<QueryResult>;
  /** Number of leading entries of `log` the index covers (0 for a log it never saw). */
  coveredSize(log: string): number | Promise<number>;
  /**
   * The lowest indexed entry whose record `id` is `id`, if any (idempotency look-up). Only covered
   * entries are seen: the engine remembers ids of appends the index has not caught up with.
   */
  findById(log: string, id: string): EntryRef | undefined | Promise<EntryRef | undefined>;
  /**
   * Retention pruning: deletes every entry of `log` below `minimumIndex` (whole rows, full text
   * included), so no query, id look-up or check sees them again. If the index covered less, it now
   * covers `minimumIndex` (the entries below can no longer be read from the log to index them), so
   * `add` continues at `max(coveredSize, minimumIndex)`. A lower `minimumIndex` than before is a no-op.
   */
  pruneBefore(log: string, minimumIndex: number): void | Promise<void>;
  /** Forgets everything about `log`; afterwards `coveredSize(log)` is 0 and indexing restarts at 0. */
  reset(log: string): void | Promise<void>;
  /**
   * Checks the covered entries against the log: `leafHashAt(from, to)` returns the log's true leaf
   * hashes of `[from, to)` (fewer when the log is shorter). Resolves with the first index whose
   * stored leaf hash, stored record or derived fields disagree with the log, or `undefined`.
   */
  verifyAgainst(
    log: string,
    leafHashAt: (from: number, to: number) => Promise<Uint8Array[]>,
  ): Promise<number | undefined>;
  close(): void | Promise<void>;
}
