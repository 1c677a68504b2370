/**
 * Removes the temporary files of durable writes (durable-write.ts) that a process killed mid-write
 * left behind. A crash between creating a temporary file and renaming it over its target leaves a
 * `.#…` file beside the target: listings skip such names and no key can name one, so it is harmless
 * but takes space, one per write in flight at each crash.
 *
 * The local driver runs this once when it opens a data directory, in the background: it holds the
 * LOCK, so no other process writes there, and this process's own temporary names carry its mark
 * (`isLeftoverTempName`). Nothing waits for it but `close()`, which stops it at the next folder.
 */
import type { Dirent } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isLeftoverTempName } from './durable-write.js';

export interface TempSweepResult {
  /** Leftover temporary files unlinked. */
  removed: number;
  /** Folders that could not be listed and files that could not be unlinked (the first error is kept). */
  failed: number;
  firstError?: string;
  /** Whether `stop()` ended the walk before every folder was visited. */
  stopped: boolean;
}

/**
 * Walks every folder under `<root>/logs` and the files directly in `<root>`, unlinking leftover
 * temporary files. The LOCK's temporary file is left alone: another process may be trying to take
 * the lock at this moment (and will fail to, since this one holds it). Checks `stop()` before each
 * folder. Never throws.
 */
export async function sweepLeftoverTemps(root: string, stop: () => boolean): Promise<TempSweepResult> {
  const result: TempSweepResult = { removed: 0, failed: 0, stopped: false };
  const fail = (err: unknown) => {
    result.failed++;
    result.firstError ??= err instanceof Error ? err.message : String(err);
  };
  const pending: Array<{ dir: string; recurse: boolean }> = [
    { dir: root, recurse: false },
    { dir: join(root, 'logs'), recurse: true },
  ];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (stop()) {
      result.stopped = true;
      break;
    }
    let entries: Dirent[];
    try {
      entries = await readdir(next.dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') fail(err);
      continue;
    }
    for (const e of entries) {
      if (e.isDirectory()) {
        if (next.recurse) pending.push({ dir: join(next.dir, e.name), recurse: true });
      } else if (
        e.isFile() &&
        isLeftoverTempName(e.name) &&
        !(next.dir === root && e.name.startsWith('.#LOCK.'))
      ) {
        try {
          await unlink(join(next.dir, e.name));
          result.removed++;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') fail(err);
        }
      }
    }
  }
  return result;
}
