/**
 * A storage driver that archives: it wraps the local driver so that each log's blobs are a
 * TieredBlobStore (local, then the S3 archive for evicted objects) and owns one Archiver per log.
 * The composition root opens it instead of the bare local driver when `archive` is configured:
 *
 *   const driver = await openArchivedDriver({ local, s3: { bucket, prefix, … }, policy });
 *   const engine = await Engine.open({ driver, … });
 *   driver.start(60 * 60_000);           // archive + evict every hour
 *
 * At open the bucket's Object Lock configuration is checked (a bucket without it is refused with
 * `storage.object_lock_missing`) and every log's cursor is loaded, so reads of evicted data work
 * from the engine's first read on (its recovery reads old tiles).
 *
 * `policy` holds the server's defaults (config `archive.retentionMin/archiveAfter`) for logs
 * without a stored policy. Each log's state store, as the engine and the API see it, shows such a
 * log's policy with these defaults (PolicyStateStore), so `GET …/policy` tells what the archiver
 * applies and a first change (a legal hold, say) starts from them instead of the built-in ones.
 * A successful write of a log's policy also starts that log's legal-hold sync at once (in the
 * background, serialized with its archive runs), so a hold reaches S3 without waiting for the
 * next scheduled run.
 *
 * A log may name its own archive target (policy `archive.target`: bucket and prefix, on the same S3
 * connection); its objects then live there in the same layout. The target bucket's Object Lock is
 * checked before its first use (a failure fails that log's archiver, so its archive runs report it),
 * and a policy write that changes the target is checked first (PolicyStateStore): refused with
 * `retention.archive_moved` once the log's cursor shows anything archived (its data would be split
 * across buckets), and with `retention.invalid_policy` when the new bucket has no Object Lock. The
 * log's archiver is then reopened for the new target (after its queued work), so reads of evicted
 * data and every upload go to the log's own target.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { type Clock, type Logger, silentLogger, systemClock } from '../log/types.js';
import { checkBucketObjectLock } from '../storage/s3/lock-check.js';
import { S3BlobStore } from '../storage/s3/s3-blob-store.js';
import {
  createS3Client,
  type ResolvedS3Config,
  resolveS3Config,
  type S3Config,
} from '../storage/s3/s3-client.js';
import type { LogStorage, StateStore, StorageDriver, Versioned } from '../storage/types.js';
import { CURSOR_KEY, parseCursor } from './archive-cursor.js';
import { type ArchiveEvent, type ArchiveReport, Archiver, type EvictReport } from './archiver.js';
import { RetentionError } from './errors.js';
import type { LegalHoldReport } from './legal-hold-sync.js';
import {
  type ArchiveTarget,
  defaultLogPolicy,
  type LogPolicy,
  POLICY_STATE_KEY,
  parseStoredPolicy,
  policyToWire,
  readLogPolicy,
  sameArchiveTarget,
} from './log-policy.js';
import type { ArchiverPolicy } from './policy.js';
import { Schedule } from './schedule.js';
import { TieredBlobStore } from './tiered-blob-store.js';

export interface ArchivedDriverOptions {
  /** The driver that holds the logs (journal, state, and the hot copy of every blob). */
  local: StorageDriver;
  s3: S3Config;
  /** An existing client for `s3` (tests); otherwise one is created and destroyed on close. */
  client?: S3Client;
  /** Defaults for logs without a stored policy (see above). */
  policy: ArchiverPolicy;
  clock?: Clock;
  logger?: Logger;
  /** Uploads in flight per log (default 8). */
  concurrency?: number;
  onEvent?: (log: string, event: ArchiveEvent) => void;
}

/** One log's archive runs (archive, then evict) since the process started. */
export interface ArchiveRunStats {
  log: string;
  succeeded: number;
  failed: number;
  /** When the current streak of failed runs began (ms), undefined after a success. */
  failingSince: number | undefined;
  lastSuccessAt: number | undefined;
  /** When this process first started an archive run of the log (ms): the clock before any success. */
  watchedSince: number;
  /** After the last successful run: the tree size the archive alone verifies, and the eviction watermark. */
  archivedSize: number;
  evictedSize: number;
}

export interface LogRunResult {
  log: string;
  legalHold?: LegalHoldReport;
  archive?: ArchiveReport;
  evict?: EvictReport;
  error?: unknown;
}

export async function openArchivedDriver(options: ArchivedDriverOptions): Promise<ArchivedDriver> {
  const config = resolveS3Config(options.s3);
  const owned = options.client === undefined;
  const client = options.client ?? createS3Client(config);
  try {
    const lock = await checkBucketObjectLock(client, config.bucket);
    if (lock.defaultRetention !== undefined) {
      (options.logger ?? silentLogger).warn(
        { bucket: config.bucket, defaultRetention: lock.defaultRetention },
        'the archive bucket has a default retention: every version of the mutable objects will be locked too',
      );
    }
    const driver = new ArchivedDriver(options, config, client, owned);
    for (const name of await options.local.listLogs()) await driver.archiver(name);
    return driver;
  } catch (err) {
    if (owned) client.destroy();
    throw err;
  }
}

export class ArchivedDriver implements StorageDriver {
  readonly #o: ArchivedDriverOptions;
  readonly #config: ResolvedS3Config;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #logs = new Map<string, LogStorage>();
  /** One store per log and target (`<log>\n<bucket>\n<prefix>`). */
  readonly #stores = new Map<string, S3BlobStore>();
  /** Successful Object Lock checks of target buckets (failed ones are retried on next use). */
  readonly #locked = new Map<string, Promise<unknown>>();
  readonly #archivers = new Map<string, Promise<Archiver>>();
  readonly #opened = new Map<string, Archiver>();
  readonly #schedule = new Schedule(() => this.#runAll(), 'archive');
  #failureObserver: ((log: string, error: unknown) => void) | undefined;
  readonly #runStats = new Map<string, ArchiveRunStats>();
  readonly #syncs = new Set<Promise<unknown>>();
  #closed = false;

  constructor(o: ArchivedDriverOptions, config: ResolvedS3Config, client: S3Client, ownsClient: boolean) {
    this.#o = o;
    this.#config = config;
    this.#client = client;
    this.#ownsClient = ownsClient;
  }

  /** The server's configured target (for logs whose policy names none). */
  get defaultTarget(): ArchiveTarget {
    return { bucket: this.#config.bucket, prefix: this.#config.prefix };
  }

  /** The S3 store of one log at one target (created once). */
  #store(name: string, target: ArchiveTarget): S3BlobStore {
    const id = `${name}\n${target.bucket}\n${target.prefix}`;
    let store = this.#stores.get(id);
    if (store === undefined) {
      const clock = this.#o.clock ?? systemClock;
      store = new S3BlobStore({
        client: this.#client,
        bucket: target.bucket,
        prefix: target.prefix,
        log: name,
        retainUntil: () => new Date(clock.now() + this.#o.policy.minMs),
        now: () => clock.now(),
      });
      this.#stores.set(id, store);
    }
    return store;
  }

  log(name: string): LogStorage {
    let storage = this.#logs.get(name);
    if (storage === undefined) {
      const local = this.#o.local.log(name); // validates the name, checks closed
      // Reads of evicted objects go to the target the log's archiver uses (its own, or the
      // server's); before an archiver is open nothing is evicted, so nothing is read from S3.
      const current = () => this.archiveOf(name);
      const blobs = new TieredBlobStore({
        local: local.blobs,
        archive: {
          getSealed: (key) => current().getSealed(key),
          listSealed: (prefix) => current().listSealed(prefix),
        },
        evictedSize: () => this.#opened.get(name)?.evictedSize ?? 0,
      });
      const state = new PolicyStateStore(
        local.state,
        this.#o.policy,
        (policy) => this.#syncSoon(name, policy),
        (before, after) => this.#checkTargetChange(name, local.state, before, after),
      );
      storage = {
        blobs,
        state,
        openJournal: (b) => local.openJournal(b),
        ...(local.scanJournal ? { scanJournal: () => local.scanJournal!() } : {}),
      };
      this.#logs.set(name, storage);
    }
    return storage;
  }

  /**
   * The archive of one log: the store its open archiver uses, else the server's target (retention
   * pruning deletes expired sealed objects through it).
   */
  archiveOf(name: string): S3BlobStore {
    this.log(name);
    return this.#opened.get(name)?.store ?? this.#store(name, this.defaultTarget);
  }

  /** Resolves once `bucket` was seen to have Object Lock (checked once per bucket). */
  #checkLock(bucket: string): Promise<unknown> {
    let check = this.#locked.get(bucket);
    if (check === undefined) {
      check = checkBucketObjectLock(this.#client, bucket);
      check.catch(() => this.#locked.delete(bucket));
      this.#locked.set(bucket, check);
    }
    return check;
  }

  /**
   * Called before a policy write: a change of the log's effective target is refused once its cursor
   * shows archived or sealed data (`retention.archive_moved`), or when the new bucket has no Object
   * Lock or does not exist (`retention.invalid_policy`, field `archive.target`).
   */
  async #checkTargetChange(name: string, state: StateStore, before: LogPolicy, after: LogPolicy) {
    const from = before.archiveTarget ?? this.defaultTarget;
    const to = after.archiveTarget ?? this.defaultTarget;
    if (sameArchiveTarget(from, to)) return;
    const stored = await state.read(CURSOR_KEY);
    const cursor = stored === undefined ? undefined : parseCursor(stored.value);
    if (cursor !== undefined && (cursor.archived > 0 || cursor.sealed > 0)) {
      throw new RetentionError(
        'retention.archive_moved',
        `log ${name} already has data archived to s3://${cursor.bucket}/${cursor.prefix}; ` +
          `its archive target cannot change (the log would be split across buckets)`,
        { details: { log: name, field: 'archive.target', from: cursor.bucket, to: to.bucket } },
      );
    }
    try {
      await this.#checkLock(to.bucket);
    } catch (err) {
      const e = err as { code?: unknown; details?: { reason?: unknown } };
      const refused =
        e.code === 'storage.object_lock_missing' ||
        (e.code === 'storage.io' && e.details?.reason === 'NoSuchBucket');
      if (!refused) throw err;
      throw new RetentionError('retention.invalid_policy', `archive.target ${(err as Error).message}`, {
        cause: err,
        details: { field: 'archive.target' },
      });
    }
  }

  listLogs(): Promise<string[]> {
    return this.#o.local.listLogs();
  }

  /**
   * The archiver of a log, for its current target (policy `archive.target`, else the server's):
   * opened once per target, its cursor loaded, the target bucket's Object Lock checked first. When
   * the target changed, the archiver of the old one finishes its queued work before the new opens.
   */
  archiver(name: string): Promise<Archiver> {
    this.log(name); // validates the name, checks closed
    const previous = this.#archivers.get(name);
    const next = (async () => {
      const local = this.#o.local.log(name);
      const { policy } = await readLogPolicy(local.state);
      const target = policy.archiveTarget ?? this.defaultTarget;
      const old = await previous?.catch(() => undefined);
      if (old !== undefined && old.store === this.#store(name, target)) return old;
      await old?.idle();
      await this.#checkLock(target.bucket);
      const a = await Archiver.open({
        log: name,
        local: local.blobs,
        state: local.state,
        archive: this.#store(name, target),
        policy: this.#o.policy,
        ...(this.#o.clock ? { clock: this.#o.clock } : {}),
        ...(this.#o.logger ? { logger: this.#o.logger } : {}),
        ...(this.#o.concurrency ? { concurrency: this.#o.concurrency } : {}),
        onEvent: (e) => this.#o.onEvent?.(name, e),
      });
      this.#opened.set(name, a);
      return a;
    })();
    this.#archivers.set(name, next);
    return next;
  }

  /**
   * Starts the legal-hold sync of a log in the background (after its policy changed to `policy`).
   * An open archiver of the same target queues it at once, before anything asked after this call.
   */
  #syncSoon(name: string, policy: LogPolicy): void {
    if (this.#closed) return;
    const logger = this.#o.logger ?? silentLogger;
    const open = this.#opened.get(name);
    const same = open?.store === this.#store(name, policy.archiveTarget ?? this.defaultTarget);
    const sync = (
      same ? Promise.resolve(open!.syncLegalHold()) : this.archiver(name).then((a) => a.syncLegalHold())
    )
      .catch((err: unknown) =>
        logger.error({ err, log: name }, 'S3 legal hold sync failed; the next run retries'),
      )
      .finally(() => this.#syncs.delete(sync));
    this.#syncs.add(sync);
  }

  /** Tells `observer` of each log's failed archive run, after it is logged (the monitor's alerts). */
  observeFailures(observer: (log: string, error: unknown) => void): void {
    this.#failureObserver = observer;
  }

  /** Archives and evicts every log once; a failing log is reported and does not stop the others. */
  runOnce(): Promise<LogRunResult[]> {
    return this.#schedule.run();
  }

  /** Each log's archive runs since this process started (the archive metrics: archive-metrics.ts). */
  runStats(): ArchiveRunStats[] {
    return [...this.#runStats.values()].map((s) => ({ ...s }));
  }

  async #runAll(): Promise<LogRunResult[]> {
    const results: LogRunResult[] = [];
    const clock = this.#o.clock ?? systemClock;
    for (const log of await this.listLogs()) {
      const stats = this.#runStats.get(log) ?? {
        log,
        succeeded: 0,
        failed: 0,
        failingSince: undefined,
        lastSuccessAt: undefined,
        watchedSince: clock.now(),
        archivedSize: 0,
        evictedSize: 0,
      };
      this.#runStats.set(log, stats);
      try {
        const run = await (await this.archiver(log)).run();
        results.push({ log, ...run });
        stats.succeeded++;
        stats.failingSince = undefined;
        stats.lastSuccessAt = clock.now();
        stats.archivedSize = run.archive.archivedSize;
        stats.evictedSize = run.evict.evictedSize;
      } catch (error) {
        (this.#o.logger ?? silentLogger).error({ err: error, log }, 'archive run failed; will retry');
        stats.failed++;
        stats.failingSince ??= clock.now();
        try {
          this.#failureObserver?.(log, error);
        } catch (observerErr) {
          (this.#o.logger ?? silentLogger).error({ err: observerErr }, 'the archive failure observer threw');
        }
        results.push({ log, error });
      }
    }
    return results;
  }

  /** Runs `runOnce` every `intervalMs` (skipping a tick while one is still running). */
  start(intervalMs: number): void {
    if (!this.#closed) this.#schedule.start(intervalMs);
  }

  /** Stops the schedule, waits for a running archive pass, and closes the local driver. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#schedule.stop();
    await Promise.all([...this.#syncs]);
    await Promise.all([...this.#stores.values()].map((s) => s.close()));
    if (this.#ownsClient) this.#client.destroy();
    await this.#o.local.close();
  }
}

/** The state version shown for a policy that is not stored (server defaults); never a real one. */
const DEFAULTS_VERSION = 'archive-config-defaults';

/**
 * A log's state store that shows the server's defaults as the policy of a log without a stored
 * one, with a version of its own that a compare-and-swap turns back into "must not exist yet";
 * that lets `check` refuse a policy write (its error propagates, nothing is written), and calls
 * `changed` after every successful write of the policy. Every other key and call passes through
 * unchanged.
 */
export class PolicyStateStore implements StateStore {
  constructor(
    private readonly inner: StateStore,
    private readonly defaults: ArchiverPolicy,
    private readonly changed: (policy: LogPolicy) => void,
    private readonly check: (before: LogPolicy, after: LogPolicy) => Promise<void> = async () => {},
  ) {}

  /** The policy as stored now (the server's defaults when none is). */
  async #current(): Promise<LogPolicy> {
    return parseStoredPolicy((await this.read(POLICY_STATE_KEY))!.value);
  }

  async read(key: string): Promise<Versioned | undefined> {
    const stored = await this.inner.read(key);
    if (stored !== undefined || key !== POLICY_STATE_KEY) return stored;
    const policy = {
      ...defaultLogPolicy(),
      retentionMinMs: this.defaults.minMs,
      archiveAfterMs: this.defaults.afterMs,
    };
    const value = new TextEncoder().encode(JSON.stringify({ v: 1, ...policyToWire(policy) }));
    return { value, version: DEFAULTS_VERSION };
  }

  async compareAndSwap(key: string, expected: string | undefined, value: Uint8Array): Promise<string> {
    if (key !== POLICY_STATE_KEY) return this.inner.compareAndSwap(key, expected, value);
    const policy = parseStoredPolicy(value);
    await this.check(await this.#current(), policy);
    const version = await this.inner.compareAndSwap(
      key,
      expected === DEFAULTS_VERSION ? undefined : expected,
      value,
    );
    this.changed(policy);
    return version;
  }
}
