/**
 * A log's verification report as `indelible verify --json` prints it: snake_case, as the HTTP API,
 * export files and the other verify forms (`--url`, `--export`, `--receipt`) write their fields.
 */
import type { LogReport } from '../log/verify.js';

export function logReportJson(r: LogReport & { lockedObjects?: number }): Record<string, unknown> {
  return {
    log: r.log,
    tree_size: r.treeSize,
    checkpoints: r.checkpoints,
    root_hash: r.rootHash,
    minimum_index: r.minimumIndex,
    pending: r.pending,
    torn_bytes: r.tornBytes,
    ...(r.lockedObjects === undefined ? {} : { locked_objects: r.lockedObjects }),
  };
}
