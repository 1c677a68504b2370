/**
 * Sliding-window state of the alert rules, per subject (a key, an address, a log), bounded in memory
 * whatever clients do: at most `maxSubjects` subjects (the least recently active is forgotten first)
 * and, for distinct counts, at most `maxValues` values per subject.
 *
 * Sums are kept in buckets of 1/64 of the window, so an amount counts for the window and at most one
 * bucket more (a 1-hour window forgets an event between 60 and 61 minutes after it). That keeps the
 * cost of a busy subject constant instead of one array element per request.
 *
 * Windows outlive a restart: `takeChanges` hands what changed to window-store.ts, `restore` puts it
 * back at start.
 */

export const BUCKETS_PER_WINDOW = 64;

/**
 * Sets `key` as the most recent entry of an insertion-ordered map, evicting the oldest beyond `max`;
 * returns the evicted key, if any.
 */
export function touch<K, V>(map: Map<K, V>, key: K, value: V, max: number): K | undefined {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next();
    if (!oldest.done) {
      map.delete(oldest.value);
      return oldest.value;
    }
  }
  return undefined;
}

/**
 * A subject's window as it is persisted (window-store.ts): `state` is JSON, null when the subject
 * has nothing left in the window; `lastMs` is when it last changed.
 */
export interface WindowChange {
  subject: string;
  lastMs: number;
  state: string | null;
}

/**
 * The changes of the `changed` subjects, emptying it: each subject's pairs (as `entryOf` gives them,
 * expired ones dropped) and when it was last active; `state` null for a subject with none left.
 */
function drainChanges(
  changed: Set<string>,
  now: number,
  entryOf: (subject: string) => { pairs: unknown[]; lastMs: number } | undefined,
): WindowChange[] {
  const out: WindowChange[] = [];
  for (const subject of changed) {
    const e = entryOf(subject);
    out.push(
      e === undefined || e.pairs.length === 0
        ? { subject, lastMs: now, state: null }
        : { subject, lastMs: e.lastMs, state: JSON.stringify(e.pairs) },
    );
  }
  changed.clear();
  return out;
}

/** Pairs `[number, number]` or `[string, number]` from stored JSON; anything else is skipped. */
function storedPairs<T extends string | number>(
  state: string,
  first: 'string' | 'number',
): Array<[T, number]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(state);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.filter(
    (p): p is [T, number] =>
      Array.isArray(p) && p.length === 2 && typeof p[0] === first && Number.isFinite(p[1]),
  );
}

interface Sums {
  starts: number[];
  sums: number[];
  head: number;
  total: number;
}

export class WindowSum {
  private readonly subjects = new Map<string, Sums>();
  /** Subjects changed since the last `takeChanges` (a subset of `subjects`: bounded alike). */
  private readonly changed = new Set<string>();
  private readonly bucketMs: number;

  constructor(
    readonly windowMs: number,
    readonly maxSubjects = 10_000,
  ) {
    this.bucketMs = Math.max(1, Math.floor(windowMs / BUCKETS_PER_WINDOW));
  }

  /** Adds `amount` for `subject` at `now` and returns the subject's sum over the window. */
  add(subject: string, amount: number, now: number): number {
    let s = this.subjects.get(subject);
    if (s === undefined) s = { starts: [], sums: [], head: 0, total: 0 };
    this.changed.add(subject);
    const evicted = touch(this.subjects, subject, s, this.maxSubjects);
    // Its stored row, if any, stays: an older part of its sum, dropped with age (window-store.ts).
    if (evicted !== undefined) this.changed.delete(evicted);
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
    this.changed.add(subject);
  }

  /** The subjects changed since the last call, with their buckets as `[[start, sum], …]`. */
  takeChanges(now: number): WindowChange[] {
    return drainChanges(this.changed, now, (subject) => {
      const s = this.subjects.get(subject);
      if (s === undefined) return undefined;
      this.expire(s, now);
      const starts = s.starts.slice(s.head);
      return {
        pairs: starts.map((start, i) => [start, s.sums[s.head + i]!]),
        lastMs: starts[starts.length - 1]!,
      };
    });
  }

  /** Puts back a subject's persisted buckets (least recently active subject first), dropping expired ones. */
  restore(subject: string, state: string, now: number): void {
    const s: Sums = { starts: [], sums: [], head: 0, total: 0 };
    for (const [at, sum] of storedPairs<number>(state, 'number').sort((a, b) => a[0] - b[0])) {
      // Re-bucketed, should the window have been configured otherwise before the restart.
      const start = at - (at % this.bucketMs);
      if (start + this.bucketMs <= now - this.windowMs) continue;
      if (s.starts[s.starts.length - 1] === start) s.sums[s.sums.length - 1]! += sum;
      else {
        s.starts.push(start);
        s.sums.push(sum);
      }
      s.total += sum;
    }
    if (s.starts.length > 0) touch(this.subjects, subject, s, this.maxSubjects);
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
  /** Subjects changed since the last `takeChanges` (a subset of `subjects`: bounded alike). */
  private readonly changed = new Set<string>();

  constructor(
    readonly windowMs: number,
    private readonly maxValues: number,
    readonly maxSubjects = 10_000,
  ) {}

  /** Notes `value` for `subject` at `now`; returns how many distinct values it had within the window. */
  add(subject: string, value: string, now: number): number {
    let values = this.subjects.get(subject);
    if (values === undefined) values = new Map();
    this.changed.add(subject);
    const evicted = touch(this.subjects, subject, values, this.maxSubjects);
    if (evicted !== undefined) this.changed.delete(evicted);
    touch(values, value, now, this.maxValues);
    this.expire(values, now);
    return values.size;
  }

  reset(subject: string): void {
    this.subjects.delete(subject);
    this.changed.add(subject);
  }

  /** The subjects changed since the last call, with their values as `[[value, at], …]`. */
  takeChanges(now: number): WindowChange[] {
    return drainChanges(this.changed, now, (subject) => {
      const values = this.subjects.get(subject);
      if (values === undefined) return undefined;
      this.expire(values, now);
      const pairs = [...values];
      return { pairs, lastMs: pairs[pairs.length - 1]?.[1] ?? now };
    });
  }

  /** Puts back a subject's persisted values (least recently active subject first), dropping expired ones. */
  restore(subject: string, state: string, now: number): void {
    const values = new Map<string, number>();
    for (const [v, at] of storedPairs<string>(state, 'string').sort((a, b) => a[1] - b[1])) {
      touch(values, v, at, this.maxValues);
    }
    this.expire(values, now);
    if (values.size > 0) touch(this.subjects, subject, values, this.maxSubjects);
  }

  /** Values are in order of last sight, so expired ones are at the front. */
  private expire(values: Map<string, number>, now: number): void {
    const horizon = now - this.windowMs;
    for (const [v, at] of values) {
      if (at > horizon) break;
      values.delete(v);
    }
  }
}
