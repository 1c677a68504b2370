/**
 * The engine: every log of one data directory, the append entry point (validation, ids,
 * idempotency), and the feed into the derived search index.
 */

import { toHex } from '../core/encoding.js';
import {
  type AuditEvent,
  EventError,
  type EventLimits,
  isEventId,
  resolveEventLimits,
  validateEventCanonical,
} from '../core/event.js';
import { canonicalize } from '../core/jcs.js';
import { hashLeaf } from '../core/merkle.js';
import { formatVerifierKey, generateSignerKey, type NoteVerifier, parseSignerKey } from '../core/note.js';
import { newEventId } from '../core/record.js';
import type { SearchIndex } from '../index/types.js';
import type { BlobStore, LogStorage, StateStore, StorageDriver } from '../storage/types.js';
import { forEachLimit } from '../util/for-each-limit.js';
import { type EngineConfig, resolveEngineConfig } from './config.js';
import { LogError } from './errors.js';
import { Indexer } from './indexer.js';
import { Log, type PreparedEvent } from './log.js';
import { readLogConfig, STATE_CONFIG, type StoredLogConfig } from './log-config.js';
import { createReadCaches, type ReadCaches } from './read-cache.js';
import { type AppendedEntry, type Clock, type Logger, silentLogger, systemClock } from './types.js';

const LOG_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const SYSTEM_LOG_NAME = /^_[a-z0-9][a-z0-9._-]{0,61}$/;
/** What `append` does with each input event (see there). */
const STEP_NEW = 0;
const STEP_REPEAT = 1;
const STEP_EXISTING = 2;
/** Entries waiting for the search index beyond which appends are pushed back (bounds memory). */
const MAX_INDEX_LAG = 200_000;
/** Logs opened at once by Engine.open (each holds its journal's unintegrated records while it recovers). */
const OPEN_CONCURRENCY = 8;

export interface LogInfo {
  name: string;
  origin: string;
  verifierKey: string;
  createdAt: string;
  system: boolean;
}

export interface EngineOptions {
  driver: StorageDriver;
  index: SearchIndex;
  /** Origins are `<originPrefix>/<log name>` (C2SP: a schema-less URL naming the log). */
  originPrefix: string;
  config?: Parameters<typeof resolveEngineConfig>[0];
  eventLimits?: Partial<EventLimits>;
  clock?: Clock;
  logger?: Logger;
  /**
   * Entries waiting for the search index beyond which appends get `log.pushback` (default 200,000).
   * Appends are pushed back earlier once the feed can no longer hold a log's waiting records in
   * memory (`indexMemory`).
   */
  maxIndexLag?: number;
  /**
   * What the search index feed holds in memory for all logs together (indexer.ts; defaults 32,768
   * entries and 32 MiB): past it, a log's waiting entries keep their ids only, and once more than
   * 8,192 (or `entries`, if smaller) wait its appends get `log.pushback` (Indexer.backedUp).
   */
  indexMemory?: { entries?: number; bytes?: number };
  /**
   * Open only these logs (default: every log in storage). The others are left as they are, not
   * recovered, not indexed and not served (`log.not_found`); creating one is still `log.exists`.
   * For the CLI's admin commands, which only record in `_audit`: they neither wait for every log's
   * recovery nor fail on a log that cannot open.
   */
  logs?: readonly string[];
  /**
   * Bounds on what all logs together keep in memory for reads and proofs (read-cache.ts): hash
   * tile entries (each tile counts twice; default 8,192, about 32 MiB of tiles) and decoded entry
   * bundles (default 64).
   */
  readCache?: { tiles?: number; bundles?: number };
  /**
   * Logs whose search index may cover more entries than the log holds, and is then rebuilt (for
   * `indelible reindex`, which rebuilds on purpose). For any other log that is refused at open
   * (`log.storage_behind`): entries are indexed only once durable, so an index ahead means the log
   * lost entries it had acknowledged (a partial restore, a cut journal), and resuming would sign
   * different entries at those indices.
   */
  rebuildIndexAhead?: readonly string[] | 'all';
}

export interface AppendResult {
  entries: AppendedEntry[];
  /** True for each entry that was already in the log (idempotent retry), in order. */
  duplicates: boolean[];
}

export function isValidLogName(name: string, allowSystem = false): boolean {
  return LOG_NAME.test(name) || (allowSystem && SYSTEM_LOG_NAME.test(name));
}

export class Engine {
  private readonly logs = new Map<string, { log: Log; info: LogInfo }>();
  private readonly opening = new Map<string, Promise<Log>>();
  readonly config: EngineConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  private readonly indexer: Indexer;
  private readonly caches: ReadCaches;
  private closed = false;
  private commitObserver: ((log: string, events: number, seconds: number) => void) | undefined;
  // Set once deriveEvent failed (logged once; the index then parses those records).
  private deriveFailed = false;

  private constructor(private readonly opts: EngineOptions) {
    this.config = resolveEngineConfig(opts.config);
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.indexer = new Indexer(
      opts.index,
      this.logger,
      undefined,
      opts.indexMemory?.entries,
      opts.indexMemory?.bytes,
    );
    this.caches = createReadCaches(opts.readCache);
  }

  /** Opens every log found in storage (recovering each) and catches the index up. */
  static async open(opts: EngineOptions): Promise<Engine> {
    let engine: Engine;
    try {
      engine = new Engine(opts);
    } catch (err) {
      // Invalid options (config): the engine owns the index (a worker thread) and the driver even so.
      await Promise.allSettled([(async () => opts.index.close())(), opts.driver.close()]);
      throw err;
    }
    try {
      const names = (await opts.driver.listLogs()).filter(
        (n) => opts.logs === undefined || opts.logs.includes(n),
      );
      // A few logs at a time: each open is a chain of small reads and synced writes, so one by
      // one a start with thousands of logs waited on the disk for each in turn. The first failure
      // stops the start (forEachLimit lets the opens under way finish; close() below releases them).
      await forEachLimit(names, OPEN_CONCURRENCY, async (name) => {
        const storage = opts.driver.log(name);
        if ((await storage.state.read(STATE_CONFIG)) === undefined) {
          if ((await storage.blobs.get('checkpoint')) === undefined) return; // creation never finished
          throw new LogError(
            'log.inconsistent',
            `log ${name} has signed checkpoints but no configuration (state/config is missing); refusing to start`,
            { details: { log: name, missing: ['state/config'] } },
          );
        }
        try {
          await engine.openLog(name, storage);
        } catch (err) {
          // Name the log whatever failed (a damaged state file, a checkpoint that does not verify):
          // the operator must know which directory to look at.
          if (err instanceof Error && !err.message.startsWith(`log ${name}`)) {
            try {
              err.message = `log ${name}: ${err.message}`;
            } catch {
              // A read-only message (a DOMException's): the error goes on as it is.
            }
          }
          throw err;
        }
      });
    } catch (err) {
      // A log that refuses to open fails the start: release what opened so far (the logs already
      // open, the index and its worker thread, the storage) so nothing keeps the process alive.
      await engine.close().catch((closeErr: unknown) => {
        engine.logger.warn({ err: closeErr }, 'closing after a failed start failed too');
      });
      throw err;
    }
    return engine;
  }

  /** Observes every durable commit (metrics: batch sizes, fsync latency). */
  observeCommits(observer: (log: string, events: number, seconds: number) => void): void {
    this.commitObserver = observer;
  }

  /**
   * Observes every failed attempt to feed the search index (retried after a pause): a log whose
   * records cannot be read back (a damaged bundle: `log.inconsistent`), or an index that fails.
   */
  observeIndexFailures(observer: (log: string, error: unknown) => void): void {
    this.indexer.onFailure = observer;
  }

  /** Logs whose append path failed in storage (they refuse appends until the server restarts). */
  failedLogs(): string[] {
    return [...this.logs.entries()].filter(([, e]) => e.log.failed).map(([name]) => name);
  }

  /** Logs that replayed acknowledged entries from their journal when they were opened. */
  recoveries(): Array<{ log: string; from: number; to: number; tornBytes?: number }> {
    return [...this.logs.entries()].flatMap(([log, e]) =>
      e.log.recovered ? [{ log, ...e.log.recovered }] : [],
    );
  }

  get index(): SearchIndex {
    return this.opts.index;
  }

  listLogs(): LogInfo[] {
    return [...this.logs.values()].map((l) => l.info).sort((a, b) => a.name.localeCompare(b.name));
  }

  info(name: string): LogInfo {
    return this.entry(name).info;
  }

  log(name: string): Log {
    return this.entry(name).log;
  }

  /**
   * The state store of an open log, for per-log settings kept beside `config` (the retention
   * policy under `policy`: src/retention/log-policy.ts). `config` holds the signing key: callers
   * read and write only their own keys.
   */
  stateOf(name: string): StateStore {
    this.entry(name);
    return this.opts.driver.log(name).state;
  }

  /**
   * The log's blob store (with an archive: the tiered store, whose retention deletes remove the
   * local copy only). For retention; everything else reads through `log(name)`.
   */
  blobsOf(name: string): BlobStore {
    this.entry(name);
    return this.opts.driver.log(name).blobs;
  }

  has(name: string): boolean {
    return this.logs.has(name);
  }

  private entry(name: string): { log: Log; info: LogInfo } {
    const e = this.logs.get(name);
    if (!e)
      throw new LogError('log.not_found', `no log named ${JSON.stringify(name)}`, { details: { log: name } });
    return e;
  }

  /**
   * Creates a log with its own Ed25519 key. `system` allows the reserved `_` names (e.g. `_audit`),
   * which the API never does.
   */
  async createLog(name: string, options: { system?: boolean } = {}): Promise<LogInfo> {
    if (this.closed) throw new LogError('log.closed', 'the engine is closed');
    if (!isValidLogName(name, options.system === true)) {
      throw new LogError(
        'log.invalid_name',
        `invalid log name ${JSON.stringify(name)}: use 1-63 of a-z 0-9 . _ - starting with a letter or digit`,
        { details: { name } },
      );
    }
    if (this.logs.has(name) || this.opening.has(name)) {
      throw new LogError('log.exists', `a log named ${name} already exists`, { details: { log: name } });
    }
    const storage = this.opts.driver.log(name);
    const origin = `${this.opts.originPrefix}/${name}`;
    const keys = generateSignerKey(origin);
    const config: StoredLogConfig = {
      v: 1,
      name,
      origin,
      signer_key: keys.signerKey,
      verifier_key: keys.verifierKey,
      created_at: new Date(this.clock.now()).toISOString(),
    };
    try {
      await storage.state.compareAndSwap(
        STATE_CONFIG,
        undefined,
        new TextEncoder().encode(JSON.stringify(config)),
      );
    } catch (err) {
      if ((err as { code?: string }).code === 'storage.cas_conflict') {
        throw new LogError('log.exists', `a log named ${name} already exists`, { details: { log: name } });
      }
      throw err;
    }
    // The log is new (its configuration was just written where there was none): rows the index
    // still holds under its name belong to an earlier log of that name whose folder was removed,
    // and would read as an index ahead of the log (refused at open). Forget them.
    if ((await this.opts.index.coveredSize(name)) > 0) {
      this.logger.warn(
        { log: name },
        'the search index held entries of an earlier log of this name; forgetting them',
      );
      await this.opts.index.reset(name);
    }
    await this.openLog(name, storage);
    this.logger.info({ log: name, origin }, 'log created');
    return this.info(name);
  }

  private async openLog(name: string, storage: LogStorage): Promise<Log> {
    const pending = (async () => {
      const cfg = await readLogConfig(storage.state);
      if (!cfg) throw new LogError('log.not_found', `log ${name} has no configuration`);
      const signer = parseSignerKey(cfg.signer_key);
      const verifier: NoteVerifier = { name: signer.name, keyId: signer.keyId, publicKey: signer.publicKey };
      const log = await Log.open({
        name,
        origin: cfg.origin,
        signer,
        verifier,
        storage,
        config: this.config,
        clock: this.clock,
        logger: this.logger,
        onSequenced: (records) => this.indexer.enqueue(name, records),
        onCommit: (events, seconds) => this.commitObserver?.(name, events, seconds),
        caches: this.caches,
      });
      const info: LogInfo = {
        name,
        origin: cfg.origin,
        verifierKey: formatVerifierKey(signer.name, signer.publicKey),
        createdAt: cfg.created_at,
        system: name.startsWith('_'),
      };
      this.indexer.attach(name, log);
      const rebuild = this.opts.rebuildIndexAhead;
      try {
        await this.indexer.catchUp(name, log, undefined, {
          rebuildAhead: rebuild === 'all' || (rebuild?.includes(name) ?? false),
        });
      } catch (err) {
        // Not in `logs`, so nothing else would close it (its journal, its integration timer).
        await log.close().catch(() => undefined);
        throw err;
      }
      this.logs.set(name, { log, info });
      return log;
    })();
    this.opening.set(name, pending);
    try {
      return await pending;
    } finally {
      this.opening.delete(name);
    }
  }

  /**
   * Validates, identifies and appends events; resolves once they are durable. Events whose `id` is
   * already in the log (or earlier in this batch) are not appended again: the original entry is
   * returned, unless the content differs, which is `log.id_conflict`. Validation errors name the
   * event (`events[3].actor.id`) and nothing is appended.
   *
   * `assigned.ids[i]`, when given, is the id event `i` gets if it carries none of its own, instead of
   * a fresh UUIDv7 (the event stays without one, as for any server-made id). Unless `assigned.fresh`
   * (ids made for this call, which cannot be in the log yet), they are deduplicated like an event's
   * own id, so a request re-run with the ids it was given the first time (the `Idempotency-Key`
   * intent, http/idempotency.ts) returns the entries that attempt appended, if any.
   */
  async append(
    name: string,
    events: readonly unknown[],
    limits?: Partial<EventLimits>,
    assigned?: { ids: ReadonlyArray<string | undefined>; fresh: boolean },
  ): Promise<AppendResult> {
    const log = this.log(name);
    const n = events.length;
    const assignedIds = assigned?.ids;
    if (
      assignedIds !== undefined &&
      (assignedIds.length !== n || !assignedIds.every((id) => id === undefined || isEventId(id)))
    ) {
      throw new RangeError('assigned.ids must hold one valid event id or undefined per event');
    }
    const prepared: PreparedEvent[] = [];
    const ids: string[] = [];
    // For each input event, in typed arrays (no object per event): a new entry (`at` in
    // `prepared`), a repeat of one earlier in this batch (`at` in `prepared`), or an entry already
    // in the log (`at` in `checks`).
    const kinds = new Uint8Array(n);
    const ats = new Uint32Array(n);
    let allNew = true;
    const checks: Array<Promise<AppendedEntry | undefined>> = [];
    let batchIds: Map<string, { json: string; at: number }> | undefined;
    // The server's own records (`_audit`) are held to the default limits: the configured ones are
    // for clients' events, and a strict setting must not silence the audit trail (a request id alone
    // is 36 characters).
    const configured = name.startsWith('_') ? undefined : this.opts.eventLimits;
    const eventLimits =
      limits === undefined && configured === undefined
        ? undefined
        : resolveEventLimits({ ...configured, ...limits });
    for (let i = 0; i < n; i++) {
      let event: AuditEvent;
      let eventJson: string;
      try {
        // Validation canonicalizes the event anyway (size and depth limits); reuse that text.
        ({ event, eventJson } = validateEventCanonical(events[i], eventLimits));
      } catch (err) {
        throw err instanceof EventError && n > 1 ? prefixEventError(err, i) : err;
      }
      const ownId = typeof event.id === 'string' ? event.id : undefined;
      const clientId = ownId ?? assignedIds?.[i];
      if (clientId !== undefined && (ownId !== undefined || !assigned!.fresh)) {
        batchIds ??= new Map();
        const inBatch = batchIds.get(clientId);
        if (inBatch) {
          if (inBatch.json !== eventJson) throw idConflict(name, clientId, i, n, ownId !== undefined, true);
          kinds[i] = STEP_REPEAT;
          ats[i] = inBatch.at;
          allNew = false;
          continue;
        }
        const existing = this.indexer.findById(name, clientId);
        if (existing !== undefined) {
          const conflict = () => idConflict(name, clientId, i, n, ownId !== undefined);
          const check = this.checkDuplicate(log, clientId, event, eventJson, existing, conflict);
          // Handled below with the rest; this keeps an early throw from leaving it unhandled.
          check.catch(() => undefined);
          kinds[i] = STEP_EXISTING;
          ats[i] = checks.length;
          allNew = false;
          checks.push(check);
          continue;
        }
        batchIds.set(clientId, { json: eventJson, at: prepared.length });
      }
      kinds[i] = STEP_NEW;
      ats[i] = prepared.length;
      const id = clientId ?? newEventId(this.clock.now());
      ids.push(id);
      prepared.push({ id, eventJson, derived: this.deriveForIndex(event) });
    }
    // Only what adds entries waits for the index: a retry whose events are all in the log already
    // gets its original entries.
    if (prepared.length > 0) this.refuseWhileIndexBehind(name);
    // Every id of this batch is claimed before the first await, so a concurrent request carrying one
    // of them finds it; the claims resolve with the entries, or vanish if the batch is refused.
    let settle!: { resolve: (e: AppendedEntry[]) => void; reject: (err: unknown) => void };
    const claimed = new Promise<AppendedEntry[]>((resolve, reject) => {
      settle = { resolve, reject };
    });
    claimed.catch(() => undefined);
    this.indexer.claimBatch(name, ids, claimed);
    let entries: AppendedEntry[];
    let existing: Array<AppendedEntry | undefined>;
    try {
      // All or nothing: a conflicting retried id refuses the whole batch before anything is added.
      existing = checks.length === 0 ? [] : await Promise.all(checks);
      if (existing.includes(undefined)) {
        // An id claimed by a concurrent append that then failed (its own fault, say an id conflict
        // of another of its events) is not in the log after all: its error is not this batch's.
        // Drop this batch's claims and decide again, which appends that event here.
        settle.reject(new Error('the batch is decided again'));
        await claimed.catch(() => undefined);
        return this.append(name, events, limits, assigned);
      }
      entries = await log.add(prepared);
      settle.resolve(entries);
    } catch (err) {
      settle.reject(err);
      throw err;
    }
    const duplicates = new Array<boolean>(n);
    if (allNew) return { entries, duplicates: duplicates.fill(false) };
    const out = new Array<AppendedEntry>(n);
    for (let i = 0; i < n; i++) {
      out[i] = kinds[i] === STEP_EXISTING ? existing[ats[i]!]! : entries[ats[i]!]!;
      duplicates[i] = kinds[i] !== STEP_NEW;
    }
    return { entries: out, duplicates };
  }

  /**
   * `log.pushback` while the search index is too far behind this log. The index is fed from memory;
   * once it falls behind by more than the feed holds, the feed keeps ids only and reads those
   * records back from the log, which costs the index about twice the work per entry, so an index
   * slower than ingest would never catch up again (and the process would sit at a higher memory
   * level). Hence a log is pushed back while it is behind with such entries (Indexer.backedUp), and
   * in any case past maxIndexLag waiting entries. System logs (`_audit`: a few events per request,
   * which the server must not lose) only know the latter.
   */
  private refuseWhileIndexBehind(name: string): void {
    const maxLag = this.opts.maxIndexLag ?? MAX_INDEX_LAG;
    const lag = this.indexer.lag(name);
    if (lag > maxLag || (!name.startsWith('_') && this.indexer.backedUp(name))) {
      throw new LogError('log.pushback', `the search index of ${name} is behind; retry shortly`, {
        details: { log: name, indexLag: lag, limit: maxLag, readBack: this.indexer.spilled(name) },
      });
    }
  }

  /**
   * What the search index derives from a validated event (SearchIndex.deriveEvent), taken now, in
   * the same synchronous step as validation, so it sees the event as it was canonicalized. If that
   * fails, the index parses the record instead; one warning says so.
   */
  private deriveForIndex(event: AuditEvent): unknown {
    const index = this.opts.index;
    if (index.deriveEvent === undefined) return undefined;
    try {
      return index.deriveEvent(event as unknown as Record<string, unknown>);
    } catch (err) {
      if (!this.deriveFailed) this.logger.warn({ err }, 'deriving search fields from an event failed');
      this.deriveFailed = true;
      return undefined;
    }
  }

  /**
   * The original entry of a retried event id; the content must be the same event. An event stored
   * without an id (the server assigned it) matches a retry that carries that id and nothing else new.
   * Undefined when the id was only claimed by a concurrent append that failed: it is not in the log.
   */
  private async checkDuplicate(
    log: Log,
    id: string,
    event: AuditEvent,
    eventJson: string,
    existing: Promise<number> | number,
    conflict: () => LogError,
  ): Promise<AppendedEntry | undefined> {
    let index: number;
    try {
      index = await existing;
    } catch {
      // The append that claimed this id failed, and its claim went with it (Indexer.claimBatch).
      return undefined;
    }
    const bytes = await log.readRecord(index);
    const record = JSON.parse(new TextDecoder().decode(bytes)) as {
      event: Record<string, unknown>;
      received_at: string;
    };
    const stored = canonicalize(record.event);
    const same =
      stored === eventJson || (record.event.id === undefined && stored === canonicalize(withoutId(event)));
    if (!same) throw conflict();
    return { index, id, leafHash: toHex(hashLeaf(bytes)), receivedAt: record.received_at };
  }

  /** Rebuilds the search index of one log from the log itself; returns the entries indexed. */
  async reindex(name: string, onProgress?: (done: number, total: number) => void): Promise<number> {
    const log = this.log(name);
    await this.indexer.drain(name);
    await this.opts.index.reset(name);
    await this.indexer.catchUp(name, log, onProgress, { rebuildAhead: true });
    return log.size;
  }

  /**
   * Compares every indexed leaf hash with the log's own; resolves with the first index whose row
   * does not match the log (a tampered or stale index), or undefined when the index is true.
   */
  async checkIndex(name: string): Promise<number | undefined> {
    const log = this.log(name);
    await this.indexer.drain(name);
    await this.opts.index.pruneBefore(name, log.minimumIndex);
    return this.opts.index.verifyAgainst(name, async (from, to) =>
      (await log.readRecords(from, Math.min(to, log.size), { cache: false })).map((r) => hashLeaf(r)),
    );
  }

  /**
   * Retention pruning, after the minimum index was persisted (retention/pruner.ts): raises the log's
   * minimum index, so its entries below are refused from now on, and deletes them from the index.
   */
  async pruneBefore(name: string, minimumIndex: number): Promise<void> {
    const log = this.log(name);
    log.advanceMinimumIndex(minimumIndex);
    await this.indexer.drain(name);
    await this.opts.index.pruneBefore(name, minimumIndex);
  }

  /** Entries of `log` sequenced but not yet in the search index. */
  indexLag(name: string): number {
    return this.indexer.lag(name);
  }

  /** Waits until queued appends are durable and integrated, the index is fed, then closes every log. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.opening.values()]);
    const results = await Promise.allSettled([...this.logs.values()].map((l) => l.log.close()));
    await this.indexer.close();
    await this.opts.index.close();
    await this.opts.driver.close();
    const failed = results.find((r) => r.status === 'rejected');
    if (failed && failed.status === 'rejected') throw failed.reason;
  }
}

/**
 * `log.id_conflict` for event `i` of a batch of `n` (named as validation errors are: `events[i].id`,
 * or `id` alone for one event; no field when the id is the server's, from an Idempotency-Key intent).
 * `inBatch`: the id is taken by an earlier event of the same batch, not by an entry of the log.
 */
function idConflict(log: string, id: string, i: number, n: number, own: boolean, inBatch = false): LogError {
  const where = n > 1 ? `events[${i}]: ` : '';
  const details: Record<string, unknown> = { log, id };
  if (own) details.field = n > 1 ? `events[${i}].id` : 'id';
  if (n > 1) details.event = i;
  return new LogError(
    'log.id_conflict',
    inBatch
      ? `${where}event id ${JSON.stringify(id)} is used by an earlier event of this request with different content`
      : `${where}event id ${JSON.stringify(id)} is already in log ${log} with different content`,
    { details },
  );
}

/** Re-scopes an event validation error to its place in the batch (`actor.id` → `events[3].actor.id`). */
function prefixEventError(err: EventError, i: number): EventError {
  const scope = (field: unknown) => (field === '' ? `events[${i}]` : `events[${i}].${field}`);
  const field = typeof err.details?.field === 'string' ? err.details.field : '';
  const details: Record<string, unknown> = { ...err.details, field: scope(field), event: i };
  // `fields` (every unknown or conflicting field) names the same event as `field`.
  if (Array.isArray(err.details?.fields)) details.fields = err.details.fields.map(scope);
  return new EventError(err.code, `events[${i}]: ${err.message}`, { cause: err.cause, details });
}

function withoutId(event: AuditEvent): Record<string, unknown> {
  const { id: _id, ...rest } = event as unknown as Record<string, unknown>;
  return rest;
}
