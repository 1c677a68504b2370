/**
 * Feeds durable records into the derived search index, off the ack path, and answers "is event id X
 * already in log L?" exactly: ids claimed by appends still in flight or not yet indexed are held in
 * memory until the index has them, and `catchUp` closes any gap a crash left before a log serves.
 */
import { hashLeaf } from '../core/merkle.js';
import type { IndexEntry, SearchIndex } from '../index/types.js';
import type { Log, SequencedRecord } from './log.js';
import type { Logger } from './types.js';

const CHUNK = 4096;

interface Claim {
  entries: Promise<ReadonlyArray<{ index: number }>>;
  at: number;
}

export class Indexer {
  private readonly queues = new Map<string, SequencedRecord[]>();
  private readonly claims = new Map<string, Map<string, Claim>>();
  private scheduled: Promise<void> | undefined;
  private failures = 0;

  constructor(
    private readonly index: SearchIndex,
    private readonly logger: Logger,
  ) {}

  /** Entries of `log` waiting to be indexed. */
  lag(log: string): number {
    return this.queues.get(log)?.length ?? 0;
  }

  /** The index of the entry holding event id `id`, if the log has it (or an in-flight append claims it). */
  findById(log: string, id: string): Promise<number> | number | undefined {
    const claimed = this.claims.get(log)?.get(id);
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
    const m = this.claims.get(log) ?? new Map<string, Claim>();
    this.claims.set(log, m);
    for (let at = 0; at < ids.length; at++) m.set(ids[at]!, { entries, at });
    entries.catch(() => {
      for (const id of ids) if (m.get(id)?.entries === entries) m.delete(id);
    });
  }

  enqueue(log: string, records: readonly SequencedRecord[]): void {
    const q = this.queues.get(log) ?? [];
    this.queues.set(log, q);
    for (const r of records) q.push(r);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
  }

  private async flush(): Promise<void> {
    try {
      for (const [log, q] of this.queues) {
        while (q.length > 0) {
          const chunk = q.slice(0, CHUNK);
          const entries: readonly IndexEntry[] = chunk;
          try {
            await this.index.add(log, entries);
          } catch (err) {
            this.failures++;
            this.logger.error({ err, log, from: chunk[0]!.index }, 'indexing failed; will retry');
            await new Promise((r) => setTimeout(r, Math.min(5000, 100 * this.failures)));
            continue;
          }
          this.failures = 0;
          q.splice(0, chunk.length);
          const m = this.claims.get(log);
          if (m) for (const r of chunk) m.delete(r.id);
          // Yield between chunks so indexing never monopolises the event loop.
          await new Promise((r) => setImmediate(r));
        }
      }
    } finally {
      this.scheduled = undefined;
      if ([...this.queues.values()].some((q) => q.length > 0)) this.schedule();
    }
  }

  /** Resolves when everything enqueued so far is indexed. */
  async drain(): Promise<void> {
    while (this.scheduled) await this.scheduled;
  }

  /**
   * Indexes entries the index is missing (after a crash, or a fresh or rebuilt index), reading them
   * from the log. An index that claims more than the log holds is reset and rebuilt.
   */
  async catchUp(name: string, log: Log, onProgress?: (done: number, total: number) => void): Promise<void> {
    let covered = await this.index.coveredSize(name);
    if (covered > log.size) {
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
      const records = await log.readRecords(from, to);
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
