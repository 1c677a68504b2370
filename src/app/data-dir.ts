/**
 * The data directory: the one place that knows its layout, and the composition root that turns it
 * into a running engine, index and key store.
 *
 *   <dir>/indelible.json   identity and format version (origin prefix, server id)
 *   <dir>/LOCK             held by the process that has the directory open
 *   <dir>/logs/<name>/     each log's storage (local driver): tiles, bundles, checkpoints, journal, state
 *   <dir>/index.sqlite     the derived search index (rebuildable with `indelible reindex`)
 *   <dir>/meta.sqlite      API keys (hashes only) and idempotency records
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createSqliteKeyStore } from '../auth/key-store.js';
import type { ApiKeyInfo, KeyStore } from '../auth/types.js';
import { IndelibleError } from '../core/errors.js';
import { isValidKeyName } from '../core/note.js';
import { createSearchIndex } from '../index/sqlite/threaded-index.js';
import { Engine, type EngineOptions } from '../log/engine.js';
import type { Clock, Logger } from '../log/types.js';
import { AUDIT_LOG, adminEvent } from '../monitor/audit-events.js';
import { type ArchivedDriver, openArchivedDriver } from '../retention/archived-driver.js';
import { resolveArchiverPolicy } from '../retention/policy.js';
import { acquireDataDirLock } from '../storage/local/data-dir-lock.js';
import { DurableFolders, fsyncDir, writeFileDurable } from '../storage/local/durable-write.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import type { StorageDriver } from '../storage/types.js';
import type { ServerConfig } from './config.js';

export { AUDIT_LOG };

const FORMAT = 1;

export type DataDirErrorCode =
  | 'datadir.not_empty'
  | 'datadir.not_initialized'
  | 'datadir.bad_format'
  | 'datadir.bad_origin_prefix';
export class DataDirError extends IndelibleError<DataDirErrorCode> {}

interface Identity {
  format: number;
  server_id: string;
  origin_prefix: string;
  created_at: string;
}

/**
 * Why `prefix` cannot start log origins (`<prefix>/<log>`, C2SP: schema-less, a signed-note key
 * name: no white space or `+`), or undefined when it can.
 */
export function originPrefixProblem(prefix: string): string | undefined {
  if (prefix.includes('://'))
    return 'must not carry a scheme (C2SP origins are schema-less: audit.example.com)';
  if (prefix.startsWith('/') || prefix.endsWith('/')) return 'must not start or end with /';
  if (!isValidKeyName(`${prefix}/log`))
    return 'must be non-empty, without white space, control characters or +';
  return undefined;
}

export function isInitialized(dir: string): boolean {
  return existsSync(join(dir, 'indelible.json'));
}

/**
 * Creates a data directory with its identity, the `_audit` system log and a first admin key (all
 * logs), whose creation is the first `_audit` entry (`audit.admin.key.create` by `actor`, by
 * default the server itself). Refuses a directory that exists and is not empty. Returns the admin
 * key, shown only here.
 */
export async function initDataDir(
  dir: string,
  options: { originPrefix?: string; clock?: Clock; actor?: { id: string; type: string } } = {},
): Promise<{ adminKey: string; adminKeyId: string; originPrefix: string }> {
  const problem = options.originPrefix === undefined ? undefined : originPrefixProblem(options.originPrefix);
  if (problem !== undefined) {
    throw new DataDirError(
      'datadir.bad_origin_prefix',
      `origin prefix ${JSON.stringify(options.originPrefix)} ${problem}`,
      {
        details: { field: 'originPrefix' },
      },
    );
  }
  const existed = existsSync(dir);
  if (existed && readdirSync(dir).length > 0) {
    if (!isUnfinishedInit(dir)) {
      throw new DataDirError(
        'datadir.not_empty',
        `${dir} exists and is not empty; refusing to initialise it`,
      );
    }
    // An init killed midway (SIGKILL, power loss) left its marker and no identity: start it over.
    await clearUnfinishedInit(dir);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    // First, before anything else is written: what follows is an init until the marker is removed.
    await writeFileDurable(new DurableFolders(), join(dir, INIT_MARKER), new Uint8Array(0), 0o600);
    return await initEmptyDir(dir, options);
  } catch (err) {
    // Another process holds the directory (two inits at once): what is there is its work, not ours.
    if ((err as { code?: unknown }).code === 'storage.locked') throw err;
    // An unfinished init would block the next one (not empty) and serve (not a data directory):
    // remove what it wrote, which is everything in the directory, since it was empty.
    for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
    if (!existed) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Written first by `init` and removed last: its presence without `indelible.json` is an init cut short. */
const INIT_MARKER = '.init-unfinished';

export function isUnfinishedInit(dir: string): boolean {
  return existsSync(join(dir, INIT_MARKER)) && !existsSync(join(dir, 'indelible.json'));
}

/**
 * Removes what an init cut short left, under the directory's lock: `storage.locked` when another
 * process holds it (an init still running is not disturbed). The lock files stay.
 */
async function clearUnfinishedInit(dir: string): Promise<void> {
  const lock = await acquireDataDirLock(dir);
  try {
    if (!isUnfinishedInit(dir)) return; // finished or cleared meanwhile
    for (const entry of readdirSync(dir)) {
      if (entry !== 'LOCK' && entry !== 'LOCK.db' && entry !== INIT_MARKER)
        rmSync(join(dir, entry), { recursive: true, force: true });
    }
  } finally {
    await lock.release();
  }
}

async function initEmptyDir(
  dir: string,
  options: { originPrefix?: string; clock?: Clock; actor?: { id: string; type: string } },
): Promise<{ adminKey: string; adminKeyId: string; originPrefix: string }> {
  const serverId = randomBytes(4).toString('hex');
  const identity: Identity = {
    format: FORMAT,
    server_id: serverId,
    origin_prefix: options.originPrefix ?? `indelible.local/${serverId}`,
    created_at: new Date((options.clock ?? Date).now()).toISOString(),
  };
  const opened = await openDataDir(dir, { clock: options.clock, identityOverride: identity });
  try {
    await opened.engine.createLog(AUDIT_LOG, { system: true });
    const { info, secret } = opened.keys.create({
      role: 'admin',
      logs: null,
      description: 'created by init',
    });
    await opened.engine.append(AUDIT_LOG, [
      adminEvent(
        {
          what: 'key.create',
          actor: options.actor ?? { id: 'indelible', type: 'system' },
          target: { id: info.id, type: 'key' },
          details: { created_key: info.id, role: info.role, logs: info.logs, by: 'init' },
        },
        (options.clock ?? Date).now(),
      ),
    ]);
    // The identity file is written last: a directory without it is an unfinished init. Then the
    // marker goes (a crash in between leaves both: the identity decides, the init is complete).
    const folders = new DurableFolders();
    await writeFileDurable(
      folders,
      join(dir, 'indelible.json'),
      new TextEncoder().encode(`${JSON.stringify(identity, null, 2)}\n`),
      0o644,
    );
    rmSync(join(dir, INIT_MARKER), { force: true });
    await fsyncDir(dir);
    return { adminKey: secret, adminKeyId: info.id, originPrefix: identity.origin_prefix };
  } finally {
    await opened.close();
  }
}

export interface OpenedDataDir {
  dir: string;
  engine: Engine;
  keys: KeyStore;
  meta: Database.Database;
  identity: Identity;
  /** The S3 archive, when configured (`runOnce()` archives and evicts now). */
  archive: ArchivedDriver | undefined;
  close(): Promise<void>;
}

export interface OpenOptions {
  clock?: Clock;
  logger?: Logger;
  engine?: EngineOptions['config'] & { readCache?: EngineOptions['readCache'] };
  eventLimits?: EngineOptions['eventLimits'];
  /** Also set the filesystem immutable flag on sealed files (needs CAP_LINUX_IMMUTABLE). */
  immutableFlag?: boolean;
  /** Archive sealed data to S3 Object Lock (config `archive`); reads fall back to S3 after eviction. */
  archive?: NonNullable<ServerConfig['archive']>;
  /** Used by init only: the identity about to be written. */
  identityOverride?: Identity;
  /** Open only these logs (EngineOptions.logs). */
  logs?: readonly string[];
  /** Logs whose index may be ahead of the log and is then rebuilt (EngineOptions.rebuildIndexAhead). */
  rebuildIndexAhead?: EngineOptions['rebuildIndexAhead'];
}

export async function openDataDir(dir: string, options: OpenOptions = {}): Promise<OpenedDataDir> {
  const identity = options.identityOverride ?? readIdentity(dir);
  const local = await createLocalDriver({
    root: dir,
    immutableFlag: options.immutableFlag ?? false,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  let archived: ArchivedDriver | undefined;
  if (options.archive) {
    const { retentionMin, archiveAfter, intervalMs: _interval, ...s3 } = options.archive;
    // The config's retentionMin/archiveAfter are the defaults of logs without a stored policy.
    try {
      archived = await openArchivedDriver({
        local,
        s3,
        policy: resolveArchiverPolicy({
          ...(retentionMin !== undefined ? { retentionMin } : {}),
          ...(archiveAfter !== undefined ? { archiveAfter } : {}),
        }),
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
    } catch (err) {
      await local.close();
      throw err;
    }
  }
  const driver: StorageDriver = archived ?? local;
  let meta: Database.Database | undefined;
  try {
    meta = new Database(join(dir, 'meta.sqlite'));
    meta.pragma('journal_mode = WAL');
    // Keys and idempotency records must survive a crash like the log itself.
    meta.pragma('synchronous = FULL');
    // The idempotency store commits on a worker thread's own connection (http/idempotency-writer.ts):
    // a write here waits for its transaction rather than failing with SQLITE_BUSY.
    meta.pragma('busy_timeout = 5000');
    const keys = createSqliteKeyStore(meta, options.clock);
    const index = createSearchIndex({ path: join(dir, 'index.sqlite') });
    const engine = await Engine.open({
      driver,
      index,
      originPrefix: identity.origin_prefix,
      ...(options.engine ? { config: options.engine } : {}),
      ...(options.engine?.readCache ? { readCache: options.engine.readCache } : {}),
      ...(options.eventLimits ? { eventLimits: options.eventLimits } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.logs ? { logs: options.logs } : {}),
      ...(options.rebuildIndexAhead ? { rebuildIndexAhead: options.rebuildIndexAhead } : {}),
    });
    const m = meta;
    archived?.start(options.archive?.intervalMs ?? 10 * 60_000);
    return {
      archive: archived,
      dir,
      engine,
      keys,
      meta: m,
      identity,
      async close() {
        try {
          await engine.close();
        } finally {
          m.close();
        }
      },
    };
  } catch (err) {
    meta?.close();
    await driver.close();
    throw err;
  }
}

function readIdentity(dir: string): Identity {
  const path = join(dir, 'indelible.json');
  if (!existsSync(path)) {
    throw new DataDirError(
      'datadir.not_initialized',
      `${dir} is not an Indelible data directory (no indelible.json); run \`indelible init --data ${dir}\``,
    );
  }
  const identity = JSON.parse(readFileSync(path, 'utf8')) as Identity;
  if (identity.format !== FORMAT || typeof identity.origin_prefix !== 'string') {
    throw new DataDirError(
      'datadir.bad_format',
      `${path} has an unknown format (${String(identity.format)})`,
    );
  }
  return identity;
}

export type { ApiKeyInfo };
