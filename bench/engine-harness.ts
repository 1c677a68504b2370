/**
 * The engine benchmark's harness: prepared batches, the writer loops that drive a store, the NDJSON
 * group-commit baseline, and opening the engine (the real data directory, or the diagnostic
 * composition with a search index that stores nothing).
 */
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { initDataDir, openDataDir } from '../src/app/data-dir.js';
import type { SearchIndex } from '../src/index/types.js';
import { Engine } from '../src/log/engine.js';
import { appendRetrying as appendToLog, sampleEvent } from '../src/log/test-helpers.js';
import { silentLogger } from '../src/log/types.js';
import { createLocalDriver } from '../src/storage/local/local-driver.js';
import { percentile } from './measure.js';
import { scratchDir } from './scratch.js';

export const BATCH = 100;
export const EVENT_BYTES = 400;
export const POOL_BATCHES = 100;
export const LOG = 'bench';

/** Pre-built batches (10,000 distinct events) so event generation is not timed on either side. */
export const pool: Record<string, unknown>[][] = Array.from({ length: POOL_BATCHES }, (_, b) =>
  Array.from({ length: BATCH }, (_, i) => sampleEvent(b * BATCH + i, EVENT_BYTES)),
);

/** A fresh data directory for one run (bench/scratch.ts says when it is deleted). */
export function benchDir(): string {
  return scratchDir('engine');
}

export interface Shape {
  label: string;
  writers: number;
  events: number;
  /** Events/s to pace at (all writers together); undefined = as fast as acks come back. */
  pace?: number;
}

export interface RunFigures {
  shape: Shape;
  eventsPerSec: number;
  seconds: number;
  /** Time from submitting a batch to its ack, ms. */
  ackP50: number;
  ackP99: number;
}

/**
 * Runs `writers` loops that each submit the next batch and await its ack until `events` are acked.
 * `onAck(batch, lastIndex)` sees every ack in the order they arrive. If it returns a promise, every
 * writer waits for it before submitting another batch (batches already submitted complete), and that
 * pause is not counted in the run's time: the memory samples use it to let the search index catch up.
 */
export async function drive(
  shape: Shape,
  append: (events: Record<string, unknown>[]) => Promise<number>,
  onAck?: (acked: number, lastIndex: number) => Promise<void> | undefined,
): Promise<RunFigures> {
  const batches = Math.ceil(shape.events / BATCH);
  const ackMs = new Float64Array(batches);
  let issued = 0;
  let acked = 0;
  let paused: Promise<void> | undefined;
  let pausedMs = 0;
  const start = performance.now();
  const writer = async () => {
    for (;;) {
      while (paused !== undefined) await paused;
      const b = issued++;
      if (b >= batches) return;
      if (shape.pace !== undefined) {
        const due = start + pausedMs + (b * BATCH * 1000) / shape.pace;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        // A pause that began while this writer slept holds it too.
        while (paused !== undefined) await paused;
      }
      const t0 = performance.now();
      const lastIndex = await append(pool[b % POOL_BATCHES]!);
      ackMs[acked++] = performance.now() - t0;
      // The sample's own first step (gc, under-load figures) runs inside onAck: part of the pause.
      const from = performance.now();
      const pause = onAck?.(acked * BATCH, lastIndex);
      if (pause !== undefined) {
        // Pauses never overlap: a second one waits for the first (and is timed from its own start).
        const previous = paused ?? Promise.resolve();
        const current: Promise<void> = previous
          .then(() => pause)
          .finally(() => {
            pausedMs += performance.now() - from;
            if (paused === current) paused = undefined;
          });
        paused = current;
      }
    }
  };
  await Promise.all(Array.from({ length: shape.writers }, writer));
  const seconds = (performance.now() - start - pausedMs) / 1000;
  return {
    shape,
    eventsPerSec: (batches * BATCH) / seconds,
    seconds,
    ackP50: percentile(ackMs, 50),
    ackP99: percentile(ackMs, 99),
  };
}

/**
 * The baseline store: NDJSON lines appended to one file, one write + fdatasync per commit, and a
 * commit takes every batch that queued up while the previous one was in flight.
 */
export class NdjsonGroupCommit {
  #queue: Array<{ text: string; resolve: () => void; reject: (e: unknown) => void }> = [];
  #running = false;
  #next = 0;

  constructor(private readonly fh: FileHandle) {}

  append(events: Record<string, unknown>[]): Promise<number> {
    let text = '';
    for (const e of events) text += `${JSON.stringify(e)}\n`;
    this.#next += events.length;
    const last = this.#next - 1;
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ text, resolve, reject });
      if (!this.#running) void this.#run();
    }).then(() => last);
  }

  async #run(): Promise<void> {
    this.#running = true;
    while (this.#queue.length > 0) {
      const group = this.#queue;
      this.#queue = [];
      try {
        await this.fh.write(group.map((g) => g.text).join(''));
        await this.fh.datasync();
        for (const g of group) g.resolve();
      } catch (err) {
        for (const g of group) g.reject(err);
      }
    }
    this.#running = false;
  }
}

export async function runBaseline(shape: Shape): Promise<RunFigures> {
  const dir = benchDir();
  const fh = await open(join(dir, 'events.ndjson'), 'a');
  try {
    const store = new NdjsonGroupCommit(fh);
    return await drive(shape, (events) => store.append(events));
  } finally {
    await fh.close();
  }
}

/**
 * Diagnostic only: a search index that stores nothing (coverage is tracked so recovery and
 * `indexLag` behave). Comparing the engine with it and with SQLite prices the index feed.
 */
export function nullIndex(): SearchIndex {
  const covered = new Map<string, number>();
  return {
    add(log, entries) {
      const last = entries[entries.length - 1];
      if (last) covered.set(log, last.index + 1);
    },
    query(log) {
      return { events: [], nextCursor: null, coveredSize: covered.get(log) ?? 0 };
    },
    coveredSize: (log) => covered.get(log) ?? 0,
    findById: () => undefined,
    pruneBefore() {},
    reset(log) {
      covered.delete(log);
    },
    verifyAgainst: async () => undefined,
    close() {},
  };
}

/**
 * `engine.append(LOG, events)` as a client does it: a `log.pushback` (the search index too far
 * behind; HTTP: 503 + Retry-After) waits 10 ms and retries, told to `onPushback`. Resolves with the
 * index of the batch's last entry.
 */
export async function appendRetrying(
  engine: Engine,
  events: Record<string, unknown>[],
  onPushback?: () => void,
): Promise<number> {
  const { entries } = await appendToLog(engine, LOG, events, onPushback);
  return entries[entries.length - 1]!.index;
}

export interface OpenedEngine {
  engine: Engine;
  close(): Promise<void>;
}

/** The real composition (`initDataDir` + `openDataDir`), or the diagnostic one without an index. */
export async function openEngine(dir: string, index: 'sqlite' | 'none'): Promise<OpenedEngine> {
  if (index === 'sqlite') {
    await initDataDir(dir);
    const dd = await openDataDir(dir, { logger: silentLogger });
    return { engine: dd.engine, close: () => dd.close() };
  }
  const driver = await createLocalDriver({ root: dir, immutableFlag: false, logger: silentLogger });
  const engine = await Engine.open({
    driver,
    index: nullIndex(),
    originPrefix: 'bench.local',
    logger: silentLogger,
  });
  return { engine, close: () => engine.close() };
}
