/**
 * Requests without a valid key (or with a revoked one) cost nothing to send, and each refused one was an `_audit` record
 * (≈ 3 KB on disk with its index rows, kept at least a year): a flood of them could fill the disk
 * (review H, review J: 5,000 requests added 14.6 MiB). This fold records the first few per address
 * per minute one by one, counts the rest, and turns the counts into one summary record per minute
 * (`audit.auth_failure.suppressed`). Alert rules still see every failure; only recording is folded.
 * Memory is bounded: at most `maxAddresses` addresses are counted by name, the rest together.
 */
import { clip } from './audit-events.js';

export interface FoldLimits {
  /** Failures recorded one by one per address per window. */
  perAddress: number;
  /** Failures recorded one by one across all addresses per window. */
  total: number;
  windowMs: number;
  /** Addresses counted by name in a window's summary. */
  maxAddresses: number;
}

export const DEFAULT_FOLD: FoldLimits = { perAddress: 10, total: 100, windowMs: 60_000, maxAddresses: 1000 };

/** What a window folded: the summary record's content. */
export interface FoldSummary {
  windowStart: number;
  windowMs: number;
  suppressed: number;
  /** The sources (addresses, or `key:<id>` for a revoked key) with the most suppressed failures, most first (at most 20). */
  top: Array<{ source: string; count: number }>;
  /** Suppressed failures from sources beyond `maxAddresses`. */
  otherAddresses: number;
}

export class AnonymousFailureFold {
  #start = 0;
  #recorded = 0;
  readonly #perAddress = new Map<string, number>();
  readonly #suppressed = new Map<string, number>();
  #suppressedTotal = 0;
  #other = 0;

  constructor(private readonly limits: FoldLimits = DEFAULT_FOLD) {}

  /**
   * Whether this anonymous failure is recorded one by one. When a new window starts, `onSummary`
   * gets what the previous one folded (if anything).
   */
  admit(source: string, now: number, onSummary: (s: FoldSummary) => void): boolean {
    this.roll(now, onSummary);
    const address = clip(source, 160);
    const n = (this.#perAddress.get(address) ?? 0) + 1;
    if (n <= this.limits.perAddress && this.#recorded < this.limits.total) {
      if (this.#perAddress.size < this.limits.maxAddresses || this.#perAddress.has(address)) {
        this.#perAddress.set(address, n);
      }
      this.#recorded++;
      return true;
    }
    this.#suppressedTotal++;
    if (this.#suppressed.has(address) || this.#suppressed.size < this.limits.maxAddresses) {
      this.#suppressed.set(address, (this.#suppressed.get(address) ?? 0) + 1);
    } else this.#other++;
    return false;
  }

  /**
   * Closes the window if it is over (also called by the periodic check, so a quiet spell reports),
   * or if the clock was set back to before it began: it cannot tell when the window ends then, and
   * waiting for the clock to catch up would hold the summary (and the per-source limits) that long.
   */
  roll(now: number, onSummary: (s: FoldSummary) => void): void {
    if (now >= this.#start && now - this.#start < this.limits.windowMs) return;
    const closing = now === Number.POSITIVE_INFINITY;
    if (this.#suppressedTotal > 0) {
      const top = [...this.#suppressed]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 20)
        .map(([source, count]) => ({ source, count }));
      onSummary({
        windowStart: this.#start,
        windowMs: this.limits.windowMs,
        suppressed: this.#suppressedTotal,
        top,
        otherAddresses: this.#other,
      });
    }
    this.#start = closing ? this.#start : now;
    this.#recorded = 0;
    this.#perAddress.clear();
    this.#suppressed.clear();
    this.#suppressedTotal = 0;
    this.#other = 0;
  }
}
