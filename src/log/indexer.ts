/**
 * Feeds durable records into the derived search index, off the ack path, and answers "is event id X
 * already in log L?" exactly: ids claimed by appends still in flight or not yet indexed are held in
 * memory until the index has them, and `catchUp` closes any gap a crash left before a log serves.
 */
import { hashLeaf } from '../core/merkle.js';
import { IndexError, type SearchIndex } from '../index/types.js';
import { LogError } from './errors.js';
import { type Log, SequencedRecord } from './log.js';
import type { Logger } from './types.js';

/** Entries per index transaction, at most. */
const CHUNK = 8192;
/**
 * Records held in memory for the index, all logs together (so memory does not grow with the number
 * of logs ingesting at once). When the index falls further behind (sustained ingest faster than
 * full-text indexing), or the held records pass DEFAULT_INDEX_MEMORY_BYTES, a log's later entries
 * keep only their id and entry number here and their records are read back from the log when the
 * index reaches them: memory grows by an id per waiting entry, not a record. Once a log has more
 * than a transaction's worth waiting with such entries among them, the engine refuses its appends
 * until the index has taken them all (backedUp; log.pushback from Engine.append), so under
 * sustained overload the feed stays on the cheap path instead of settling on the expensive one.
 */
export const DEFAULT_INDEX_MEMORY_ENTRIES = 4 * CHUNK;
/** The same bound in bytes: held records (up to 64 KiB each, typically ~600 B) and their derived index fields. */
export const DEFAULT_INDEX_MEMORY_BYTES = 32 * 1024 * 1024;
/**
 * How long a small queue waits for company before it is indexed. Each index transaction has a fixed
 * cost (a commit, and a new full-text segment to merge later): feeding it the 30 entries of one
 * commit at a time under single-event load costs about twice the CPU per entry of feeding it
 * hundreds. A full chunk goes at once; queries see new entries at most this much later.
 */
export const DEFAULT_INDEX_DELAY_MS = 50;
/** Failures in a row after which a closing indexer gives up (see close), and drain() rejects. */
const GIVE_UP_AFTER = 3;

/**
 * Memory a held record stands for: its bytes, and the strings of the fields the index derived from
 * its event (SearchIndex.deriveEvent), counted at 2 bytes per UTF-16 unit.
 */
function heldSize(r: SequencedRecord): number {
  let size = r.bytes.length;
  const d = r.derived;
  if (typeof d === 'object' && d !== null) {
    for (const v of Object.values(d)) if (typeof v === 'string') size += 2 * v.length;
  }
  return size;
}

interface Claim {
  entries: Promise<ReadonlyArray<{ index: number }>>;
  at: number;
}

/** Reads records `[from, to)` of a log (Log.readRecords), and its minimum index. */
export interface RecordSource {
  readRecords(from: number, to: number, options?: { cache?: boolean }): Promise<Uint8Array[]>;
  readonly minimumIndex: number;
}

/**
 * What a log still has to index, in index order: `held` (records in memory), then `spilled` (ids
 * only, of entries `spillFrom …`; their records are read back from the log).
 */
interface Queue {
  held: SequencedRecord[];
  spilled: string[];
  spillFrom: number;
  /**
   * Appends to the log wait (backedUp) from the moment more than a transaction's worth is waiting
   * with spilled entries among it until no spilled entry is left: entries let in earlier would be
   * spilled too (spilling lasts while any entry is), and the log would never get back to the cheap path.
   */
  backedUp: boolean;
  /** One past the last entry enqueued (what a drain() waits for). */
  end: number;
}

/** The first entry of `q` still waiting for the index (Infinity: none). */
function nextWaiting(q: Queue): number {
  if (q.held.length > 0) return q.held[0]!.index;
  return q.spilled.length > 0 ? q.spillFrom : Number.POSITIVE_INFINITY;
}

export class Indexer {
  private readonly queues = new Map<string, Queue>();
  private readonly sources = new Map<string, RecordSource>();
  // Event id → its entry, for ids not yet in the index: a Claim while the append is in flight, the
  // entry index once it is durable (so a long index lag holds a number per id, not the batch's acks).
  private readonly claims = new Map<string, Map<string, Claim | number>>();
  private scheduled: Promise<void> | undefined;
  // A timer that starts the next flush at `at` (performance.now() time), with the function that starts it at once.
  private delayed: { timer: NodeJS.Timeout; start: () => void; at: number } | undefined;
  // Logs whose last index call failed: their failures in a row, and when (performance.now()) they
  // may be tried again. close() gives each GIVE_UP_AFTER more attempts, then leaves it in `givenUp`.
  // Until then a flush passes them by (other logs are indexed as usual) and no timer waits for them
  // unless nothing else is waiting.
  private readonly backoff = new Map<string, { failures: number; retryAt: number }>();
  private readonly givenUp = new Set<string>();
  private queued = 0;
  // Records held in memory across every queue, and their bytes (heldSize): the memory bounds.
  private held = 0;
  private heldBytes = 0;
  private lastError: unknown;
  // Told of every index call (its log, and its error if it failed) and, with no log, of the end of
  // every flush: drain() counts a log's failures in a row with them, and looks again whether it is done.
  private readonly outcomes = new Set<(log?: string, error?: unknown) => void>();
  // Set by close(): each log stops being retried after GIVE_UP_AFTER failures in a row.
  private stopping = false;
  /** Told of every failed index call after it is logged (Engine.observeIndexFailures). */
  onFailure: ((log: string, error: unknown) => void) | undefined;

  constructor(
    private readonly index: SearchIndex,
    private readonly logger: Logger,
    private readonly delayMs = DEFAULT_INDEX_DELAY_MS,
    private readonly memoryEntries = DEFAULT_INDEX_MEMORY_ENTRIES,
    private readonly memoryBytes = DEFAULT_INDEX_MEMORY_BYTES,
  ) {}

  /** Entries of `log` waiting to be indexed. */
  lag(log: string): number {
    const q = this.queues.get(log);
    return q === undefined ? 0 : q.held.length + q.spilled.length;
  }

  /**
   * Entries of `log` waiting with their id only (the memory budget was full when they came), whose
   * records must be read back from the log and parsed again: about twice the index's work per entry.
   */
  spilled(log: string): number {
    return this.queues.get(log)?.spilled.length ?? 0;
  }

  /**
   * Whether appends to `log` should wait for the index (Engine.append answers `log.pushback`): once
   * it has entries kept as ids only and more than one index transaction's worth waiting, until the
   * index has taken every such entry. A log with a few such entries only because other logs filled
   * the shared budget is not held back.
   */
  backedUp(log: string): boolean {
    return this.queues.get(log)?.backedUp === true;
  }

  /** Where records of `log` that were not kept in memory are read back from. */
  attach(log: string, source: RecordSource): void {
    this.sources.set(log, source);
  }

  /** The index of the entry holding event id `id`, if the log has it (or an in-flight append claims it). */
  findById(log: string, id: string): Promise<number> | number | undefined {
    const claimed = this.claims.get(log)?.get(id);
    if (typeof claimed === 'number') return claimed;
    if (claimed) return claimed.entries.then((e) => e[claimed.at]!.index);
    // Checked and claimed in one synchronous step so two concurrent appends of one id cannot both
    // miss it; the embedded SQLite index answers synchronously. An asynchronous index (PostgreSQL,
    // multi-node) needs the claim to move into the database instead.
    const found = this.index.findById(log, id);
    if (found instanceof Promise)
      throw new Error('Indexer.findById needs a synchronous SearchIndex.findById');
    return found?.index;
  }

  /**
   * Records that an append in flight will hold `ids[i]` at `entries[i]` (one shared promise per
   * batch, no per-event allocation). If the append fails, the claims go away with it.
   */
  claimBatch(log: string, ids: readonly string[], entries: Promise<ReadonlyArray<{ index: number }>>): void {
    const m = this.claims.get(log) ?? new Map<string, Claim | number>();
    this.claims.set(log, m);
    for (let at = 0; at < ids.length; at++) m.set(ids[at]!, { entries, at });
    entries.catch(() => {
      for (const id of ids) {
        const c = m.get(id);
        if (typeof c === 'object' && c.entries === entries) m.delete(id);
      }
    });
  }

  enqueue(log: string, records: readonly SequencedRecord[]): void {
    if (records.length === 0) return;
    const m = this.claims.get(log);
    if (m) for (const r of records) if (m.has(r.id)) m.set(r.id, r.index);
    let q = this.queues.get(log);
    if (q === undefined) {
      q = { held: [], spilled: [], spillFrom: 0, backedUp: false, end: 0 };
      this.queues.set(log, q);
    }
    let bytes = 0;
    for (const r of records) bytes += heldSize(r);
    // Once anything is spilled, later entries are too (index order); else hold while there is room.
    const spill =
      q.spilled.length > 0 ||
      ((this.held + records.length > this.memoryEntries || this.heldBytes + bytes > this.memoryBytes) &&
        this.sources.has(log));
    if (spill) {
      if (q.spilled.length === 0) q.spillFrom = records[0]!.index;
      for (const r of records) q.spilled.push(r.id);
      if (q.held.length + q.spilled.length > Math.min(CHUNK, this.memoryEntries)) q.backedUp = true;
    } else {
      for (const r of records) q.held.push(r);
      this.held += records.length;
      this.heldBytes += bytes;
    }
    q.end = records[records.length - 1]!.index + 1;
    this.queued += records.length;
    this.schedule();
  }

  /**
   * Makes sure a flush starts when there is work it can do: at once when a chunk is ready (or
   * `now`), else after `delayMs`; for logs in back-off only, when the first of them may retry. A
   * flush already running picks up new entries itself (and schedules the next when it ends).
   */
  private schedule(now = false): void {
    const wait = this.waitForWork(now);
    if (wait === undefined) return;
    const at = performance.now() + wait;
    if (this.delayed) {
      if (this.delayed.at <= at) return;
      clearTimeout(this.delayed.timer);
      if (wait === 0) this.delayed.start();
      else {
        this.delayed.timer = setTimeout(this.delayed.start, wait);
        this.delayed.at = at;
      }
      return;
    }
    if (this.scheduled) return;
    this.scheduled = new Promise<void>((resolve) => {
      const start = () => {
        this.delayed = undefined;
        setImmediate(resolve);
      };
      if (wait === 0) start();
      else this.delayed = { timer: setTimeout(start, wait), start, at };
    }).then(() => this.flush());
  }

  /**
   * Milliseconds until a flush has work (undefined: none it may do). Entries of logs in back-off
   * count only from their retry time, and those of logs close() gave up on not at all.
   */
  private waitForWork(now: boolean): number | undefined {
    if (this.queued === 0) return undefined;
    let ready = this.queued;
    let retryIn = Number.POSITIVE_INFINITY;
    for (const log of this.givenUp) ready -= this.lag(log);
    if (this.backoff.size > 0) {
      const t = performance.now();
      for (const [log, b] of this.backoff) {
        const waiting = this.lag(log);
        if (waiting === 0 || b.retryAt <= t || this.givenUp.has(log)) continue;
        ready -= waiting;
        // A millisecond more: timers may fire up to one early, which would find nothing to retry.
        retryIn = Math.min(retryIn, Math.ceil(b.retryAt - t) + 1);
      }
    }
    if (ready <= 0) return retryIn === Number.POSITIVE_INFINITY ? undefined : retryIn;
    return now || ready >= CHUNK || this.delayMs <= 0 ? 0 : Math.min(this.delayMs, retryIn);
  }

  private async flush(): Promise<void> {
    try {
      // One chunk per log per round, so a log whose appends keep its queue full cannot hold back
      // the index of every other log (the `_audit` log among them). A log whose chunk failed sits
      // out its back-off (100 ms per failure in a row, at most 5 s) without holding up the others,
      // then takes its turn again, however busy the others keep the flush; when only such logs
      // are left, the flush ends and schedule() times the next one for the first retry.
      for (let progressed = true; progressed; ) {
        progressed = false;
        for (const [log, q] of this.queues) {
          if (q.held.length === 0 && q.spilled.length === 0) continue;
          const b = this.backoff.get(log);
          if ((b !== undefined && b.retryAt > performance.now()) || this.givenUp.has(log)) continue;
          let chunk: SequencedRecord[];
          let ids: string[];
          try {
            ({ chunk, ids } = q.held.length > 0 ? this.heldChunk(q) : await this.spilledChunk(log, q));
            if (chunk.length > 0) await this.index.add(log, chunk);
          } catch (err) {
            this.lastError = err;
            const failures = (b?.failures ?? 0) + 1;
            const from = q.held.length > 0 ? q.held[0]!.index : q.spillFrom;
            for (const told of this.outcomes) told(log, err ?? new Error('index call failed'));
            if (this.stopping && failures >= GIVE_UP_AFTER) {
              // Closing: what is durable stays in the log, and catchUp indexes it at the next open.
              // The other logs are still indexed.
              this.givenUp.add(log);
              this.logger.error(
                { err, log, from },
                'indexing failed at close; the index catches up at the next open',
              );
              continue;
            }
            this.logger.error({ err, log, from }, 'indexing failed; will retry');
            try {
              this.onFailure?.(log, err);
            } catch (observerErr) {
              // An observer that throws must not stop the feed (nor escape as an unhandled rejection).
              this.logger.error({ err: observerErr }, 'the index failure observer threw');
            }
            // One log whose records cannot be indexed, say a damaged bundle read back for a
            // spilled entry, must not slow the index of every other log: it waits alone.
            this.backoff.set(log, { failures, retryAt: performance.now() + Math.min(5000, 100 * failures) });
            continue;
          }
          if (b !== undefined) this.backoff.delete(log);
          if (q.held.length > 0) {
            let freed = 0;
            for (const r of chunk) freed += heldSize(r);
            this.heldBytes -= freed;
            this.held -= ids.length;
            q.held.splice(0, ids.length);
          } else {
            q.spilled.splice(0, ids.length);
            q.spillFrom += ids.length;
            if (q.spilled.length === 0) q.backedUp = false;
          }
          this.queued -= ids.length;
          const m = this.claims.get(log);
          if (m) for (const id of ids) m.delete(id);
          for (const told of this.outcomes) told(log);
          progressed = true;
          // Yield between chunks so indexing never monopolises the event loop.
          await new Promise((r) => setImmediate(r));
        }
      }
    } finally {
      this.scheduled = undefined;
      if (this.queued > 0) this.schedule();
      for (const told of this.outcomes) told();
    }
  }

  /**
   * Indexes what is queued, then stops. A log in back-off is retried at once, and one that fails
   * GIVE_UP_AFTER times in a row from here is given up (an index that cannot take writes must not
   * hold a shutdown forever; its entries wait in the log for the next open's catchUp) while the
   * other logs are still indexed. A drain() only stops waiting and leaves the feed retrying.
   */
  async close(): Promise<void> {
    this.stopping = true;
    for (const b of this.backoff.values()) {
      b.failures = 0;
      b.retryAt = 0;
    }
    while (this.scheduled) {
      this.schedule(true);
      await this.scheduled;
    }
  }

  private heldChunk(q: Queue): { chunk: SequencedRecord[]; ids: string[] } {
    const chunk = q.held.slice(0, CHUNK);
    return { chunk, ids: chunk.map((r) => r.id) };
  }

  /** The next spilled entries, read back from the log (none for entries pruned meanwhile). */
  private async spilledChunk(log: string, q: Queue): Promise<{ chunk: SequencedRecord[]; ids: string[] }> {
    const source = this.sources.get(log);
    if (source === undefined) throw new Error(`no record source attached for log ${log}`);
    const ids = q.spilled.slice(0, CHUNK);
    const from = Math.max(q.spillFrom, source.minimumIndex);
    const to = q.spillFrom + ids.length;
    // Entries pruned meanwhile are gone from the log; the index must learn the new start first.
    if (from > q.spillFrom) await this.index.pruneBefore(log, from);
    if (from >= to) return { chunk: [], ids };
    const records = await source.readRecords(from, to, { cache: false });
    const skip = from - q.spillFrom;
    const chunk = records.map(
      (bytes, i) => new SequencedRecord(from + i, ids[skip + i]!, hashLeaf(bytes), bytes),
    );
    return { chunk, ids };
  }

  /**
   * Resolves when every entry of `log` (of every log, without one) enqueued so far is indexed,
   * without waiting out the delay and however busy other logs keep the feed. Rejects with
   * `index.unavailable` once a log it waits for has failed `maxFailures` times in a row while it
   * waited (whatever other logs do meanwhile); the feed itself keeps retrying in the background
   * (nothing is dropped), so a later drain may succeed. After close() gave up on a log it waits
   * for, it rejects at once: what is left waits for the next open.
   */
  async drain(log?: string, maxFailures = GIVE_UP_AFTER): Promise<void> {
    // Each log waited for, and the entry it must get past.
    const targets = new Map<string, number>();
    for (const [name, q] of this.queues) {
      if ((log === undefined || name === log) && nextWaiting(q) < q.end) targets.set(name, q.end);
    }
    // Outcomes of index calls since the last look: the log, and the error if the call failed.
    const seen: Array<{ log: string; error: unknown }> = [];
    let wake: (() => void) | undefined;
    let flushEnded = false;
    // Registered once for the whole wait, so no outcome between two checks is missed.
    const listener = (name?: string, error?: unknown) => {
      if (name === undefined) flushEnded = true;
      else seen.push({ log: name, error });
      wake?.();
    };
    this.outcomes.add(listener);
    try {
      const streaks = new Map<string, number>();
      for (;;) {
        for (const { log: name, error } of seen.splice(0)) {
          if (!targets.has(name)) continue;
          const streak = error === undefined ? 0 : (streaks.get(name) ?? 0) + 1;
          streaks.set(name, streak);
          if (streak >= maxFailures) {
            throw new IndexError(
              'index.unavailable',
              `the search index failed ${streak} times in a row for log ${name}; its entries wait in the feed and are retried`,
              { cause: error, details: { log: name, failures: streak } },
            );
          }
        }
        for (const [name, end] of targets) {
          const q = this.queues.get(name);
          if (q === undefined || nextWaiting(q) >= end) targets.delete(name);
        }
        if (targets.size === 0) return;
        if (this.stopping && this.scheduled === undefined) {
          const waiting = [...targets.keys()].reduce((n, name) => n + this.lag(name), 0);
          throw new IndexError(
            'index.unavailable',
            `the search index feed stopped with ${waiting} entries waiting; they are indexed at the next open`,
            { cause: this.lastError, details: { waiting } },
          );
        }
        this.schedule(true);
        if (seen.length === 0 && !flushEnded) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
        flushEnded = false;
      }
    } finally {
      this.outcomes.delete(listener);
    }
  }

  /**
   * Indexes entries the index is missing (after a crash, or a fresh or rebuilt index), reading them
   * from the log. An index that claims more than the log holds is evidence that the log lost
   * entries it had made durable (entries are indexed only then): refused with `log.storage_behind`,
   * or, with `rebuildAhead` (a deliberate `indelible reindex`), reset and rebuilt.
   */
  async catchUp(
    name: string,
    log: Log,
    onProgress?: (done: number, total: number) => void,
    opts: { rebuildAhead?: boolean } = {},
  ): Promise<void> {
    let covered = await this.index.coveredSize(name);
    if (covered > log.size) {
      if (!opts.rebuildAhead) {
        throw new LogError(
          'log.storage_behind',
          `log ${name}: the search index covers ${covered} entries but the log holds only ${log.size}: the log lost entries it had acknowledged (restored from an older copy than index.sqlite? a cut journal?), refusing to start; to keep the log as it is, rebuild its index with \`indelible reindex --log ${name}\``,
          { details: { log: name, indexCovered: covered, size: log.size, object: 'index.sqlite' } },
        );
      }
      this.logger.warn({ log: name, covered, size: log.size }, 'index is ahead of the log; rebuilding it');
      await this.index.reset(name);
      covered = 0;
    }
    // Entries below the minimum index were pruned: they can no longer be read, nor be indexed.
    if (log.minimumIndex > 0) {
      await this.index.pruneBefore(name, log.minimumIndex);
      covered = Math.max(covered, log.minimumIndex);
    }
    for (let from = covered; from < log.size; from += CHUNK) {
      const to = Math.min(log.size, from + CHUNK);
      const records = await log.readRecords(from, to, { cache: false });
      const decoder = new TextDecoder();
      await this.index.add(
        name,
        records.map((bytes, i) => ({
          index: from + i,
          leafHash: hashLeaf(bytes),
          record: decoder.decode(bytes),
        })),
      );
      onProgress?.(to, log.size);
    }
  }
}
