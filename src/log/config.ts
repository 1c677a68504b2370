/** Tuning of the append path; every field documented, defaults chosen for one process on one disk. */
export interface SequencerConfig {
  /** Most events committed (one journal write + one fsync) together. */
  maxBatchEvents: number;
  /** Most record bytes committed together. */
  maxBatchBytes: number;
  /**
   * How long the sequencer may wait for more events before committing a non-full batch, in ms.
   * 0 = commit as soon as the previous commit finished (requests arriving during one fsync share
   * the next), which gives the lowest latency and still batches under load.
   */
  maxBatchAgeMs: number;
  /** Events waiting to be sequenced beyond which `add` fails fast with `log.pushback`. */
  maxQueuedEvents: number;
}

export interface IntegratorConfig {
  /** Interval between integrations (tiles, bundles, signed checkpoint), in ms. */
  intervalMs: number;
  /**
   * Entries waiting for integration that start one at once, without waiting for the interval: under
   * heavy load integrations stay small and checkpoints keep up (ack → checkpoint latency stays
   * below the interval plus one small integration).
   */
  maxPending: number;
}

export interface EngineConfig {
  sequencer: SequencerConfig;
  integrator: IntegratorConfig;
}

export const defaultEngineConfig: EngineConfig = {
  sequencer: {
    maxBatchEvents: 10_000,
    maxBatchBytes: 16 * 1024 * 1024,
    maxBatchAgeMs: 0,
    maxQueuedEvents: 200_000,
  },
  integrator: { intervalMs: 1000, maxPending: 8192 },
};

export function resolveEngineConfig(partial?: {
  sequencer?: Partial<SequencerConfig>;
  integrator?: Partial<IntegratorConfig>;
}): EngineConfig {
  const cfg: EngineConfig = {
    sequencer: { ...defaultEngineConfig.sequencer, ...partial?.sequencer },
    integrator: { ...defaultEngineConfig.integrator, ...partial?.integrator },
  };
  const positive: Array<[string, number]> = [
    ['sequencer.maxBatchEvents', cfg.sequencer.maxBatchEvents],
    ['sequencer.maxBatchBytes', cfg.sequencer.maxBatchBytes],
    ['sequencer.maxQueuedEvents', cfg.sequencer.maxQueuedEvents],
    ['integrator.intervalMs', cfg.integrator.intervalMs],
    ['integrator.maxPending', cfg.integrator.maxPending],
  ];
  for (const [name, v] of positive) {
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new RangeError(`config ${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isSafeInteger(cfg.sequencer.maxBatchAgeMs) || cfg.sequencer.maxBatchAgeMs < 0) {
    throw new RangeError('config sequencer.maxBatchAgeMs must be a non-negative integer');
  }
  if (cfg.sequencer.maxQueuedEvents < cfg.sequencer.maxBatchEvents) {
    throw new RangeError('config sequencer.maxQueuedEvents must be at least sequencer.maxBatchEvents');
  }
  return cfg;
}
