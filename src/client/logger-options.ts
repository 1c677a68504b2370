/** Options of the AuditLogger (audit-logger.ts), their defaults and their checks. */
import type { AuditEvent, EventLimits } from '../core/event.js';
import { ClientError } from './errors.js';
import { type ResolvedRetry, type RetryOptions, resolveRetry } from './retry.js';
import type { AppendedEntry } from './types.js';

/** What `log()` does when `maxQueue` events are already waiting. */
export type OverflowPolicy = 'drop-oldest' | 'drop-newest' | 'block' | 'throw';

export interface AuditLoggerOptions {
  /** Most events per request. Default 500 (the server accepts up to 10,000). */
  maxBatch?: number;
  /** Longest an event waits for a fuller batch, in ms. Default 200. */
  maxDelayMs?: number;
  /** Most events held in memory (queued and in flight). Default 10,000. */
  maxQueue?: number;
  /**
   * When the queue is full: `block` (default) makes `log()` wait for room; `throw` rejects with
   * `client.queue_full`; `drop-newest` discards the new event, `drop-oldest` the oldest queued one
   * (both reported to `onDrop`).
   */
  overflow?: OverflowPolicy;
  /** A directory for the on-disk spool (Node only): `log()` resolves once the event is fsync'd there. */
  spoolDir?: string;
  retry?: RetryOptions;
  /** Limits for the local check in `log()`; set them when the server's differ from the defaults. */
  eventLimits?: Partial<EventLimits>;
  /** Events the server refused or that ran out of retries. Must not throw. */
  onError?: (error: ClientError, events: AuditEvent[]) => void;
  /** Events discarded by the overflow policy. Must not throw. */
  onDrop?: (events: AuditEvent[]) => void;
  /** Entries the server acknowledged, in order. Must not throw. */
  onAck?: (entries: AppendedEntry[]) => void;
}

export interface ResolvedLoggerOptions extends AuditLoggerOptions {
  maxBatch: number;
  maxDelayMs: number;
  maxQueue: number;
  overflow: OverflowPolicy;
  retry: ResolvedRetry;
}

const POLICIES: readonly string[] = ['drop-oldest', 'drop-newest', 'block', 'throw'];

/** Fills defaults; contradictory or out-of-range options are `client.invalid_argument`, naming the option. */
export function resolveLoggerOptions(options: AuditLoggerOptions): ResolvedLoggerOptions {
  const resolved: ResolvedLoggerOptions = {
    ...options,
    maxBatch: atLeast(options.maxBatch ?? 500, 1, 'maxBatch'),
    maxDelayMs: atLeast(options.maxDelayMs ?? 200, 0, 'maxDelayMs'),
    maxQueue: atLeast(options.maxQueue ?? 10_000, 1, 'maxQueue'),
    overflow: options.overflow ?? 'block',
    retry: resolveRetry(options.retry),
  };
  if (resolved.maxQueue < resolved.maxBatch) {
    throw new ClientError('client.invalid_argument', 'maxQueue must be at least maxBatch');
  }
  if (!POLICIES.includes(resolved.overflow)) {
    throw new ClientError('client.invalid_argument', `unknown overflow policy ${String(resolved.overflow)}`);
  }
  return resolved;
}

function atLeast(n: number, min: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < min) {
    throw new ClientError('client.invalid_argument', `${name} must be an integer ≥ ${min}`);
  }
  return n;
}
