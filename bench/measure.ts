/**
 * Measuring: rates against the wall clock and the main thread's CPU time, best-of rounds,
 * percentiles, and a seeded PRNG so runs pick the same "random" inputs.
 */
import { readFileSync } from 'node:fs';

/** Operations per second of wall-clock time and per second of the main thread's CPU time. */
export interface Rate {
  wall: number;
  cpu: number;
}

/**
 * On-CPU time of this process's main thread in ns (Linux: the first field of its schedstat, whose
 * thread id is the pid), else the whole process's user + system time (GC threads included).
 */
function cpuNs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000;
  }
}

/**
 * Runs `body` (which does `n` operations per call) repeatedly for about `ms` of wall time. The CPU
 * figure divides by the main thread's on-CPU time instead: for single-threaded CPU-bound work it
 * equals the wall figure on an idle machine and stays close to it when other processes take the
 * cores away (time spent waiting for a core is not counted against the code).
 */
export async function rate(ms: number, n: number, body: () => unknown): Promise<Rate> {
  let ops = 0;
  const cpu0 = cpuNs();
  const start = performance.now();
  let now = start;
  do {
    const r = body();
    if (r instanceof Promise) await r;
    ops += n;
    now = performance.now();
  } while (now - start < ms);
  const cpu = cpuNs() - cpu0;
  return { wall: (ops * 1000) / (now - start), cpu: (ops * 1e9) / cpu };
}

/**
 * Rates of a baseline and a subject measured in alternating rounds (so drift on a shared machine hits
 * both), each the best of `rounds`: interference from other processes only ever slows a round down.
 */
export async function compareRates(
  rounds: number,
  ms: number,
  baseline: { n: number; body: () => unknown },
  subject: { n: number; body: () => unknown },
): Promise<{ baseline: Rate; subject: Rate; ratio: number }> {
  const b: Rate[] = [];
  const s: Rate[] = [];
  for (let i = 0; i < rounds; i++) {
    b.push(await rate(ms, baseline.n, baseline.body));
    s.push(await rate(ms, subject.n, subject.body));
  }
  const best = (rs: Rate[]): Rate => ({
    wall: Math.max(...rs.map((r) => r.wall)),
    cpu: Math.max(...rs.map((r) => r.cpu)),
  });
  const bb = best(b);
  const sb = best(s);
  return { baseline: bb, subject: sb, ratio: sb.cpu / bb.cpu };
}

/** Best of `rounds` measurements of `rate(ms, n, body)`. */
export async function bestRate(rounds: number, ms: number, n: number, body: () => unknown): Promise<Rate> {
  const rs: Rate[] = [];
  for (let i = 0; i < rounds; i++) rs.push(await rate(ms, n, body));
  return { wall: Math.max(...rs.map((r) => r.wall)), cpu: Math.max(...rs.map((r) => r.cpu)) };
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile of unsorted values (NaN when empty). */
export function percentile(values: readonly number[] | Float64Array, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Seeded PRNG (mulberry32) so runs pick the same "random" indices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
