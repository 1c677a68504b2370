/**
 * Validation of everything a caller hands the index: log names, queries, cursors, timestamps.
 *
 * Query fields arrive from HTTP query strings, i.e. from the attacker: every field is type-checked
 * and bounded here, and anything malformed becomes an IndexError with `details.field`, never a
 * TypeError or an SQL error. Nothing in this file depends on SQLite; a PostgreSQL backend reuses it.
 */
import { DEFAULT_QUERY_LIMIT, type EventQuery, IndexError, MAX_QUERY_LIMIT } from '../types.js';

/** DESIGN.md §1 log names, plus the reserved `_`-prefixed system logs (`_audit`), which are indexed too. */
const LOG_NAME = /^[a-z0-9_][a-z0-9._-]{0,62}$/;

export function checkLogName(log: unknown): asserts log is string {
  if (typeof log !== 'string' || !LOG_NAME.test(log)) {
    throw new IndexError('index.invalid_log', 'log name must match ^[a-z0-9_][a-z0-9._-]{0,62}$');
  }
}

const OUTCOMES: ReadonlySet<string> = new Set(['success', 'failure', 'denied', 'error', 'unknown']);
const MAX_FIELD_CHARS = 1024;
const MAX_Q_CHARS = 1024;
const MAX_Q_WORDS = 16;
/** A lone UTF-16 surrogate cannot be stored or compared as UTF-8; such a string cannot match anything. */
const LONE_SURROGATE = /\p{Surrogate}/u;
/** Characters the unicode61 tokenizer keeps in tokens; a word without any yields an empty phrase. */
const TOKEN_CHAR = /[\p{L}\p{N}\p{Co}]/u;
/**
 * What separates the words of `q`: white space and control characters, which the tokenizer never
 * keeps in a token either. A NUL must never reach the FTS5 expression: SQLite ends the string there.
 */
const WORD_SEPARATOR = /[\s\p{Cc}]+/u;

export type ActionFilter = { exact: string } | { prefix: string };

/** A validated query: timestamps in the canonical form of `normalizeTimestamp`, defaults applied. */
export interface NormalizedQuery {
  actor: string | undefined;
  action: ActionFilter | undefined;
  target: string | undefined;
  outcome: string | undefined;
  since: string | undefined;
  until: string | undefined;
  /** Free-text words, each to be matched as one phrase. */
  words: string[] | undefined;
  limit: number;
  order: 'asc' | 'desc';
  /** Cursor position: the search continues strictly after (asc) or before (desc) this index. */
  after: number | undefined;
  /** Index bounds, `fromIndex <= index < toIndex`. */
  fromIndex: number | undefined;
  toIndex: number | undefined;
}

function invalid(field: string, message: string): IndexError {
  return new IndexError('index.invalid_query', message, { details: { field } });
}

/**
 * Characters as the event limits (core/event.ts) and the HTTP schemas (Ajv) count them: code points,
 * not UTF-16 code units, so every id an event may hold can be searched for.
 */
function longerThan(s: string, max: number): boolean {
  if (s.length <= max) return false;
  if (s.length > 2 * max) return true;
  let n = 0;
  for (const _ of s) n++;
  return n > max;
}

function optionalString(q: Record<string, unknown>, field: string): string | undefined {
  const v = q[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || longerThan(v, MAX_FIELD_CHARS) || LONE_SURROGATE.test(v)) {
    throw invalid(field, `${field} must be a non-empty string of at most ${MAX_FIELD_CHARS} characters`);
  }
  return v;
}

export function normalizeQuery(input: EventQuery): NormalizedQuery {
  if (typeof input !== 'object' || input === null) throw invalid('query', 'query must be an object');
  const q = input as Record<string, unknown>;

  const actionText = optionalString(q, 'action');
  let action: ActionFilter | undefined;
  if (actionText?.endsWith('*')) {
    const prefix = actionText.slice(0, -1);
    action = prefix === '' ? undefined : { prefix };
  } else if (actionText !== undefined) {
    action = { exact: actionText };
  }

  const outcome = optionalString(q, 'outcome');
  if (outcome !== undefined && !OUTCOMES.has(outcome)) {
    throw invalid('outcome', 'outcome must be one of success, failure, denied, error, unknown');
  }

  const since = optionalTimestamp(q, 'since');
  const until = optionalTimestamp(q, 'until');
  if (since !== undefined && until !== undefined && since > until) {
    throw invalid('until', 'until is before since');
  }

  let limit = DEFAULT_QUERY_LIMIT;
  if (q.limit !== undefined) {
    if (!Number.isSafeInteger(q.limit) || (q.limit as number) < 1 || (q.limit as number) > MAX_QUERY_LIMIT) {
      throw invalid('limit', `limit must be an integer from 1 to ${MAX_QUERY_LIMIT}`);
    }
    limit = q.limit as number;
  }

  const order = q.order ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw invalid('order', 'order must be asc or desc');

  const fromIndex = optionalIndex(q, 'fromIndex');
  const toIndex = optionalIndex(q, 'toIndex');

  const cursor = q.cursor;
  if (cursor !== undefined && typeof cursor !== 'string') {
    throw new IndexError('index.invalid_cursor', 'cursor must be a string');
  }

  return {
    actor: optionalString(q, 'actor'),
    action,
    target: optionalString(q, 'target'),
    outcome,
    since,
    until,
    words: freeTextWords(q.q),
    limit,
    order,
    after: cursor === undefined ? undefined : decodeCursor(cursor, order),
    fromIndex,
    toIndex,
  };
}

function optionalIndex(q: Record<string, unknown>, field: string): number | undefined {
  const v = q[field];
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw invalid(field, `${field} must be an integer ≥ 0`);
  return v as number;
}

function freeTextWords(q: unknown): string[] | undefined {
  if (q === undefined) return undefined;
  if (typeof q !== 'string' || longerThan(q, MAX_Q_CHARS) || LONE_SURROGATE.test(q)) {
    throw invalid('q', `q must be a string of at most ${MAX_Q_CHARS} characters`);
  }
  const words = q.split(WORD_SEPARATOR).filter((w) => TOKEN_CHAR.test(w));
  if (words.length === 0) throw invalid('q', 'q has no word to search for');
  if (words.length > MAX_Q_WORDS) throw invalid('q', `q has more than ${MAX_Q_WORDS} words`);
  return words;
}

function optionalTimestamp(q: Record<string, unknown>, field: string): string | undefined {
  const v = q[field];
  if (v === undefined) return undefined;
  const t = typeof v === 'string' ? normalizeTimestamp(v) : undefined;
  if (t === undefined) {
    throw invalid(field, `${field} must be an RFC 3339 date-time, e.g. 2026-11-27T07:00:00Z`);
  }
  return t;
}

// RFC 3339 §5.6 date-time (case-insensitive T and Z), at most nanosecond precision.
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * The instant of an RFC 3339 date-time as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC, nine fraction
 * digits), whose string order is time order; `undefined` if `text` is not a valid date-time or
 * falls outside years 0000–9999 once converted to UTC. A leap second (`:60`) counts as the first
 * instant of the next minute.
 */
export function normalizeTimestamp(text: string): string | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1];
  if (daysInMonth === undefined || day < 1 || day > daysInMonth) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const fraction = (m[7] ?? '').padEnd(9, '0');
  // Fast path for UTC without a leap second (every server-made received_at): no date arithmetic.
  if (m[8] === undefined && second < 60) {
    return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${fraction}Z`;
  }
  let offsetMinutes = 0;
  if (m[8] !== undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[8] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // setUTCFullYear, unlike Date.UTC, does not map years 0–99 to 1900–1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute - offsetMinutes, second, 0);
  const y = d.getUTCFullYear();
  if (y < 0 || y > 9999) return undefined;
  return `${d.toISOString().slice(0, 19)}.${fraction}Z`;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

// A cursor is base64url("1:" order ":" index); the version digit leaves room for other encodings.
const CURSOR_TEXT = /^1:([ad]):(0|[1-9][0-9]{0,15})$/;
const CURSOR_B64 = /^[A-Za-z0-9_-]{1,64}$/;

/** The opaque cursor for "continue after `index`" in `order`. */
export function encodeCursor(index: number, order: 'asc' | 'desc'): string {
  return Buffer.from(`1:${order === 'asc' ? 'a' : 'd'}:${index}`, 'utf8').toString('base64url');
}

/** The position a cursor names; `index.invalid_cursor` unless `encodeCursor(…, order)` made exactly this text. */
export function decodeCursor(cursor: string, order: 'asc' | 'desc'): number {
  const fail = () => new IndexError('index.invalid_cursor', 'cursor is not valid for this query');
  if (!CURSOR_B64.test(cursor)) throw fail();
  const text = Buffer.from(cursor, 'base64url').toString('latin1');
  const m = CURSOR_TEXT.exec(text);
  if (m === null || (m[1] === 'a') !== (order === 'asc')) throw fail();
  const index = Number(m[2]);
  // Re-encoding rejects non-canonical base64url (stray bits in the last character).
  if (!Number.isSafeInteger(index) || encodeCursor(index, order) !== cursor) throw fail();
  return index;
}
