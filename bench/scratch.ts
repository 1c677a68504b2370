/**
 * Where benchmarks put their data directories, and when those are deleted.
 *
 * Deleting a run's files right before the next run is measured skews that run: on an ext4 without
 * a journal (this VM's root file system), creating a file skips every inode freed in the last 60 s
 * (5 minutes while its inode table block is dirty), reading the inode table to find them, so the
 * engine's tile and bundle writes spent 3–4× more kernel time in the minute after a deletion of a
 * previous run's ≈ 10,000 files (`perf`: `ext4_create` → `recently_deleted`). The NDJSON baseline
 * creates one file and is not affected, so the ratio was too. Hence: every directory of one
 * `bench/run.js` invocation lives under one scratch folder that the runner deletes after the last
 * benchmark (`BENCH_SCRATCH`, set for its children); a benchmark started on its own removes its
 * folders when it exits.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The folder the data directories go under: BENCH_DIR, or the OS temp dir. */
export function benchBase(): string {
  return process.env.BENCH_DIR ?? tmpdir();
}

/** Creates the scratch folder of a whole run (the runner calls it once and exports BENCH_SCRATCH). */
export function createRunScratch(): string {
  const base = benchBase();
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'indelible-perf-'));
}

export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

let ownScratch: string | undefined;

/**
 * A new, empty folder for one benchmark run (`prefix` names it). It is not deleted when the run
 * ends, but with the whole scratch folder: by the runner, or at this process's exit.
 */
export function scratchDir(prefix: string): string {
  let parent = process.env.BENCH_SCRATCH;
  if (parent === undefined) {
    if (ownScratch === undefined) {
      const created = createRunScratch();
      ownScratch = created;
      process.once('exit', () => removeScratch(created));
    }
    parent = ownScratch;
  }
  return mkdtempSync(join(parent, `${prefix}-`));
}
