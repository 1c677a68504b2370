/**
 * Sliding-window state of the alert rules, per subject (a key, an address, a log), bounded in memory
 * whatever clients do: at most `maxSubjects` subjects (the least recently active is forgotten first)
 * and, for distinct counts, at most `maxValues` values per subject.
 *
 * Sums are kept in buckets of 1/64 of the window, so an amount counts for the window and at most one
 * bucket more (a 1-hour window forgets an event between 60 and 61 minutes after it). That keeps the
 * cost of a busy subject constant instead of one array element per request.
 */

export const BUCKETS_PER_WINDOW = 64;

/** Sets `key` as the most recent entry of an insertion-ordered map, evicting the oldest beyond `max`. */
export function touch<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
}

interface Sums {
  starts: number[];
  sums: number[];
  head: number;
  total: number;
}

export class WindowSum {
  private readonly subjects = new Map<string, Sums>();
  private readonly bucketMs: number;

  constructor(
    readonly windowMs: number,
    private readonly maxSubjects = 10_000,
  ) {
    this.bucketMs = Math.max(1, Math.floor(windowMs / BUCKETS_PER_WINDOW));
  }

  /** Adds `amount` for `subject` at `now` and returns the subject's sum over the window. */
  add(subject: string, amount: number, now: number): number {
    let s = this.subjects.get(subject);
    if (s === undefined) s = { starts: [], sums: [], head: 0, total: 0 };
    touch(this.subjects, subject, s, this.maxSubjects);
    this.expire(s, now);
    const start = now - (now % this.bucketMs);
    const last = s.starts.length - 1;
    if (last >= s.head && s.starts[last] === start) s.sums[last]! += amount;
    else {
      s.starts.push(start);
      s.sums.push(amount);
    }
    s.total += amount;
    return s.total;
  }

  /** Forgets a subject's sum (after it raised an alert, so the next alert needs a fresh window). */
  reset(subject: string): void {
    this.subjects.delete(subject);
  }

  private expire(s: Sums, now: number): void {
    const horizon = now - this.windowMs;
    while (s.head < s.starts.length && s.starts[s.head]! + this.bucketMs <= horizon) {
      s.total -= s.sums[s.head]!;
      s.head++;
    }
    if (s.head > 32 && s.head * 2 > s.starts.length) {
      s.starts = s.starts.slice(s.head);
      s.sums = s.sums.slice(s.head);
      s.head = 0;
    }
  }
}

/** Distinct values per subject seen within the window (exact times, bounded count). */
export class WindowDistinct {
  private readonly subjects = new Map<string, Map<string, number>>();

  constructor(
    readonly windowMs: number,
    private readonly maxValues: number,
    private readonly maxSubjects = 10_000,
  ) {}

  /** Notes `value` for `subject` at `now`; returns how many distinct values it had within the window. */
  add(subject: string, value: string, now: number): number {
    let values = this.subjects.get(subject);
    if (values === undefined) values = new Map();
    touch(this.subjects, subject, values, this.maxSubjects);
    touch(values, value, now, this.maxValues);
    // Values are in order of last sight, so expired ones are at the front.
    const horizon = now - this.windowMs;
    for (const [v, at] of values) {
      if (at > horizon) break;
      values.delete(v);
    }
    return values.size;
  }

  reset(subject: string): void {
    this.subjects.delete(subject);
  }
}
