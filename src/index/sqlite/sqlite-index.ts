/**
 * The embedded search index on SQLite (better-sqlite3): the default backend of `SearchIndex`.
 *
 * One connection, owned by one process. Every `add` is one IMMEDIATE transaction, so a batch is
 * indexed whole or not at all; every query runs in one read transaction, so its events and its
 * `coveredSize` describe the same snapshot even while another connection writes.
 */
import Database from 'better-sqlite3';
import { bytesEqual } from '../../core/crypto.js';
import { toHex } from '../../core/encoding.js';
import {
  type EntryRef,
  type EventQuery,
  type IndexEntry,
  IndexError,
  type IndexedEvent,
  type QueryResult,
  type SearchIndex,
} from '../types.js';
import { purgeRange, purgeRetiredLogs } from './purge.js';
import { checkLogName, encodeCursor, type NormalizedQuery, normalizeQuery } from './query-input.js';
import { matchExpression, windowSql } from './query-plan.js';
import {
  checkEntry,
  derivedRecordFields,
  type EventFields,
  eventFields,
  extractRecordFields,
  parseRecord,
  storedEntryMatches,
} from './record-fields.js';
import { INDEX_LIMIT, K, MAX_LOG_ID, openSchema } from './schema.js';
import { type LogRow, prepareStatements, type Statements } from './statements.js';

export interface SqliteIndexOptions {
  /** Database file, or `':memory:'`. */
  path: string;
  /**
   * How long one query may keep searching before it returns what it found with a cursor (see
   * QueryResult.nextCursor); it bounds the time a query holds the event loop. Default 50 ms.
   */
  queryBudgetMs?: number;
  /** Entries in the first window a query searches; each next window is 4 times larger, up to 2^20. Default 2^16. */
  firstWindow?: number;
  /** Milliseconds on a monotonic clock, for the query budget. Default `performance.now`. */
  now?: () => number;
}

/** Entries per `leafHashAt` call in verifyAgainst. */
const VERIFY_CHUNK = 4096;
const MAX_WINDOW = 2 ** 20;
/** An action prefix may stand for at most this many distinct actions (one OR term each). */
const MAX_PREFIX_ACTIONS = 256;

export function createSqliteIndex(options: SqliteIndexOptions): SqliteIndex {
  return new SqliteIndex(options);
}

export class SqliteIndex implements SearchIndex {
  private readonly db: Database.Database;
  private readonly budgetMs: number;
  private readonly firstWindow: number;
  private readonly now: () => number;
  private closed = false;
  private purging: Promise<void> | undefined;
  private readonly windows = new Map<string, Database.Statement>();

  private readonly sql: Statements;
  private readonly addTx;
  private readonly queryTx;

  constructor(options: SqliteIndexOptions) {
    this.budgetMs = options.queryBudgetMs ?? 50;
    this.firstWindow = options.firstWindow ?? 2 ** 16;
    this.now = options.now ?? (() => performance.now());
    if (!(this.budgetMs >= 0)) throw new RangeError('queryBudgetMs must be >= 0');
    if (!Number.isSafeInteger(this.firstWindow) || this.firstWindow < 1) {
      throw new RangeError('firstWindow must be a positive integer');
    }
    const db = new Database(options.path);
    try {
      openSchema(db);
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
    this.sql = prepareStatements(db);
    this.addTx = db.transaction((log: string, entries: readonly IndexEntry[]) => this.addInTx(log, entries));
    this.queryTx = db.transaction((log: string, q: NormalizedQuery) => this.queryInTx(log, q));
  }

  add(log: string, entries: readonly IndexEntry[]): void {
    this.checkOpen();
    checkLogName(log);
    if (!Array.isArray(entries)) throw new IndexError('index.invalid_entry', 'entries must be an array');
    if (entries.length > 0) this.addTx.immediate(log, entries);
  }

  deriveEvent(event: Readonly<Record<string, unknown>>): EventFields {
    return eventFields(event);
  }

  private addInTx(log: string, entries: readonly IndexEntry[]): void {
    const state = this.sql.getLog.get(log) ?? this.createLog(log);
    const logId = state.log_id;
    let covered = state.covered;
    let monotonic = state.received_monotonic === 1;
    let last = state.last_received_at;
    const actions = new Set<string>();
    let expected: number | undefined;
    for (const entry of entries) {
      const { index, leafHash, record } = checkEntry(entry);
      if (expected !== undefined && index !== expected) {
        throw new IndexError('index.not_contiguous', 'entries are not in consecutive index order', {
          details: { index, expected },
        });
      }
      expected = index + 1;
      if (index < covered) {
        // Already indexed: a retry is fine, a different entry means the index or the log is wrong.
        const stored = this.sql.getLeaf.get(logId, index);
        if (stored === undefined || !bytesEqual(stored, leafHash)) {
          throw new IndexError('index.conflict', `entry ${index} is indexed with a different leaf hash`, {
            details: { index, indexed: stored && toHex(stored), given: toHex(leafHash) },
          });
        }
        continue;
      }
      if (index > covered) {
        throw new IndexError('index.not_contiguous', `entry ${index} would leave a gap after ${covered}`, {
          details: { index, expected: covered },
        });
      }
      if (index >= INDEX_LIMIT) throw new IndexError('index.capacity', 'entry index past 2^43');
      const f = derivedRecordFields(log, entry) ?? extractRecordFields(log, index, record);
      this.sql.insertEvent.run(logId, index, leafHash, f.id, f.receivedAt, record);
      this.sql.insertText.run(logId, index, f.keys, f.text);
      if (f.action !== null) actions.add(f.action);
      if (last !== null && f.receivedAt < last) monotonic = false;
      if (last === null || f.receivedAt > last) last = f.receivedAt;
      covered++;
    }
    for (const action of actions) this.sql.insertAction.run(logId, action);
    this.sql.updateLog.run(covered, monotonic ? 1 : 0, last, log);
  }

  /** Gives `log` a fresh log id (never used before, so no stale row can belong to it). */
  private createLog(log: string): LogRow {
    const logId = this.sql.takeLogId.get()!;
    if (logId > MAX_LOG_ID) throw new IndexError('index.capacity', 'no log id left; rebuild the index file');
    this.sql.insertLog.run(log, logId);
    return { log_id: logId, covered: 0, first: 0, received_monotonic: 1, last_received_at: null };
  }

  coveredSize(log: string): number {
    this.checkOpen();
    checkLogName(log);
    return this.sql.getLog.get(log)?.covered ?? 0;
  }

  findById(log: string, id: string): EntryRef | undefined {
    this.checkOpen();
    checkLogName(log);
    if (typeof id !== 'string') throw new IndexError('index.invalid_query', 'id must be a string');
    const state = this.sql.getLog.get(log);
    if (state === undefined || state.covered === 0) return undefined;
    if (state.covered <= state.first) return undefined;
    const row = this.sql.getById.get(id, state.log_id, state.first, state.log_id, state.covered - 1);
    return row && { index: row.idx, leafHash: toHex(row.leaf_hash) };
  }

  query(log: string, input: EventQuery): QueryResult {
    this.checkOpen();
    checkLogName(log);
    return this.queryTx(log, normalizeQuery(input));
  }

  private queryInTx(log: string, q: NormalizedQuery): QueryResult {
    const state = this.sql.getLog.get(log);
    const coveredSize = state?.covered ?? 0;
    const empty: QueryResult = { events: [], nextCursor: null, coveredSize };
    if (state === undefined || coveredSize === 0) return empty;
    const logId = state.log_id;
    const asc = q.order === 'asc';

    // Inclusive index bounds: the covered prefix, narrowed by the caller's index bounds, the cursor
    // and, when received_at follows index order, by the time bounds (binary search); else time is
    // checked per row.
    let from = Math.max(state.first, q.fromIndex ?? 0);
    let to = Math.min(coveredSize, q.toIndex ?? coveredSize) - 1;
    if (q.after !== undefined) {
      if (asc) from = Math.max(from, q.after + 1);
      else to = Math.min(to, q.after - 1);
    }
    const monotonic = state.received_monotonic === 1;
    if (monotonic && q.since !== undefined) {
      from = Math.max(from, this.firstAtOrAfter(logId, state.first, coveredSize, q.since));
    }
    if (monotonic && q.until !== undefined) {
      to = Math.min(to, this.firstAtOrAfter(logId, state.first, coveredSize, q.until) - 1);
    }
    if (from > to) return empty;

    let actions: string[] | undefined;
    if (q.action !== undefined && 'prefix' in q.action) {
      actions = this.actionsWithPrefix(logId, q.action.prefix);
      if (actions.length === 0) return empty;
    }
    const match = matchExpression(q, actions);
    const params: Record<string, string | number> = { log: logId };
    if (match !== undefined) params.match = match;
    const since = !monotonic && q.since !== undefined;
    const until = !monotonic && q.until !== undefined;
    if (since) params.since = q.since!;
    if (until) params.until = q.until!;
    const stmt = this.windowStatement(
      windowSql({ match: match !== undefined, since, until, order: q.order }),
    );

    // Search window after window in query order until the page is full (limit + 1 rows, to know
    // whether more follow), the range ends, or the time budget is spent.
    const deadline = this.now() + this.budgetMs;
    const matched: number[] = [];
    let nextCursor: string | null = null;
    let width = this.firstWindow;
    for (let pos = asc ? from : to; ; ) {
      const lo = asc ? pos : Math.max(from, pos - width + 1);
      const hi = asc ? Math.min(to, pos + width - 1) : pos;
      const need = q.limit + 1 - matched.length;
      matched.push(...(stmt.all({ ...params, from: lo, to: hi, need }) as number[]));
      if (matched.length > q.limit) {
        matched.length = q.limit;
        nextCursor = encodeCursor(matched[q.limit - 1]!, q.order);
        break;
      }
      if (asc ? hi >= to : lo <= from) break;
      if (this.now() >= deadline) {
        nextCursor = encodeCursor(asc ? hi : lo, q.order); // searched through here; more may follow
        break;
      }
      pos = asc ? hi + 1 : lo - 1;
      width = Math.max(width, Math.min(width * 4, MAX_WINDOW));
    }
    const events = matched.map((index) => this.readEvent(log, logId, index));
    return { events, nextCursor, coveredSize };
  }

  /** The least index in [first, covered] whose received_at is >= `ts`, for a log where received_at never decreases. */
  private firstAtOrAfter(logId: number, first: number, covered: number, ts: string): number {
    let lo = first;
    let hi = covered;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (this.sql.getReceivedAt.get(logId, mid)! < ts) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The distinct actions of the log starting with `prefix` (they sort contiguously from it). */
  private actionsWithPrefix(logId: number, prefix: string): string[] {
    const out: string[] = [];
    for (const action of this.sql.actionsFrom.iterate(logId, prefix)) {
      if (!action.startsWith(prefix)) break;
      if (out.push(action) > MAX_PREFIX_ACTIONS) {
        const message = `action prefix matches more than ${MAX_PREFIX_ACTIONS} actions`;
        throw new IndexError('index.invalid_query', message, { details: { field: 'action' } });
      }
    }
    return out;
  }

  private windowStatement(sql: string): Database.Statement {
    let stmt = this.windows.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql).pluck();
      this.windows.set(sql, stmt);
    }
    return stmt;
  }

  private readEvent(log: string, logId: number, index: number): IndexedEvent {
    const row = this.sql.getEntry.get(logId, index);
    if (row === undefined) {
      // The full text matched an entry the events table lacks: rows were deleted by hand.
      throw new IndexError(
        'index.conflict',
        `log ${log}: the search index matched entry ${index} but holds no row for it; the index disagrees with the log (check it with \`indelible reindex --check\`)`,
        { details: { log, index } },
      );
    }
    const { record, event } = parseRecord(log, index, row.record);
    return {
      index,
      id: record.id as string,
      receivedAt: record.received_at as string,
      leafHash: toHex(row.leaf_hash),
      event,
    };
  }

  async reset(log: string): Promise<void> {
    this.checkOpen();
    checkLogName(log);
    // Retiring the log id hides every row of it at once; deleting them is chunked (purge.ts) so a
    // large log never holds the event loop. A crash mid-way leaves rows of a retired id, which no
    // query can reach (ids are never reused) and the next reset deletes.
    this.db
      .transaction(() => {
        const state = this.sql.getLog.get(log);
        if (state === undefined) return;
        this.sql.retireLog.run(state.log_id, log);
        this.createLog(log);
      })
      .immediate();
    // Purges run one after another; each deletes every id retired by the time it starts.
    const run = (this.purging ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => purgeRetiredLogs(this.db, () => this.closed));
    this.purging = run;
    await run;
  }

  async pruneBefore(log: string, minimumIndex: number): Promise<void> {
    this.checkOpen();
    checkLogName(log);
    if (!Number.isSafeInteger(minimumIndex) || minimumIndex < 0 || minimumIndex >= INDEX_LIMIT) {
      throw new IndexError('index.invalid_query', 'minimumIndex must be an entry index', {
        details: { field: 'minimumIndex' },
      });
    }
    const state = this.sql.getLog.get(log) ?? this.db.transaction(() => this.createLog(log)).immediate();
    // `first` moves before any row goes, so no query sees a half-deleted prefix; the rows are then
    // deleted in chunks (purge.ts) like a reset's. A purge cut short (a crash, a close) left rows
    // below `first`, which the next call (at every open, see Indexer.catchUp) finds and deletes.
    const first = Math.max(minimumIndex, state.first);
    if (minimumIndex > state.first) {
      this.db
        .prepare('UPDATE logs SET first = ?, covered = max(covered, ?) WHERE name = ?')
        .run(minimumIndex, minimumIndex, log);
    }
    const anyBelow = this.db.prepare(`SELECT 1 FROM events WHERE k BETWEEN ${K} AND ${K} LIMIT 1`);
    if (anyBelow.get(state.log_id, 0, state.log_id, first - 1) !== undefined) {
      await purgeRange(this.db, state.log_id, log, 0, first, () => this.closed);
    }
  }

  async verifyAgainst(
    log: string,
    leafHashAt: (from: number, to: number) => Promise<Uint8Array[]>,
  ): Promise<number | undefined> {
    this.checkOpen();
    checkLogName(log);
    for (let from = this.sql.getLog.get(log)?.first ?? 0; ; from += VERIFY_CHUNK) {
      const covered = this.coveredSize(log);
      if (from >= covered) return undefined;
      const truth = await leafHashAt(from, Math.min(covered, from + VERIFY_CHUNK));
      this.checkOpen();
      // Re-read after the await: a reset may have replaced the log's rows meanwhile.
      const state = this.sql.getLog.get(log);
      if (state === undefined || from >= state.covered) return undefined;
      const end = Math.min(from + VERIFY_CHUNK, state.covered);
      const rows = this.sql.getRange.all(state.log_id, from, state.log_id, end - 1);
      for (let index = from; index < end; index++) {
        if (!storedEntryMatches(log, index, rows[index - from], truth[index - from])) return index;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db.pragma('optimize');
    } finally {
      this.db.close();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new IndexError('index.closed', 'the index is closed');
  }
}
