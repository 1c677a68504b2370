/**
 * Retention pruning of one log (issue 7; C2SP tlog-tiles "Pruning"): once entries are older than the
 * log's `retention.max` — and never while a legal hold is set, nor before `retention.min` — whole
 * entry bundles below a new *minimum index* are removed, without changing the tree: hash tiles stay,
 * so inclusion proofs for the remaining entries and consistency proofs across the prune keep
 * verifying, and `indelible verify` accepts the missing prefix only under a valid prune statement.
 *
 * One run (`pruneLog`), each step durable before the next:
 *  1. read the policy; a legal hold stops the run here (no decision, no deletion) — and it is read
 *     again before the commit and before every deletion, each under the policy lock with what it
 *     guards, so a hold set during a run stops it there and no deletion outlives the hold's answer;
 *     a retention change made during the run (a longer min, no max) stops it before the commit too;
 *  2. an entry is due once older than max(retention.max, the retention.min binding it — the current
 *     one, or a longer one in force when it was received: log-policy.ts `minRetentionFor`); the new
 *     minimum index M is the end of the longest run of full, integrated bundles from the current
 *     minimum whose entries are all due (at most `maxBundlesPerRun` bundles per run);
 *  3. if M grew: sign a prune statement (core/prune-statement.ts) at the latest checkpoint, append it
 *     to the log itself as a record (action `indelible.retention.prune`) and wait for a checkpoint
 *     covering it, so the statement is committed to by the tree before anything is removed;
 *  4. save the prune state {M, statement index} (compare-and-swap) — the commit point — then raise the
 *     log's minimum index (reads below M now answer `log.pruned`) and delete the index rows below M;
 *     record the decision in `_audit` (the `audit` hook);
 *  5. delete the local entry bundles below M — full ones and any partial ones an integration left
 *     (clearing the immutable flag where set) — and, with an archive, their S3 objects whose
 *     COMPLIANCE lock has expired; progress is saved, so a crash or a still-locked object only defers
 *     the rest to the next run.
 *
 * A crash between 3 and 4 leaves a statement in the log that was never applied: harmless (the next
 * run appends a new one), and verify only trusts the statement the prune state names.
 */
import { isRfc3339DateTime } from '../core/event.js';
import { PRUNE_ACTION, PRUNE_GRANULE } from '../core/prune-statement.js';
import { parseRecord } from '../core/record.js';
import { entriesPath } from '../core/tile.js';
import type { Engine } from '../log/engine.js';
import { type Clock, type Logger, silentLogger, systemClock } from '../log/types.js';
import type { StateStore } from '../storage/types.js';
import { RetentionError } from './errors.js';
import {
  deleteUnlessHeld,
  type LogPolicy,
  minRetentionFor,
  policyLock,
  readLogPolicy,
} from './log-policy.js';
import { encodePruneState, PRUNE_STATE_KEY, type PruneState, readPruneState } from './prune-state.js';
import { noteSize } from './sealed-objects.js';

/** Progress of step 5, beside `prune` in the log's state store. */
export const PRUNE_PROGRESS_KEY = 'prune-progress';

/** What the archive must offer to prune (S3BlobStore: storage/s3/s3-blob-store.ts). */
export interface ArchiveDeleter {
  /**
   * Deletes every version of the sealed object `key` (a log-relative key such as
   * `tile/entries/000`) if none is still locked or held; never sends a delete the lock would refuse.
   */
  deleteSealed(
    key: string,
  ): Promise<{ status: 'deleted' | 'absent' | 'held' } | { status: 'locked'; until: Date }>;
  /** Writes a mutable (unlocked) object: the prune state is published as `prune` for `verify --s3`. */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Reads an object (the archive's latest `checkpoint`: how far the archive reaches). */
  get(key: string): Promise<Uint8Array | undefined>;
}

export interface PruneDecision {
  minimumIndex: number;
  statementIndex: number;
  treeSize: number;
  receivedBefore: string;
  statement: string;
}

export interface PruneReport {
  log: string;
  /**
   * `held`: a legal hold blocked the run; `no_max`: no retention.max; `pruned`: M grew this run;
   * `policy_changed`: the retention policy changed while the run decided, so it pruned nothing (the
   * next run decides under the new policy).
   */
  status: 'held' | 'no_max' | 'nothing_due' | 'pruned' | 'policy_changed';
  minimumIndex: number;
  decision?: PruneDecision;
  deletedLocal: number;
  deletedArchived: number;
  /** The archived bundle the run stopped at because its lock has not expired yet. */
  archiveLockedUntil?: Date;
  /** True when the archive does not hold the prune statement yet (the archiver has not reached it). */
  archiveBehind?: boolean;
}

export interface PruneOptions {
  engine: Engine;
  log: string;
  archive?: ArchiveDeleter;
  clock?: Clock;
  logger?: Logger;
  /** Records the decision in `_audit` (the monitor). */
  audit?: (log: string, decision: PruneDecision) => void;
  /** Bundles examined per run at most (default 4096, about a million entries). */
  maxBundlesPerRun?: number;
  /** Test seam: runs under the policy lock, after the last policy check, just before the commit. */
  beforeCommit?: () => Promise<void>;
}

interface Progress {
  /** Local bundles below this were deleted. */
  localBelow: number;
  /** Archived bundles below this were deleted. */
  archiveBelow: number;
  /** The minimum index whose prune state was published to the archive (0: none). */
  archivePublished?: number;
}

/** One pruning run of `log`; see the module comment. */
export async function pruneLog(o: PruneOptions): Promise<PruneReport> {
  const clock = o.clock ?? systemClock;
  const logger = o.logger ?? silentLogger;
  const state = o.engine.stateOf(o.log);
  const { policy } = await readLogPolicy(state);
  let { prune, version } = await readPruneState(state);
  const report: PruneReport = {
    log: o.log,
    status: 'nothing_due',
    minimumIndex: prune?.minimumIndex ?? 0,
    deletedLocal: 0,
    deletedArchived: 0,
  };
  if (policy.legalHold !== null) return { ...report, status: 'held' };
  if (policy.retentionMaxMs === null) report.status = 'no_max';
  else {
    const now = clock.now();
    const maxMs = policy.retentionMaxMs;
    const due = (receivedMs: number) =>
      receivedMs < now - Math.max(maxMs, minRetentionFor(policy, receivedMs));
    const target = await dueMinimumIndex(o, report.minimumIndex, due);
    if (target > report.minimumIndex) {
      // Every pruned entry is older than the current max(retention.max, retention.min) at least.
      const receivedBefore = new Date(now - Math.max(maxMs, policy.retentionMinMs)).toISOString();
      const decision = await decide(o, target, receivedBefore);
      // The scan and the statement take time (bundles read back from S3, a checkpoint to wait for):
      // what was decided must still be what the policy allows at the commit. The check and the
      // commit hold the policy lock, so a hold set in between waits for the commit (and then
      // stops the deletions) instead of being overtaken by it.
      const outcome = await policyLock.run(o.log, async () => {
        const current = (await readLogPolicy(state)).policy;
        if (current.legalHold !== null) return 'held' as const;
        if (!sameRetention(policy, current)) return 'policy_changed' as const;
        await o.beforeCommit?.();
        return commit(state, version, decision, new Date(clock.now()).toISOString());
      });
      if (outcome === 'held') return { ...report, status: 'held' };
      if (outcome === 'policy_changed') {
        logger.info(
          { log: o.log },
          'retention policy changed during a prune run; nothing pruned, the next run decides again',
        );
        return { ...report, status: 'policy_changed' };
      }
      prune = outcome;
      report.status = 'pruned';
      report.decision = decision;
      report.minimumIndex = target;
      logger.info({ log: o.log, minimumIndex: target }, 'pruned entries past retention.max');
      o.audit?.(o.log, decision);
    }
  }
  // Raising the log's minimum index is idempotent; it covers a crash between commit and here.
  if (prune !== null) await o.engine.pruneBefore(o.log, prune.minimumIndex);
  await deleteBundles(o, state, report);
  return report;
}

/** True when two policies prune alike (retention.max, retention.min and its floors). */
function sameRetention(a: LogPolicy, b: LogPolicy): boolean {
  return (
    a.retentionMaxMs === b.retentionMaxMs &&
    a.retentionMinMs === b.retentionMinMs &&
    JSON.stringify(a.retentionMinFloors) === JSON.stringify(b.retentionMinFloors)
  );
}

/** True when a legal hold is set now (re-read: a hold may be set while a run is in progress). */
async function heldNow(state: StateStore): Promise<boolean> {
  return (await readLogPolicy(state)).policy.legalHold !== null;
}

/** The end of the run of due full bundles starting at `from` (a multiple of 256). */
async function dueMinimumIndex(
  o: PruneOptions,
  from: number,
  due: (receivedMs: number) => boolean,
): Promise<number> {
  const log = o.engine.log(o.log);
  const integrated = log.treeSize;
  const limit = o.maxBundlesPerRun ?? 4096;
  let m = from;
  for (let n = 0; n < limit && m + PRUNE_GRANULE <= integrated; n++) {
    const records = await log.readRecords(m, m + PRUNE_GRANULE, { cache: false });
    // Every entry of the bundle must be past the cutoff: received_at need not be monotonic.
    const expired = records.every((bytes) => due(Date.parse(receivedAt(bytes, o.log))));
    if (!expired) break;
    m += PRUNE_GRANULE;
  }
  return m;
}

function receivedAt(bytes: Uint8Array, log: string): string {
  const at = parseRecord(bytes).received_at;
  if (!isRfc3339DateTime(at)) {
    throw new RetentionError('retention.bad_local_object', `log ${log}: a record has no valid received_at`);
  }
  return at;
}

/** Signs the statement, appends it to the log and waits until a checkpoint covers it. */
async function decide(o: PruneOptions, minimumIndex: number, receivedBefore: string): Promise<PruneDecision> {
  const log = o.engine.log(o.log);
  const treeSize = log.treeSize;
  const statement = log.signPruneStatement(minimumIndex, receivedBefore);
  const { entries } = await o.engine.append(o.log, [
    {
      action: PRUNE_ACTION,
      actor: { id: 'indelible', type: 'system' },
      target: { id: o.log, type: 'log' },
      outcome: 'success',
      source: { service: 'indelible' },
      metadata: {
        minimum_index: minimumIndex,
        tree_size: treeSize,
        received_before: receivedBefore,
        statement,
      },
    },
  ]);
  const statementIndex = entries[0]!.index;
  await log.checkpointCovering(statementIndex + 1);
  return { minimumIndex, statementIndex, treeSize, receivedBefore, statement };
}

/**
 * The commit point: the prune state names the new minimum index and its statement. The swap quotes
 * the version read at the start of the run, so a concurrent run can never move it back.
 */
async function commit(
  state: StateStore,
  version: string | undefined,
  d: PruneDecision,
  prunedAt: string,
): Promise<PruneState> {
  const next: PruneState = { minimumIndex: d.minimumIndex, statementIndex: d.statementIndex, prunedAt };
  await state.compareAndSwap(PRUNE_STATE_KEY, version, encodePruneState(next));
  return next;
}

/** Step 5: deletes bundles below the minimum index, locally and (once unlocked) in the archive. */
async function deleteBundles(o: PruneOptions, state: StateStore, report: PruneReport): Promise<void> {
  const end = report.minimumIndex / PRUNE_GRANULE;
  const stored = await state.read(PRUNE_PROGRESS_KEY);
  const progress = stored ? parseProgress(stored.value) : { localBelow: 0, archiveBelow: 0 };
  const before = { ...progress };
  const blobs = o.engine.blobsOf(o.log);
  for (; progress.localBelow < end; progress.localBelow++) {
    const full = entriesPath(progress.localBelow);
    const done = await deleteUnlessHeld(o.log, state, async () => {
      // Partial bundles an integration wrote while this one filled up hold the same entries.
      for (const key of [full, ...(await blobs.list(`${full}.p/`))]) {
        await blobs.delete(key, { retention: true });
      }
    });
    if (done === 'held') break;
    report.deletedLocal++;
  }
  const archive = o.archive;
  if (archive && progress.archiveBelow < end && !(await heldNow(state))) {
    // The archive gets the prune state (a mutable object) before it loses a bundle: `verify --s3`
    // accepts the missing prefix from it, under the statement it names — which must be archived
    // (locked) first, so the deletions wait until the archiver has passed the statement.
    if (progress.archivePublished !== report.minimumIndex) {
      const { prune } = await readPruneState(state);
      const archived = await archive.get('checkpoint');
      if (
        prune === null ||
        archived === undefined ||
        noteSize(archived, 'the archived checkpoint') <= prune.statementIndex
      ) {
        report.archiveBehind = true;
      } else {
        await archive.put(PRUNE_STATE_KEY, encodePruneState(prune));
        progress.archivePublished = report.minimumIndex;
      }
    }
    for (; !report.archiveBehind && progress.archiveBelow < end; progress.archiveBelow++) {
      const key = entriesPath(progress.archiveBelow);
      const done = await deleteUnlessHeld(o.log, state, () => archive.deleteSealed(key));
      if (done === 'held') break;
      const r = done.result;
      if (r.status === 'locked') {
        report.archiveLockedUntil = r.until;
        break;
      }
      // An S3 legal hold on the object (the sweep of a hold set since the run started).
      if (r.status === 'held') break;
      if (r.status === 'deleted') report.deletedArchived++;
    }
  }
  if (
    progress.localBelow !== before.localBelow ||
    progress.archiveBelow !== before.archiveBelow ||
    progress.archivePublished !== before.archivePublished
  ) {
    await state.compareAndSwap(
      PRUNE_PROGRESS_KEY,
      stored?.version,
      Buffer.from(JSON.stringify(progress), 'utf8'),
    );
  }
}

function parseProgress(bytes: Uint8Array): Progress {
  const p = JSON.parse(Buffer.from(bytes).toString('utf8')) as Partial<Progress>;
  const ok = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (
    !ok(p.localBelow) ||
    !ok(p.archiveBelow) ||
    (p.archivePublished !== undefined && !ok(p.archivePublished))
  ) {
    throw new RetentionError('retention.invalid_prune_state', 'the stored pruning progress is damaged');
  }
  return p as Progress;
}
