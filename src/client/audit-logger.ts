/**
 * `AuditLogger`: the way applications send audit events. `log(event)` validates the event, gives
 * it a client `id` (a UUIDv7) when it has none, optionally spools it to disk, and queues it; a
 * single sender sends the queue in order, in batches of up to `maxBatch` events or after
 * `maxDelayMs`, one batch in flight at a time.
 *
 * Exactly-once delivery rests on two server guarantees (DESIGN §4): a batch carries an
 * `Idempotency-Key` that stays the same — with byte-identical body — across its retries, and every
 * event carries its own `id`, which the server deduplicates across batches, restarts and crashes.
 * So a retry after a lost answer, or a resend from the spool after a crash, returns the original
 * entries and never appends twice.
 *
 * Failures: network errors, timeouts, 429 and 5xx are retried with backoff (retry.ts), honouring
 * Retry-After. Any other 4xx is final: the events are reported to `onError` (and make the covering
 * `flush()` reject). When the problem names one event of the batch (`event`), only that event is
 * reported and the others are sent again as a new request.
 */
import type { AuditEvent } from '../core/event.js';
import { validateEvent } from '../core/event.js';
import { newEventId } from '../core/record.js';
import type { IndelibleClient } from './client.js';
import { ClientError, isRetryable } from './errors.js';
import {
  type AuditLoggerOptions,
  type ResolvedLoggerOptions,
  resolveLoggerOptions,
} from './logger-options.js';
import { retryDelay } from './retry.js';
import { Settlements } from './settlements.js';
import type { Spool } from './spool.js';

interface Item {
  seq: number;
  id: string;
  /** The event as sent, frozen at log() time (later changes by the caller are not sent). */
  json: string;
  event: AuditEvent;
  at: number;
}

export class AuditLogger {
  /**
   * Queues one event (bound: may be passed around as a callback) and resolves with its `id` once it
   * is queued — and, with a spool, fsync'd — not once the server has it (see `flush()`). Rejects with
   * an EventError for an invalid event, `client.closed` after close(), `client.queue_full` under the
   * `throw` policy. The event object is not modified (a copy gets the id).
   */
  readonly log: (event: AuditEvent) => Promise<string>;
  readonly #client: IndelibleClient;
  readonly #name: string;
  readonly #opts: ResolvedLoggerOptions;
  readonly #ready: Promise<void>;
  #spool: Spool | undefined;

  #seq = 0;
  /** Counts events off as they settle, for flush(). */
  readonly #settlements = new Settlements();
  #reserved = 0;
  #queue: Item[] = [];
  #inflight: Item[] = [];
  #flushTarget = 0;
  #roomWaiters: (() => void)[] = [];
  #running = false;
  #wake: (() => void) | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(client: IndelibleClient, log: string, options: AuditLoggerOptions = {}) {
    this.#client = client;
    this.#name = log;
    this.#opts = resolveLoggerOptions(options);
    this.log = (event) => this.#log(event);
    this.#ready = options.spoolDir === undefined ? Promise.resolve() : this.#openSpool(options.spoolDir);
    this.#ready.catch(() => {}); // surfaced through log(), flush() and close()
  }

  /** Resolves once a spool (if any) is open and its leftovers are queued for resending. */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** Events logged and not yet acknowledged (or given up on). */
  get pending(): number {
    return this.#settlements.unsettled;
  }

  /**
   * Resolves when every event logged before this call is acknowledged (or dropped by the overflow
   * policy); rejects with `client.delivery_failed` if any of them failed since the last flush.
   */
  async flush(): Promise<void> {
    await this.#ready;
    const target = this.#seq;
    if (target > this.#flushTarget) this.#flushTarget = target;
    const done = this.#settlements.wait(target);
    this.#kick();
    return done;
  }

  /** Stops accepting events, flushes what was logged, then releases the spool. */
  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      try {
        await this.flush();
      } finally {
        await this.#spool?.close();
      }
    })();
    return this.#closing;
  }

  async #openSpool(dir: string): Promise<void> {
    // Imported on demand: the spool needs node:fs, the rest of the SDK does not.
    const { Spool } = await import('./spool.js');
    const { spool, recovered, damage } = await Spool.open(dir);
    this.#spool = spool;
    if (damage !== undefined) {
      const lines = damage.lines.join(', ');
      const err = new ClientError(
        'client.spool_corrupt',
        `${dir}: line${damage.lines.length > 1 ? 's' : ''} ${lines} of events.ndjson ${damage.lines.length > 1 ? 'are not spooled events' : 'is not a spooled event'} and cannot be resent; the file as found is kept as ${damage.keptAs}`,
        { details: { lines: damage.lines, kept_as: damage.keptAs } },
      );
      this.#report(this.#opts.onError, err, []);
    }
    const now = Date.now();
    for (const r of recovered) {
      this.#queue.push({ seq: ++this.#seq, id: r.id, json: r.json, event: JSON.parse(r.json), at: now });
      this.#settlements.added();
    }
    this.#kick();
  }

  async #log(input: AuditEvent): Promise<string> {
    if (this.#closed) throw new ClientError('client.closed', 'the logger is closed');
    validateEvent(input, this.#opts.eventLimits);
    const event: AuditEvent = input.id === undefined ? { ...input, id: newEventId(Date.now()) } : input;
    const id = event.id!;
    const item: Item = { seq: ++this.#seq, id, json: JSON.stringify(event), event, at: 0 };
    this.#settlements.added();
    let queued = false;
    try {
      await this.#ready;
      if (!(await this.#admit(item))) return id;
      this.#reserved++;
      try {
        await this.#spool?.append({ id, json: item.json });
      } finally {
        this.#reserved--;
      }
      item.at = Date.now();
      this.#queue.push(item);
      queued = true;
      this.#kick();
      return id;
    } finally {
      // Not queued (dropped, refused, or the spool failed): settled here, not by the sender.
      if (!queued) this.#settlements.settled(item.seq);
    }
  }

  /** Makes room under the overflow policy; false when the new event itself is dropped. */
  async #admit(item: Item): Promise<boolean> {
    while (this.#queue.length + this.#inflight.length + this.#reserved >= this.#opts.maxQueue) {
      switch (this.#opts.overflow) {
        case 'throw':
          throw new ClientError('client.queue_full', `the logger queue holds ${this.#opts.maxQueue} events`);
        case 'drop-newest':
          this.#report(this.#opts.onDrop, [item.event]);
          return false;
        case 'drop-oldest': {
          const oldest = this.#queue.shift();
          if (oldest !== undefined) {
            this.#report(this.#opts.onDrop, [oldest.event]);
            this.#settlements.settled(oldest.seq);
            await this.#spool?.ack([oldest.id]);
            continue;
          }
          // Everything held is in flight: nothing to drop but the batch being sent, so wait.
          await new Promise<void>((r) => this.#roomWaiters.push(r));
          break;
        }
        default:
          await new Promise<void>((r) => this.#roomWaiters.push(r));
      }
    }
    return true;
  }

  #kick(): void {
    if (this.#running) {
      this.#wake?.();
      return;
    }
    if (this.#queue.length === 0) return;
    this.#running = true;
    void this.#run().finally(() => {
      this.#running = false;
      this.#kick();
    });
  }

  /** The sender: one batch in flight at a time, in log() order. Never throws. */
  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const full = this.#queue.length >= this.#opts.maxBatch;
      const due = full || this.#closed || head.seq <= this.#flushTarget;
      const wait = due ? 0 : head.at + this.#opts.maxDelayMs - Date.now();
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.#wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.#wake = undefined;
        continue;
      }
      this.#inflight = this.#queue.splice(0, this.#opts.maxBatch);
      try {
        await this.#deliver(this.#inflight);
      } finally {
        this.#inflight = [];
        this.#wakeForRoom();
      }
    }
  }

  /** Sends one batch until acknowledged or given up on; reports failures. */
  async #deliver(batch: Item[]): Promise<void> {
    let items = batch;
    let key = `batch-${newEventId(Date.now())}`;
    let body = `{"events":[${items.map((i) => i.json).join(',')}]}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.#client.appendBody(this.#name, body, { idempotencyKey: key });
        // Only an answer with each event's entry, in order, is an ack: the events leave the spool.
        if (r.entries.length !== items.length || r.entries.some((e, i) => e.id !== items[i]!.id)) {
          throw new ClientError(
            'client.bad_response',
            `the append answer does not acknowledge the ${items.length} event(s) sent`,
          );
        }
        await this.#spool?.ack(items.map((i) => i.id)).catch(() => {});
        this.#report(this.#opts.onAck, r.entries);
        for (const i of items) this.#settlements.settled(i.seq);
        return;
      } catch (caught) {
        const err =
          caught instanceof ClientError
            ? caught
            : new ClientError('client.bad_response', 'sending the batch failed', { cause: caught });
        // An answer that cannot be read (a proxy's HTML page with a 2xx) may follow a durable append:
        // the same Idempotency-Key makes asking again safe, and the events must not leave the spool.
        const retryable = isRetryable(err) || err.code === 'client.bad_response';
        if (retryable && attempt < this.#opts.retry.maxAttempts) {
          await new Promise((r) => setTimeout(r, retryDelay(attempt, err, this.#opts.retry)));
          continue;
        }
        const final = !retryable;
        if (
          final &&
          items.length > 1 &&
          (err.code === 'request.batch_too_large' ||
            err.code === 'request.body_too_large' ||
            // A proxy's body limit answers 413 without our problem code: too large all the same.
            err.status === 413)
        ) {
          // The server's limits are lower than maxBatch: halve the batch (each half gets its own key).
          const half = Math.ceil(items.length / 2);
          await this.#deliver(items.slice(0, half));
          await this.#deliver(items.slice(half));
          return;
        }
        const at = err.problem?.event;
        if (final && items.length > 1 && Number.isSafeInteger(at) && at! >= 0 && at! < items.length) {
          // One event is at fault: report it alone and send the rest as a new request.
          this.#fail([items[at!]!], err, true);
          items = items.filter((_, i) => i !== at);
          key = `batch-${newEventId(Date.now())}`;
          body = `{"events":[${items.map((i) => i.json).join(',')}]}`;
          attempt = 0;
          continue;
        }
        // Refused events are forgotten by the spool; events that ran out of retries stay in it,
        // so the next logger opened on the spool sends them again.
        this.#fail(items, err, final);
        return;
      }
    }
  }

  #fail(items: Item[], err: ClientError, forget: boolean): void {
    if (forget) this.#spool?.ack(items.map((i) => i.id)).catch(() => {});
    this.#report(
      this.#opts.onError,
      err,
      items.map((i) => i.event),
    );
    for (const i of items) this.#settlements.settled(i.seq, err);
  }

  #report<A extends unknown[]>(hook: ((...args: A) => void) | undefined, ...args: A): void {
    if (hook === undefined) return;
    try {
      hook(...args);
    } catch {
      // A throwing hook must not stop delivery of the events behind it.
    }
  }

  /** Wakes log() calls waiting for room; each re-checks for room itself, so one too many is harmless. */
  #wakeForRoom(): void {
    let room = this.#opts.maxQueue - (this.#queue.length + this.#inflight.length + this.#reserved);
    while (room-- > 0 && this.#roomWaiters.length > 0) this.#roomWaiters.shift()!();
  }
}
