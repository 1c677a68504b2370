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
import { type ArchiveEvent, type ArchiveReport, Archiver, type EvictReport } from './archiver.js';
import type { LegalHoldReport } from './legal-hold-sync.js';
import { defaultLogPolicy, POLICY_STATE_KEY, policyToWire } from './log-policy.js';
import type { ArchiverPolicy } from './policy.js';
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
  readonly #logs = new Map<string, { storage: LogStorage; archive: S3BlobStore }>();
  readonly #archivers = new Map<string, Promise<Archiver>>();
  readonly #opened = new Map<string, Archiver>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<LogRunResult[]> | undefined;
  readonly #syncs = new Set<Promise<unknown>>();
  #closed = false;

  constructor(o: ArchivedDriverOptions, config: ResolvedS3Config, client: S3Client, ownsClient: boolean) {
    this.#o = o;
    this.#config = config;
    this.#client = client;
    this.#ownsClient = ownsClient;
  }

  #entry(name: string): { storage: LogStorage; archive: S3BlobStore } {
    let entry = this.#logs.get(name);
    if (entry === undefined) {
      const local = this.#o.local.log(name); // validates the name, checks closed
      const clock = this.#o.clock ?? systemClock;
      const archive = new S3BlobStore({
        client: this.#client,
        bucket: this.#config.bucket,
        prefix: this.#config.prefix,
        log: name,
        retainUntil: () => new Date(clock.now() + this.#o.policy.minMs),
        now: () => clock.now(),
      });
      const blobs = new TieredBlobStore({
        local: local.blobs,
        archive,
        evictedSize: () => this.#opened.get(name)?.evictedSize ?? 0,
      });
      const state = new PolicyStateStore(local.state, this.#o.policy, () => this.#syncSoon(name));
      entry = { storage: { blobs, state, openJournal: (b) => local.openJournal(b) }, archive };
      this.#logs.set(name, entry);
    }
    return entry;
  }

  log(name: string): LogStorage {
    return this.#entry(name).storage;
  }

  /** The archive of one log (retention pruning deletes expired sealed objects through it). */
  archiveOf(name: string): S3BlobStore {
    return this.#entry(name).archive;
  }

  listLogs(): Promise<string[]> {
    return this.#o.local.listLogs();
  }

  /** The archiver of a log (opened once; its cursor loaded). */
  archiver(name: string): Promise<Archiver> {
    let pending = this.#archivers.get(name);
    if (pending === undefined) {
      const { archive } = this.#entry(name);
      const local = this.#o.local.log(name);
      pending = Archiver.open({
        log: name,
        local: local.blobs,
        state: local.state,
        archive,
        policy: this.#o.policy,
        ...(this.#o.clock ? { clock: this.#o.clock } : {}),
        ...(this.#o.logger ? { logger: this.#o.logger } : {}),
        ...(this.#o.concurrency ? { concurrency: this.#o.concurrency } : {}),
        onEvent: (e) => this.#o.onEvent?.(name, e),
      }).then((a) => {
        this.#opened.set(name, a);
        return a;
      });
      pending.catch(() => this.#archivers.delete(name));
      this.#archivers.set(name, pending);
    }
    return pending;
  }

  /** Starts the legal-hold sync of a log in the background (after its policy changed). */
  #syncSoon(name: string): void {
    if (this.#closed) return;
    const logger = this.#o.logger ?? silentLogger;
    const sync = this.archiver(name)
      .then((a) => a.syncLegalHold())
      .catch((err: unknown) =>
        logger.error({ err, log: name }, 'S3 legal hold sync failed; the next run retries'),
      )
      .finally(() => this.#syncs.delete(sync));
    this.#syncs.add(sync);
  }

  /** Archives and evicts every log once; a failing log is reported and does not stop the others. */
  runOnce(): Promise<LogRunResult[]> {
    this.#running ??= (async () => {
      const results: LogRunResult[] = [];
      try {
        for (const log of await this.listLogs()) {
          try {
            results.push({ log, ...(await (await this.archiver(log)).run()) });
          } catch (error) {
            (this.#o.logger ?? silentLogger).error({ err: error, log }, 'archive run failed; will retry');
            results.push({ log, error });
          }
        }
      } finally {
        this.#running = undefined;
      }
      return results;
    })();
    return this.#running;
  }

  /** Runs `runOnce` every `intervalMs` (skipping a tick while one is still running). */
  start(intervalMs: number): void {
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1000) {
      throw new RangeError('archive interval must be an integer of at least 1000 ms');
    }
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#running === undefined) void this.runOnce();
    }, intervalMs);
    this.#timer.unref();
  }

  /** Stops the schedule, waits for a running archive pass, and closes the local driver. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
    await Promise.all([...this.#syncs]);
    await Promise.all([...this.#logs.values()].map((e) => e.archive.close()));
    if (this.#ownsClient) this.#client.destroy();
    await this.#o.local.close();
  }
}

/** The state version shown for a policy that is not stored (server defaults); never a real one. */
const DEFAULTS_VERSION = 'archive-config-defaults';

/**
 * A log's state store that shows the server's defaults as the policy of a log without a stored
 * one, with a version of its own that a compare-and-swap turns back into "must not exist yet";
 * and that calls `changed` after every successful write of the policy. Every other key and call
 * passes through unchanged.
 */
export class PolicyStateStore implements StateStore {
  constructor(
    private readonly inner: StateStore,
    private readonly defaults: ArchiverPolicy,
    private readonly changed: () => void,
  ) {}

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
    const version = await this.inner.compareAndSwap(
      key,
      expected === DEFAULTS_VERSION ? undefined : expected,
      value,
    );
    this.changed();
    return version;
  }
}
