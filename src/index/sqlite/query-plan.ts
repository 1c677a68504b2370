/**
 * Turns a validated query into SQL over one window of a log's k range.
 *
 * Every filter but time becomes one FTS5 expression: exact filters are key tokens in the `keys`
 * column (record-fields.ts `keyToken`), free-text words are phrases in the `text` column, all ANDed.
 * FTS5 walks the doclists of those tokens in rowid (= index) order and merges them, so results come
 * out in index order and the statement stops after `@need` rows. Time bounds narrow the k range
 * itself when the log's received_at is monotonic; otherwise they are checked row by row against
 * the events table.
 *
 * The caller runs the statement over windows of the range, not the whole range at once:
 * better-sqlite3 is synchronous, so one call holds the event loop, and a conjunction of frequent
 * tokens that rarely co-occur costs time in proportion to the span searched (DESIGN.md §5,
 * invariant 5: no request may wedge the server).
 */
import type { NormalizedQuery } from './query-input.js';
import { keyToken } from './record-fields.js';
import { INDEX_BITS, indexOf } from './schema.js';

const LO = `((@log << ${INDEX_BITS}) | @from)`;
const HI = `((@log << ${INDEX_BITS}) | @to)`;

/** An FTS5 string: always quoted (inner quotes doubled), so user text is never FTS5 syntax. */
function quote(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

/**
 * The FTS5 expression for `q`, or undefined when no filter needs the full-text table.
 * `actions` is the expansion of an action prefix into the log's distinct matching actions
 * (non-empty; the caller answers an empty expansion with no results).
 */
export function matchExpression(
  q: NormalizedQuery,
  actions: readonly string[] | undefined,
): string | undefined {
  const keys: string[] = [];
  if (q.actor !== undefined) keys.push(quote(keyToken('actor', q.actor)));
  if (q.action !== undefined && 'exact' in q.action) keys.push(quote(keyToken('action', q.action.exact)));
  if (actions !== undefined) keys.push(`(${actions.map((a) => quote(keyToken('action', a))).join(' OR ')})`);
  if (q.outcome !== undefined) keys.push(quote(keyToken('outcome', q.outcome)));
  if (q.target !== undefined) keys.push(quote(keyToken('target', q.target)));
  const parts: string[] = [];
  if (keys.length > 0) parts.push(`{keys} : (${keys.join(' AND ')})`);
  // Each word is one phrase: the tokenizer splits `alice@example.com` into a phrase of three tokens.
  if (q.words !== undefined) parts.push(`{text} : (${q.words.map(quote).join(' AND ')})`);
  return parts.length === 0 ? undefined : parts.join(' AND ');
}

/**
 * SQL returning the indices (one column, `.pluck()`) of matching entries with k in
 * `[(@log, @from), (@log, @to)]`, in `order`, at most `@need` of them. Parameters: `log`, `from`,
 * `to`, `need`, and `match`, `since`, `until` when used.
 */
export function windowSql(opts: {
  match: boolean;
  since: boolean;
  until: boolean;
  order: 'asc' | 'desc';
}): string {
  const dir = opts.order === 'asc' ? 'ASC' : 'DESC';
  const time: string[] = [];
  if (opts.since) time.push('e.received_at >= @since');
  if (opts.until) time.push('e.received_at < @until');
  const timeSql = time.map((t) => ` AND ${t}`).join('');
  if (!opts.match) {
    return `SELECT ${indexOf('e.k')} FROM events e WHERE e.k BETWEEN ${LO} AND ${HI}${timeSql} ORDER BY e.k ${dir} LIMIT @need`;
  }
  // CROSS JOIN keeps the full-text table outermost, so rows stay in rowid order with no sort.
  const join = time.length > 0 ? ' CROSS JOIN events e ON e.k = events_fts.rowid' : '';
  return (
    `SELECT ${indexOf('events_fts.rowid')} FROM events_fts${join} WHERE events_fts MATCH @match ` +
    `AND events_fts.rowid BETWEEN ${LO} AND ${HI}${timeSql} ORDER BY events_fts.rowid ${dir} LIMIT @need`
  );
}
