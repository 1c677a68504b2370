/**
 * Runs retention pruning (pruner.ts) for every log of the engine, once (`runOnce`) or on a timer
 * (`start`). Runs never overlap; one failing log is logged and does not stop the others; `close`
 * waits for a run in progress.
 */
import type { Engine } from '../log/engine.js';
import { type Clock, type Logger, silentLogger } from '../log/types.js';
import { type ArchiveDeleter, type PruneDecision, type PruneReport, pruneLog } from './pruner.js';
import { Schedule } from './schedule.js';

export interface RetentionServiceOptions {
  engine: Engine;
  clock?: Clock;
  logger?: Logger;
  /**
   * The archive of a log, when it has one: pruned bundles are deleted there too once unlocked. It
   * must be the log's own target (ArchivedDriver: the store of the log's opened archiver).
   */
  archiveOf?: (log: string) => Promise<ArchiveDeleter | undefined> | ArchiveDeleter | undefined;
  /** Records each decision in `_audit`. */
  audit?: (log: string, decision: PruneDecision) => void;
  /** Told of each log's failed run (after it is logged): the monitor alerts on damaged data. */
  onFailure?: (log: string, error: unknown) => void;
}

export type RetentionRunResult = PruneReport | { log: string; error: unknown };

export class RetentionService {
  readonly #schedule = new Schedule(() => this.#runAll(), 'retention');
  #closed = false;

  constructor(private readonly o: RetentionServiceOptions) {}

  /** One pruning run over every log (or the run in progress). */
  runOnce(): Promise<RetentionRunResult[]> {
    return this.#schedule.run();
  }

  async #runAll(): Promise<RetentionRunResult[]> {
    const results: RetentionRunResult[] = [];
    const logger = this.o.logger ?? silentLogger;
    for (const { name } of this.o.engine.listLogs()) {
      if (this.#closed) break;
      try {
        const archive = await this.o.archiveOf?.(name);
        results.push(
          await pruneLog({
            engine: this.o.engine,
            log: name,
            ...(archive ? { archive } : {}),
            ...(this.o.clock ? { clock: this.o.clock } : {}),
            ...(this.o.logger ? { logger: this.o.logger } : {}),
            ...(this.o.audit ? { audit: this.o.audit } : {}),
          }),
        );
      } catch (error) {
        logger.error({ err: error, log: name }, 'retention run failed; will retry');
        try {
          this.o.onFailure?.(name, error);
        } catch (observerErr) {
          logger.error({ err: observerErr }, 'the retention failure observer threw');
        }
        results.push({ log: name, error });
      }
    }
    return results;
  }

  /** Runs `runOnce` every `intervalMs` (a tick is skipped while a run is in progress). */
  start(intervalMs: number): void {
    this.#schedule.start(intervalMs);
  }

  /** Stops the timer and waits for a run in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#schedule.stop();
  }
}
