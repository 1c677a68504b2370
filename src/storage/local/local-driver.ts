/**
 * The `local` storage driver: every log in plain files under one data directory.
 *
 *   <root>/LOCK                      exclusive lock: the pid of the one process using this directory
 *   <root>/logs/<name>/<key>         blobs (tiles `tile/0/x001/234`, bundles `tile/entries/000.p/5`, …)
 *   <root>/logs/<name>/state/<key>   StateStore values (state-store.ts)
 *   <root>/logs/<name>/journal/      sequencing journal segments (journal.ts)
 *
 * ONE process per data directory: atomicity of compare-and-swap and immutable puts relies on
 * in-process serialization, so `createLocalDriver` takes `<root>/LOCK` and fails with
 * `storage.locked` while another live process (or another driver in this process) holds it.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { KeyedMutex } from '../../util/keyed-mutex.js';
import { toStorageError } from '../errors.js';
import { validateLogName } from '../keys.js';
import type { Journal, JournalSegmentScan, LogStorage, StorageDriver } from '../types.js';
import { LocalBlobStore, type LocalLogContext } from './blob-store.js';
import { acquireDataDirLock, type DataDirLock, refuseIfLocked } from './data-dir-lock.js';
import { DurableFolders } from './durable-write.js';
import { findChattr, ImmutableFlag } from './immutable-flag.js';
import { type JournalHandles, type LocalJournal, openLocalJournal, scanLocalJournal } from './journal.js';
import { type StorageLogger, stderrLogger } from './logger.js';
import { Gate } from './serial.js';
import { LocalStateStore } from './state-store.js';
import { sweepLeftoverTemps, type TempSweepResult } from './temp-sweep.js';

export interface LocalDriverOptions {
  /** The data directory; created if missing. */
  root: string;
  /**
   * Also set the Linux immutable flag on sealed files (needs root or CAP_LINUX_IMMUTABLE and file
   * system support; without them one warning is logged and files are protected by mode 0444 only).
   */
  immutableFlag?: boolean;
  /** Receives the few warnings this driver emits (default: JSON lines on stderr). */
  logger?: StorageLogger;
  /** A journal segment rolls over once it holds this many bytes (default 64 MiB). */
  journalSegmentBytes?: number;
  /**
   * Journal segment files kept open between appends, all logs together (default 256; journal.ts
   * JournalHandles). Past it, a log's segment is opened for each append, so a data directory of
   * thousands of logs written at once stays within the descriptor limit.
   */
  journalHandles?: number;
  /** The `chattr` program to run (default: found on PATH). */
  chattr?: string;
  /**
   * False: take no lock and create nothing. Only for reading a directory on a read-only file system
   * (a snapshot), where the lock cannot be taken; every write fails there. Still refused with
   * `storage.locked` while a live process holds the lock (a read-only view of a live directory).
   */
  lock?: boolean;
  /**
   * False: leave the temporary files of interrupted writes (temp-sweep.ts) in place, for a caller
   * that must not change the directory (`indelible verify`). Default true; never with `lock: false`.
   */
  sweepLeftoverTemps?: boolean;
}

export const DEFAULT_JOURNAL_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_JOURNAL_HANDLES = 256;

/** Opens the data directory `options.root`, taking its lock (unless `lock: false`); `close()` releases it. */
export async function createLocalDriver(options: LocalDriverOptions): Promise<LocalDriver> {
  if (typeof options.root !== 'string' || options.root.length === 0) {
    throw new TypeError('createLocalDriver: `root` must be a non-empty path');
  }
  const segmentBytes = options.journalSegmentBytes ?? DEFAULT_JOURNAL_SEGMENT_BYTES;
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1) {
    throw new TypeError('createLocalDriver: `journalSegmentBytes` must be a positive integer');
  }
  const root = resolve(options.root);
  const logger = options.logger ?? stderrLogger();
  const folders = new DurableFolders();
  let lock: DataDirLock;
  if (options.lock === false) {
    // Read only: nothing is created or fsynced (some read-only file systems refuse folder fsyncs).
    try {
      if (!(await stat(root)).isDirectory()) {
        throw Object.assign(new Error(`not a directory: ${root}`), { code: 'ENOTDIR' });
      }
      await refuseIfLocked(root);
    } catch (err) {
      throw toStorageError(err, 'opening the data directory', { root });
    }
    lock = NO_LOCK;
  } else {
    try {
      await folders.ensure(root);
    } catch (err) {
      throw toStorageError(err, 'creating the data directory', { root });
    }
    lock = await acquireDataDirLock(root);
  }
  const chattr = await findChattr(options.chattr);
  const flag = new ImmutableFlag(options.immutableFlag === true, chattr, logger);
  const handles = { open: 0, limit: options.journalHandles ?? DEFAULT_JOURNAL_HANDLES };
  const driver = new LocalDriver({ root, lock, folders, flag, logger, segmentBytes, handles });
  // Without the lock another process may be writing; a read-only file system removes nothing anyway.
  if (options.lock !== false && options.sweepLeftoverTemps !== false) driver.sweepLeftoverTemps();
  return driver;
}

const NO_LOCK: DataDirLock = { path: '', release: async () => {} };

interface DriverParts {
  root: string;
  lock: DataDirLock;
  folders: DurableFolders;
  flag: ImmutableFlag;
  logger: StorageLogger;
  segmentBytes: number;
  handles: JournalHandles;
}

export class LocalDriver implements StorageDriver {
  readonly root: string;
  readonly #parts: DriverParts;
  readonly #gate = new Gate('local storage driver');
  readonly #mutex = new KeyedMutex();
  readonly #logs = new Map<string, LogStorage>();
  readonly #journals = new Map<string, LocalJournal>();
  #sweep: Promise<TempSweepResult | undefined> = Promise.resolve(undefined);

  constructor(parts: DriverParts) {
    this.root = parts.root;
    this.#parts = parts;
  }

  /** Whether sealed files get the immutable flag (false after a warning, or when not requested). */
  get immutableFlagActive(): boolean {
    return this.#parts.flag.enabled;
  }

  /**
   * Starts the background removal of temporary files that earlier processes, killed mid-write, left
   * in this directory (temp-sweep.ts); logs one warning with the count when there were any.
   * `createLocalDriver` calls it once. `close()` stops it.
   */
  sweepLeftoverTemps(): void {
    const { root, logger } = this.#parts;
    this.#sweep = this.#gate
      .run(() => sweepLeftoverTemps(root, () => this.#gate.closed))
      .then((result) => {
        if (result.removed > 0) {
          logger.warn(
            { root, removed: result.removed },
            'removed temporary files left by writes that a crash or kill interrupted',
          );
        }
        if (result.failed > 0) {
          logger.warn(
            { root, failed: result.failed, error: result.firstError },
            'could not remove every temporary file left by interrupted writes',
          );
        }
        return result;
      })
      .catch(() => undefined);
  }

  /** The result of the last sweep of leftover temporary files, once it has finished (undefined if none ran or the driver closed first). */
  get leftoverTempSweep(): Promise<TempSweepResult | undefined> {
    return this.#sweep;
  }

  log(name: string): LogStorage {
    validateLogName(name);
    this.#gate.check();
    let storage = this.#logs.get(name);
    if (storage === undefined) {
      const ctx: LocalLogContext = {
        dir: join(this.root, 'logs', name),
        folders: this.#parts.folders,
        flag: this.#parts.flag,
        gate: this.#gate,
        mutex: this.#mutex,
      };
      storage = {
        blobs: new LocalBlobStore(ctx),
        state: new LocalStateStore(ctx),
        openJournal: (base) => this.#openJournal(name, ctx.dir, base),
        scanJournal: () => this.#scanJournal(join(ctx.dir, 'journal')),
      };
      this.#logs.set(name, storage);
    }
    return storage;
  }

  /** Opening a journal closes the one this driver opened before for the same log. */
  async #openJournal(name: string, dir: string, base: number): Promise<Journal> {
    return this.#gate.run(() =>
      this.#mutex.run(`\0journal:${name}`, async () => {
        await this.#journals.get(name)?.close();
        this.#journals.delete(name);
        const journal = await openLocalJournal({
          dir: join(dir, 'journal'),
          base,
          segmentBytes: this.#parts.segmentBytes,
          folders: this.#parts.folders,
          logger: this.#parts.logger,
          handles: this.#parts.handles,
        });
        if (this.#gate.closed) {
          await journal.close();
          this.#gate.check();
        }
        this.#journals.set(name, journal);
        return journal;
      }),
    );
  }

  async *#scanJournal(dir: string): AsyncGenerator<JournalSegmentScan> {
    this.#gate.check();
    yield* scanLocalJournal(dir);
  }

  listLogs(): Promise<string[]> {
    return this.#gate.run(async () => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(join(this.root, 'logs'), { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw toStorageError(err, 'listing logs');
      }
      const names: string[] = [];
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        try {
          names.push(validateLogName(e.name));
        } catch {
          // Not a log folder (a stray or a temp file); ignore it.
        }
      }
      return names.sort();
    });
  }

  /** Waits for running operations, closes every journal and releases the LOCK. Idempotent. */
  async close(): Promise<void> {
    await this.#gate.close();
    const journals = [...this.#journals.values()];
    this.#journals.clear();
    await Promise.all(journals.map((j) => j.close()));
    await this.#parts.lock.release();
  }
}
