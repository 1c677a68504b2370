/**
 * The self-audit recorder: buffers audit events in memory and appends them to `_audit` in batches
 * (one `engine.append` per batch, at most every `flushIntervalMs` or as soon as `maxBatchEvents` are
 * waiting), so recording costs a read request one array push.
 *
 * Contract:
 * - `record` never throws and never waits. Events are appended in the order recorded.
 * - A failed append keeps its batch at the head of the buffer and is retried with back-off; the
 *   failure is reported (`onFailure`) so the monitor can raise `audit_write_failure`.
 * - The buffer is bounded (`maxQueuedEvents`): beyond it new events are counted, not kept, and once
 *   appends work again an `audit.dropped` event records how many were lost and when. Memory stays
 *   bounded while `_audit` is unavailable, and the gap itself is on the record.
 * - `flush` resolves once everything recorded before the call is durable in `_audit` (or rejects
 *   with the append error); `close` flushes and stops.
 * The recorder's own appends are not HTTP reads, so they never produce further access events.
 */
import { type AuditEvent, EventError } from '../core/event.js';
import type { Clock, Logger } from '../log/types.js';
import { AUDIT_SERVICE } from './audit-events.js';

/** The subset of the engine the recorder uses. */
export interface AuditAppender {
  append(log: string, events: readonly unknown[]): Promise<unknown>;
}

/** Injected timers, so tests need not wait for real intervals. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface RecorderOptions {
  engine: AuditAppender;
  /** The log written to; `_audit`. */
  log: string;
  flushIntervalMs: number;
  maxBatchEvents: number;
  maxQueuedEvents: number;
  clock: Clock;
  logger: Logger;
  timers?: Timers;
  onFailure?: (err: unknown) => void;
  /** Called after each successful append with the number of events it held. */
  onAppended?: (events: number) => void;
}

const MAX_RETRY_MS = 5_000;

/** Events per server-log line when the recorder hands its queue to the log at close. */
const SPILL_LINE_EVENTS = 1000;

export class AuditRecorder {
  private queue: AuditEvent[] = [];
  /** Sequence number of the last event recorded, and of the last one durably appended. */
  private recorded = 0;
  private appended = 0;
  private droppedSince = 0;
  private droppedFirstAt: number | undefined;
  private droppedTotal = 0;
  private timer: unknown;
  private timerImmediate = false;
  private running: Promise<void> | undefined;
  private lastError: unknown;
  private failures = 0;
  private closed = false;
  private readonly timers: Timers;

  constructor(private readonly opts: RecorderOptions) {
    this.timers = opts.timers ?? realTimers;
  }

  /** Events waiting to be appended. */
  get depth(): number {
    return this.queue.length;
  }

  /** Events dropped since start: the buffer was full, or one was invalid (a bug; logged). */
  get dropped(): number {
    return this.droppedTotal;
  }

  record(event: AuditEvent): void {
    if (this.closed) {
      this.opts.logger.error({ action: event.action }, 'audit event after the monitor closed; not recorded');
      return;
    }
    if (this.queue.length >= this.opts.maxQueuedEvents) {
      if (this.droppedSince === 0) this.droppedFirstAt = this.opts.clock.now();
      this.droppedSince++;
      this.droppedTotal++;
      return;
    }
    this.queue.push(event);
    this.recorded++;
    if (this.queue.length >= this.opts.maxBatchEvents) this.schedule(0);
    else this.schedule(this.opts.flushIntervalMs);
  }

  /** Appends everything recorded before this call; rejects with the append error if that fails. */
  async flush(): Promise<void> {
    const target = this.recorded;
    // Closed: whatever was left went to the server log (close()); nothing will be appended again.
    while (this.appended < target && !this.closed) {
      this.lastError = undefined;
      await this.pump();
      if (this.appended < target && this.lastError !== undefined) throw this.lastError;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      this.timers.clearTimeout(this.timer);
      this.timer = undefined;
      await this.running?.catch(() => {});
      // `_audit` could not take them (its storage failed): the server log is the last place left,
      // in lines of at most 1,000 events (log shippers split or drop giant lines).
      const left = this.queue.length;
      for (let i = 0; i < left; i += SPILL_LINE_EVENTS) {
        const part = this.queue.slice(i, i + SPILL_LINE_EVENTS);
        this.opts.logger.error(
          { audit_events: part, part: i / SPILL_LINE_EVENTS + 1, dropped: this.droppedSince },
          `${left} access events could not be recorded in _audit; events ${i + 1}..${i + part.length} are in this log line`,
        );
      }
      this.queue = [];
      this.appended = this.recorded; // accounted for: in the server log
    }
  }

  private schedule(ms: number): void {
    if (this.running !== undefined) return; // the running drain reschedules when it ends
    if (this.timer !== undefined) {
      if (ms > 0 || this.timerImmediate) return;
      this.timers.clearTimeout(this.timer);
    }
    this.timerImmediate = ms === 0;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.pump().catch(() => {});
    }, ms);
  }

  /** Runs (or joins) the append loop until the buffer is empty or an append fails. */
  private pump(): Promise<void> {
    if (this.running) return this.running;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.closed) return;
      if (this.lastError !== undefined) {
        const backoff = Math.min(MAX_RETRY_MS, this.opts.flushIntervalMs * 2 ** Math.min(this.failures, 16));
        this.schedule(backoff);
      } else if (this.queue.length > 0) this.schedule(0);
    });
    return this.running;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.droppedSince > 0) {
      this.noteDrops();
      const batch = this.queue.splice(0, this.opts.maxBatchEvents);
      let invalid: number;
      try {
        invalid = await this.appendBatch(batch);
      } catch (err) {
        this.queue.unshift(...batch);
        this.lastError = err;
        this.failures++;
        this.opts.logger.error({ err, events: batch.length }, 'appending to _audit failed; will retry');
        try {
          this.opts.onFailure?.(err);
        } catch {
          // A failing observer must not stop the recorder.
        }
        return;
      }
      this.failures = 0;
      // Done with, one way or the other (flush waits on this); only those written count as appended.
      this.appended += batch.length;
      this.droppedTotal += invalid;
      if (batch.length > invalid) this.opts.onAppended?.(batch.length - invalid);
    }
  }

  /**
   * One append. Events are built to validate, but should one not, the batch is retried event by
   * event so the others are still recorded, and the bad one is logged, counted as dropped and
   * reported as a write failure (an alert). Resolves with the number dropped.
   */
  private async appendBatch(batch: AuditEvent[]): Promise<number> {
    try {
      await this.opts.engine.append(this.opts.log, batch);
      return 0;
    } catch (err) {
      if (!(err instanceof EventError)) throw err;
      let dropped = 0;
      for (const event of batch) {
        try {
          await this.opts.engine.append(this.opts.log, [event]);
        } catch (one) {
          if (!(one instanceof EventError)) throw one;
          dropped++;
          this.opts.logger.error({ err: one, action: event.action }, 'invalid audit event dropped');
          try {
            this.opts.onFailure?.(one);
          } catch {
            // A failing observer must not stop the recorder.
          }
        }
      }
      return dropped;
    }
  }

  /** Turns a counted overflow into an `audit.dropped` record at the head of the next batch. */
  private noteDrops(): void {
    if (this.droppedSince === 0) return;
    const now = this.opts.clock.now();
    this.queue.unshift({
      action: 'audit.dropped',
      actor: { id: 'indelible.monitor', type: 'system' },
      outcome: 'failure',
      occurred_at: new Date(now).toISOString(),
      source: { service: AUDIT_SERVICE },
      metadata: {
        count: this.droppedSince,
        first_dropped_at: new Date(this.droppedFirstAt ?? now).toISOString(),
        reason: 'audit buffer full while _audit was unavailable',
      },
    });
    this.recorded++;
    this.opts.logger.error({ count: this.droppedSince }, 'audit events were dropped (buffer full)');
    this.droppedSince = 0;
    this.droppedFirstAt = undefined;
  }
}
