import type { SequencerConfig } from './config.js';
import { LogError } from './errors.js';

interface Pending<T, R> {
  items: readonly T[];
  bytes: number;
  resolve: (results: R[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: requests queue up while one commit is in flight and the next commit takes as many
 * whole requests as fit in a batch, so N concurrent writers share one fsync. A request is never split
 * across commits, which keeps each request atomic (all its events are acknowledged by one durable write).
 *
 * `commit` receives the items of one batch in order and returns one result per item; it runs strictly
 * one at a time. If it throws, every request in that batch is rejected with the error, and the
 * sequencer stops: `fail` decides (the log treats a storage error as fatal for the journal).
 */
export class Sequencer<T, R> {
  private queue: Pending<T, R>[] = [];
  private queuedItems = 0;
  private running = false;
  private failure: unknown;
  private closed = false;
  private idle: Array<() => void> = [];

  constructor(
    private readonly config: SequencerConfig,
    private readonly commit: (items: T[]) => Promise<R[]>,
    private readonly sizeOf: (item: T) => number,
  ) {}

  /** True once a commit failed: the sequencer accepts nothing more until the log is reopened. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Items queued or being committed (for metrics and back-pressure). */
  get depth(): number {
    return this.queuedItems;
  }

  submit(items: readonly T[]): Promise<R[]> {
    if (this.failure !== undefined) {
      return Promise.reject(
        new LogError('log.failed', 'the log failed and must be reopened', { cause: this.failure }),
      );
    }
    if (this.closed) return Promise.reject(new LogError('log.closed', 'the log is closed'));
    if (items.length === 0) return Promise.resolve([]);
    if (this.queuedItems + items.length > this.config.maxQueuedEvents && this.queuedItems > 0) {
      return Promise.reject(
        new LogError('log.pushback', 'too many events are waiting to be sequenced; retry shortly', {
          details: { queued: this.queuedItems, limit: this.config.maxQueuedEvents },
        }),
      );
    }
    let bytes = 0;
    for (const it of items) bytes += this.sizeOf(it);
    return new Promise<R[]>((resolve, reject) => {
      this.queue.push({ items, bytes, resolve, reject });
      this.queuedItems += items.length;
      if (!this.running) void this.run();
    });
  }

  /** Stops accepting new requests and resolves once everything already queued is committed. */
  async close(): Promise<void> {
    this.closed = true;
    if (!this.running) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private takeBatch(): Pending<T, R>[] {
    const batch: Pending<T, R>[] = [];
    let events = 0;
    let bytes = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      const fits =
        events + next.items.length <= this.config.maxBatchEvents &&
        bytes + next.bytes <= this.config.maxBatchBytes;
      // An oversized single request still goes alone rather than waiting forever.
      if (!fits && batch.length > 0) break;
      batch.push(this.queue.shift()!);
      events += next.items.length;
      bytes += next.bytes;
    }
    return batch;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0 && this.failure === undefined) {
        if (this.config.maxBatchAgeMs > 0 && this.queuedItems < this.config.maxBatchEvents) {
          await new Promise((r) => setTimeout(r, this.config.maxBatchAgeMs));
        }
        const batch = this.takeBatch();
        const items: T[] = [];
        for (const p of batch) for (const it of p.items) items.push(it);
        try {
          const results = await this.commit(items);
          let at = 0;
          for (const p of batch) {
            p.resolve(results.slice(at, at + p.items.length));
            at += p.items.length;
          }
        } catch (err) {
          this.failure = err;
          for (const p of batch) p.reject(err);
          for (const p of this.queue) {
            this.queuedItems -= p.items.length;
            p.reject(new LogError('log.failed', 'the log failed and must be reopened', { cause: err }));
          }
          this.queue = [];
        } finally {
          for (const p of batch) this.queuedItems -= p.items.length;
        }
      }
    } finally {
      this.running = false;
      for (const r of this.idle.splice(0)) r();
    }
  }
}
