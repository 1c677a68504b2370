/**
 * Periodic checks of every log's progress (`integration_stalled`, `checkpoint_stale`) and the state
 * behind the per-log gauges.
 *
 * - Integration stalled: entries are durable but not in a signed checkpoint (size > tree size), and
 *   the tree size has not grown for `stalledMs`; or events wait to be sequenced and the size has not
 *   grown for `stalledMs`. The clock starts when the work appeared or progress was last seen,
 *   whichever is later, so an idle log that receives one event is not "stalled since yesterday".
 * - Checkpoint stale: the tree size has not changed for `maxAgeMs` (a producer that went silent).
 * Both fire once per episode and re-arm when the log moves again.
 *
 * Checkpoints carry no time (C2SP tlog-checkpoint), so a checkpoint's age is the time since this
 * process saw its tree size change, or since the monitor started.
 */
import type { RulesConfig } from './config.js';
import type { Raise } from './rules.js';

export interface LogProgress {
  name: string;
  /** Durable entries. */
  size: number;
  /** Tree size of the latest signed checkpoint. */
  treeSize: number;
  /** Events waiting to be sequenced. */
  queueDepth: number;
}

interface State {
  size: number;
  treeSize: number;
  treeChangedAt: number;
  sizeChangedAt: number;
  unintegratedSince: number | undefined;
  queuedSince: number | undefined;
  stalled: boolean;
  stale: boolean;
}

export class LogWatch {
  private readonly logs = new Map<string, State>();

  constructor(
    private readonly rules: Pick<RulesConfig, 'integration_stalled' | 'checkpoint_stale'>,
    private readonly raise: Raise,
  ) {}

  /** Updates the state of every log from a snapshot taken at `now` and raises what is due. */
  observe(snapshot: Iterable<LogProgress>, now: number): void {
    const seen = new Set<string>();
    for (const p of snapshot) {
      seen.add(p.name);
      const s = this.update(p, now);
      this.checkStalled(p, s, now);
      this.checkStale(p, s, now);
    }
    for (const name of this.logs.keys()) if (!seen.has(name)) this.logs.delete(name);
  }

  /** Ms since the log's tree size last changed (or since the monitor first saw the log). */
  checkpointAgeMs(name: string, now: number): number | undefined {
    const s = this.logs.get(name);
    return s === undefined ? undefined : Math.max(0, now - s.treeChangedAt);
  }

  private update(p: LogProgress, now: number): State {
    let s = this.logs.get(p.name);
    if (s === undefined) {
      s = {
        size: p.size,
        treeSize: p.treeSize,
        treeChangedAt: now,
        sizeChangedAt: now,
        unintegratedSince: undefined,
        queuedSince: undefined,
        stalled: false,
        stale: false,
      };
      this.logs.set(p.name, s);
    }
    if (p.treeSize !== s.treeSize) {
      s.treeSize = p.treeSize;
      s.treeChangedAt = now;
      s.stale = false;
    }
    if (p.size !== s.size) {
      s.size = p.size;
      s.sizeChangedAt = now;
    }
    if (p.size > p.treeSize) s.unintegratedSince ??= now;
    else s.unintegratedSince = undefined;
    if (p.queueDepth > 0) s.queuedSince ??= now;
    else s.queuedSince = undefined;
    return s;
  }

  private checkStalled(p: LogProgress, s: State, now: number): void {
    const rule = this.rules.integration_stalled;
    const integrationWait =
      s.unintegratedSince === undefined ? undefined : now - Math.max(s.unintegratedSince, s.treeChangedAt);
    const sequencingWait =
      s.queuedSince === undefined ? undefined : now - Math.max(s.queuedSince, s.sizeChangedAt);
    const stage =
      integrationWait !== undefined && integrationWait >= rule.stalledMs
        ? { stage: 'integration', waited_ms: integrationWait }
        : sequencingWait !== undefined && sequencingWait >= rule.stalledMs
          ? { stage: 'sequencing', waited_ms: sequencingWait }
          : undefined;
    if (stage === undefined) {
      s.stalled = false;
      return;
    }
    if (s.stalled || !rule.enabled) return;
    s.stalled = true;
    this.raise(
      'integration_stalled',
      `log:${p.name}`,
      {
        ...stage,
        size: p.size,
        tree_size: p.treeSize,
        queue_depth: p.queueDepth,
        threshold_ms: rule.stalledMs,
      },
      undefined,
    );
  }

  private checkStale(p: LogProgress, s: State, now: number): void {
    const rule = this.rules.checkpoint_stale;
    if (!rule.enabled || s.stale || now - s.treeChangedAt < rule.maxAgeMs) return;
    s.stale = true;
    this.raise(
      'checkpoint_stale',
      `log:${p.name}`,
      { tree_size: p.treeSize, age_ms: now - s.treeChangedAt, threshold_ms: rule.maxAgeMs },
      undefined,
    );
  }
}
