/**
 * API keys in SQLite (better-sqlite3), in a database the caller opens and owns (the server's
 * `<data>/meta.sqlite`, shared with other small tables). DESIGN.md §4.
 *
 * Secrets are `ik_` + base64url(32 random bytes) = 46 characters, 256 bits of entropy. Only the
 * SHA-256 of the secret's UTF-8 text is stored: a fast hash is enough because the secret is random,
 * not a password, so there is nothing to brute-force offline.
 *
 * Authentication runs on every request (target: 20k requests/s), so active keys are cached in memory
 * keyed by the hash. The cache is exact, not time-based:
 * - `revoke` through this store evicts the key at once;
 * - a change committed by any other connection (another process writing the file, e.g. the `sqlite3`
 *   shell: `indelible keys revoke --data` refuses a directory a server holds) bumps SQLite's
 *   `PRAGMA data_version`, which is read at most once per `syncIntervalMs` (default 100 ms; 0 = on
 *   every call) and clears the whole cache. So a revocation through this store takes effect on the
 *   very next request, and one committed by another connection within `syncIntervalMs`.
 * `last_used_at` is written at most once a minute per key, never once per request.
 */
import { hash as oneShotHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import { AuthError } from './errors.js';
import { type ApiKeyInfo, type Clock, type KeyStore, ROLES, type Role } from './types.js';

/** The better-sqlite3 connection type (only a type import: the caller owns the driver). */
export type Database = BetterSqlite3.Database;

const SECRET_PREFIX = 'ik_';
const SECRET_BYTES = 32;
/** `ik_` + 43 base64url characters (32 bytes, unpadded). */
const SECRET_LENGTH = SECRET_PREFIX.length + Math.ceil((SECRET_BYTES * 4) / 3);
const SECRET = /^ik_[A-Za-z0-9_-]{43}$/;

const ID_PREFIX = 'key_';
const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'; // RFC 4648 base32, lower case
const ID_CHARS = 12; // 60 random bits: ids are public, they only need to be unique
const KEY_ID = /^key_[a-z2-7]{12}$/;

const LOG_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const SYSTEM_LOG_NAME = /^_[a-z0-9][a-z0-9._-]{0,61}$/;
const MAX_SCOPE_LOGS = 100;
const MAX_DESCRIPTION = 200;
// Descriptions are shown in lists and terminals: no control characters, no lone surrogates.
const BAD_DESCRIPTION_CHAR = /[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u;

const LAST_USED_INTERVAL_MS = 60_000;
/** Most cached keys (and last-used timestamps) held in memory; beyond it the oldest are dropped. */
const CACHE_LIMIT = 10_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS api_keys (
  id            TEXT PRIMARY KEY,
  secret_sha256 BLOB NOT NULL UNIQUE, -- the UNIQUE index is the authentication lookup
  role          TEXT NOT NULL CHECK (role IN ('admin', 'writer', 'reader', 'auditor')),
  logs          TEXT,                 -- JSON array of log names, or NULL for all logs
  description   TEXT,
  created_at    TEXT NOT NULL,
  last_used_at  TEXT,
  revoked_at    TEXT
) STRICT;
`;
const INFO_COLUMNS = 'id, role, logs, description, created_at, last_used_at, revoked_at';

interface KeyRow {
  id: string;
  role: string;
  logs: string | null;
  description: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

interface HashedKeyRow extends KeyRow {
  secret_sha256: Buffer;
}

/** True when `name` may appear in a key's scope: a log name, or a system (`_`) log name (DESIGN §1). */
export function isScopeLogName(name: unknown): name is string {
  return typeof name === 'string' && (LOG_NAME.test(name) || SYSTEM_LOG_NAME.test(name));
}

/** Checks a role from untrusted input; throws `auth.invalid_role`. */
export function validateRole(role: unknown): Role {
  if (typeof role === 'string' && (ROLES as readonly string[]).includes(role)) return role as Role;
  throw new AuthError('auth.invalid_role', `role must be one of ${ROLES.join(', ')}`, {
    details: { allowed: [...ROLES] },
  });
}

/** Checks a scope from untrusted input (undefined/null = all logs); throws `auth.invalid_scope`. */
export function validateScope(logs: unknown): string[] | null {
  if (logs === undefined || logs === null) return null;
  const fail = (reason: string): never => {
    throw new AuthError('auth.invalid_scope', `logs ${reason}`, { details: { reason } });
  };
  if (!Array.isArray(logs)) return fail('must be an array of log names, or omitted for all logs');
  if (logs.length === 0 || logs.length > MAX_SCOPE_LOGS) {
    return fail(`must name 1 to ${MAX_SCOPE_LOGS} logs (omit it for all logs)`);
  }
  const seen = new Set<string>();
  for (const name of logs) {
    if (!isScopeLogName(name)) return fail('must hold only valid log names');
    if (seen.has(name)) return fail('must not repeat a log');
    seen.add(name);
  }
  return [...seen];
}

/** Checks a description from untrusted input; throws `auth.invalid_description`. */
export function validateDescription(description: unknown): string | null {
  if (description === undefined || description === null) return null;
  if (
    typeof description !== 'string' ||
    description.length > 2 * MAX_DESCRIPTION || // cheap bound before counting code points
    [...description].length > MAX_DESCRIPTION ||
    BAD_DESCRIPTION_CHAR.test(description)
  ) {
    throw new AuthError(
      'auth.invalid_description',
      `description must be text of at most ${MAX_DESCRIPTION} characters without control characters`,
    );
  }
  return description;
}

/** Shape check of a presented secret: cheap, no database access, never throws. */
export function isWellFormedSecret(secret: unknown): secret is string {
  return typeof secret === 'string' && secret.length === SECRET_LENGTH && SECRET.test(secret);
}

function newSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64url');
}

function newKeyId(): string {
  const bytes = randomBytes(ID_CHARS);
  let id = ID_PREFIX;
  // 256 is a multiple of 32, so `& 31` keeps every character uniform.
  for (const b of bytes) id += ID_ALPHABET[b & 31];
  return id;
}

/** Hex SHA-256 of the secret's UTF-8 text (one-shot: no Hash object per request). */
function hashSecretHex(secret: string): string {
  return oneShotHash('sha256', secret, 'hex');
}

function hashSecret(secret: string): Buffer {
  return Buffer.from(hashSecretHex(secret), 'hex');
}

function toIso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A frozen ApiKeyInfo from a row; rows are only written by `create`, so a mismatch is corruption. */
function rowToInfo(row: KeyRow): ApiKeyInfo {
  let logs: string[] | null = null;
  if (row.logs !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.logs);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every(isScopeLogName)) {
      throw new AuthError('auth.store_corrupt', `stored scope of key ${row.id} does not parse`, {
        details: { id: row.id },
      });
    }
    logs = Object.freeze(parsed) as string[];
  }
  if (!(ROLES as readonly string[]).includes(row.role)) {
    throw new AuthError('auth.store_corrupt', `stored role of key ${row.id} is unknown`, {
      details: { id: row.id },
    });
  }
  return Object.freeze({
    id: row.id,
    role: row.role as Role,
    logs,
    description: row.description,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  });
}

function isPrimaryKeyConflict(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** Drops the oldest entry of an insertion-ordered map once it is full. */
function setBounded<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= CACHE_LIMIT && !map.has(key)) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

export interface KeyStoreOptions {
  /**
   * How often, at most, authentication looks for changes committed by other connections (and so
   * how stale a revocation made outside this store may be), in ms. Default 100; 0 = every call.
   */
  syncIntervalMs?: number;
  /** Monotonic milliseconds for `syncIntervalMs` (default `performance.now`); tests pass a manual one. */
  monotonic?: () => number;
}

/** Default of `KeyStoreOptions.syncIntervalMs`. */
export const DEFAULT_SYNC_INTERVAL_MS = 100;

/**
 * A KeyStore over `db`, creating its table if missing. `clock` (default `Date.now`) stamps
 * created/last-used/revoked times. The store keeps prepared statements: close it by closing `db`.
 */
export function createSqliteKeyStore(
  db: Database,
  clock: Clock = { now: () => Date.now() },
  options: KeyStoreOptions = {},
): KeyStore {
  const syncIntervalMs = options.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
  const monotonic = options.monotonic ?? (() => performance.now());
  db.exec(SCHEMA);
  const insert = db.prepare<[string, Buffer, string, string | null, string | null, string]>(
    'INSERT INTO api_keys (id, secret_sha256, role, logs, description, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const selectByHash = db.prepare<[Buffer], HashedKeyRow>(
    `SELECT secret_sha256, ${INFO_COLUMNS} FROM api_keys WHERE secret_sha256 = ?`,
  );
  const selectById = db.prepare<[string], KeyRow>(`SELECT ${INFO_COLUMNS} FROM api_keys WHERE id = ?`);
  const selectAll = db.prepare<[], KeyRow>(`SELECT ${INFO_COLUMNS} FROM api_keys ORDER BY rowid`);
  const updateLastUsed = db.prepare<[string, string]>(
    'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL',
  );
  const updateRevoked = db.prepare<[string, string]>(
    'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
  );
  const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();

  /** Active keys by hex SHA-256 of their secret. */
  const cache = new Map<string, ApiKeyInfo>();
  /** When this process last wrote `last_used_at` per key id; survives cache clears to keep writes rare. */
  const lastUsedWritten = new Map<string, number>();
  let seenVersion = dataVersion.get();
  let syncedAt = monotonic();

  // Another connection committed (possibly a revocation): forget everything cached. The query costs
  // about as much as the rest of a cached authentication, so it runs at most every syncIntervalMs.
  function syncWithOtherConnections(): void {
    if (syncIntervalMs > 0) {
      const now = monotonic();
      if (now - syncedAt < syncIntervalMs && now >= syncedAt) return;
      syncedAt = now;
    }
    const version = dataVersion.get();
    if (version !== seenVersion) {
      seenVersion = version;
      cache.clear();
    }
  }

  /** The key whose secret hashes to `hash`, revoked or not. */
  function rowOf(hash: Buffer): HashedKeyRow | undefined {
    const row = selectByHash.get(hash);
    // The index lookup already matched; compare again in constant time so correctness never rests
    // on how the database compares blobs.
    const stored = row?.secret_sha256;
    return stored !== undefined && stored.length === hash.length && timingSafeEqual(stored, hash)
      ? row
      : undefined;
  }

  function recordUse(cacheKey: string, info: ApiKeyInfo): ApiKeyInfo {
    const now = clock.now();
    const last = lastUsedWritten.get(info.id);
    if (last !== undefined && now >= last && now - last < LAST_USED_INTERVAL_MS) return info;
    setBounded(lastUsedWritten, info.id, now);
    const at = toIso(now);
    try {
      updateLastUsed.run(at, info.id);
    } catch {
      // Advisory bookkeeping: a busy or read-only database must not turn a valid key away. The next
      // attempt comes a minute later, so a failing write is never retried per request.
      return info;
    }
    const updated = Object.freeze({ ...info, lastUsedAt: at });
    cache.set(cacheKey, updated);
    return updated;
  }

  return {
    create(input) {
      const role = validateRole(input?.role);
      const logs = validateScope(input?.logs);
      const description = validateDescription(input?.description);
      const secret = newSecret();
      const hash = hashSecret(secret);
      const createdAt = toIso(clock.now());
      const logsJson = logs === null ? null : JSON.stringify(logs);
      for (let attempt = 1; ; attempt++) {
        const id = newKeyId();
        try {
          insert.run(id, hash, role, logsJson, description, createdAt);
        } catch (err) {
          // 60-bit ids collide with negligible probability; retry a few times, then surface it.
          if (isPrimaryKeyConflict(err) && attempt < 3) continue;
          throw err;
        }
        const info = rowToInfo({
          id,
          role,
          logs: logsJson,
          description,
          created_at: createdAt,
          last_used_at: null,
          revoked_at: null,
        });
        return { info, secret };
      }
    },

    authenticate(secret) {
      // Attacker-controlled: anything that cannot be a secret is refused before any hashing or I/O.
      if (!isWellFormedSecret(secret)) return undefined;
      syncWithOtherConnections();
      // Keyed by the hash, never the secret: lookup timing can reveal at most bits of a SHA-256 output.
      const cacheKey = hashSecretHex(secret);
      const cached = cache.get(cacheKey);
      if (cached !== undefined) return recordUse(cacheKey, cached);
      const row = rowOf(Buffer.from(cacheKey, 'hex'));
      if (row === undefined || row.revoked_at !== null) return undefined;
      const info = rowToInfo(row);
      setBounded(cache, cacheKey, info);
      return recordUse(cacheKey, info);
    },

    revokedKeyId(secret) {
      if (!isWellFormedSecret(secret)) return undefined;
      const row = rowOf(hashSecret(secret));
      return row !== undefined && row.revoked_at !== null ? row.id : undefined;
    },

    get(id) {
      if (typeof id !== 'string' || !KEY_ID.test(id)) return undefined;
      const row = selectById.get(id);
      return row === undefined ? undefined : rowToInfo(row);
    },

    list() {
      return selectAll.all().map(rowToInfo);
    },

    revoke(id) {
      if (typeof id !== 'string' || !KEY_ID.test(id)) return false;
      const changed = updateRevoked.run(toIso(clock.now()), id).changes > 0;
      // Evict even when nothing changed here: another connection may have revoked it first.
      for (const [cacheKey, info] of cache) {
        if (info.id === id) cache.delete(cacheKey);
      }
      lastUsedWritten.delete(id);
      return changed;
    },
  };
}
