/**
 * A task run on demand and on an interval, never two at once: `run` joins a run in progress, a tick
 * that finds one running is skipped, and `stop` waits for it. Shared by the archive and retention
 * schedules (ArchivedDriver, RetentionService).
 */
export class Schedule<T> {
  #running: Promise<T> | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** `what` names the schedule in errors. */
  constructor(
    private readonly task: () => Promise<T>,
    private readonly what: string,
  ) {}

  /** Runs the task now, or joins the run in progress. */
  run(): Promise<T> {
    this.#running ??= this.task().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Runs the task every `intervalMs` (≥ 1000); a second start is a no-op. */
  start(intervalMs: number): void {
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1000) {
      throw new RangeError(`${this.what} interval must be an integer of at least 1000 ms`);
    }
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#running === undefined) this.run().catch(() => undefined);
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops the interval and waits for a run in progress (its failure is the run's caller's). */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
  }
}
