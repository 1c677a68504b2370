/**
 * What the monitor remembers about each API key across restarts, in `meta.sqlite`: when it was last
 * seen (dormancy) and the networks it was used from (new address). Reads load a key once into a
 * bounded in-memory cache; writes are collected and written in one transaction by `persist`, which
 * the monitor calls off the request path, so a read request never waits for SQLite's fsync.
 *
 * `lastSeen` is persisted at most once a minute per key (dormancy is measured in days), a new network
 * at once on the next `persist`. Each key keeps at most `maxNetworks`; the least recently seen goes.
 */
import type Database from 'better-sqlite3';
import { touch } from './windows.js';

const SEEN_WRITE_EVERY_MS = 60_000;
const MAX_CACHED_KEYS = 10_000;

interface KeyEntry {
  lastSeen: number | undefined;
  persistedSeen: number;
  /** network → last seen, in order of last sight. */
  networks: Map<string, number>;
}

export interface Sighting {
  /** When the key was seen before this sighting; undefined the first time ever. */
  previousSeen: number | undefined;
  /** True when the network was not among the key's known ones and the key had known ones. */
  newNetwork: boolean;
  /** The key's networks known before this sighting. */
  knownNetworks: number;
}

export class KeyState {
  private readonly cache = new Map<string, KeyEntry>();
  private readonly dirtySeen = new Map<string, number>();
  private readonly dirtyNetworks = new Map<string, { keyId: string; network: string; at: number }>();
  private readonly deletedNetworks = new Map<string, { keyId: string; network: string }>();
  private readonly stmts;

  constructor(
    private readonly db: Database.Database,
    private readonly maxNetworks: number,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS monitor_key_seen (
        key_id TEXT PRIMARY KEY,
        last_seen_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS monitor_key_networks (
        key_id TEXT NOT NULL,
        network TEXT NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        PRIMARY KEY (key_id, network)
      ) WITHOUT ROWID;
    `);
    this.stmts = {
      seen: db.prepare<[string], { last_seen_ms: number }>(
        'SELECT last_seen_ms FROM monitor_key_seen WHERE key_id = ?',
      ),
      networks: db.prepare<[string], { network: string; last_seen_ms: number }>(
        'SELECT network, last_seen_ms FROM monitor_key_networks WHERE key_id = ? ORDER BY last_seen_ms',
      ),
      upsertSeen: db.prepare<[string, number]>(
        `INSERT INTO monitor_key_seen (key_id, last_seen_ms) VALUES (?, ?)
         ON CONFLICT (key_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms`,
      ),
      upsertNetwork: db.prepare<[string, string, number]>(
        `INSERT INTO monitor_key_networks (key_id, network, last_seen_ms) VALUES (?, ?, ?)
         ON CONFLICT (key_id, network) DO UPDATE SET last_seen_ms = excluded.last_seen_ms`,
      ),
      deleteNetwork: db.prepare<[string, string]>(
        'DELETE FROM monitor_key_networks WHERE key_id = ? AND network = ?',
      ),
    };
  }

  /**
   * Records that `keyId` was used from `network` (undefined: from an address that could not be
   * read, which updates only when it was last seen) at `now`, and says what was known before.
   */
  see(keyId: string, network: string | undefined, now: number): Sighting {
    const e = this.load(keyId);
    const previousSeen = e.lastSeen;
    const knownNetworks = e.networks.size;
    // The last sighting, even when the clock was set back since the one before: keeping the latest
    // time instead measured dormancy from a future that a clock once ahead left behind, so the
    // key could not be found dormant until the clock caught up with it.
    e.lastSeen = now;
    if (previousSeen === undefined || now - e.persistedSeen >= SEEN_WRITE_EVERY_MS || now < e.persistedSeen) {
      this.dirtySeen.set(keyId, e.lastSeen);
      e.persistedSeen = now;
    }
    if (network === undefined) return { previousSeen, newNetwork: false, knownNetworks };
    const known = e.networks.has(network);
    const lastNet = e.networks.get(network);
    if (!known || now - (lastNet ?? 0) >= SEEN_WRITE_EVERY_MS) {
      this.dirtyNetworks.set(`${keyId}\n${network}`, { keyId, network, at: now });
      this.deletedNetworks.delete(`${keyId}\n${network}`);
    }
    touch(e.networks, network, now, Number.MAX_SAFE_INTEGER);
    while (e.networks.size > this.maxNetworks) {
      const oldest = e.networks.keys().next().value as string;
      e.networks.delete(oldest);
      this.dirtyNetworks.delete(`${keyId}\n${oldest}`);
      this.deletedNetworks.set(`${keyId}\n${oldest}`, { keyId, network: oldest });
    }
    return { previousSeen, newNetwork: !known && knownNetworks > 0, knownNetworks };
  }

  /** Writes what changed since the last call, in one transaction. */
  persist(): void {
    if (this.dirtySeen.size === 0 && this.dirtyNetworks.size === 0 && this.deletedNetworks.size === 0) return;
    const seen = [...this.dirtySeen];
    const nets = [...this.dirtyNetworks.values()];
    const dels = [...this.deletedNetworks.values()];
    this.dirtySeen.clear();
    this.dirtyNetworks.clear();
    this.deletedNetworks.clear();
    this.db.transaction(() => {
      for (const [k, at] of seen) this.stmts.upsertSeen.run(k, at);
      for (const n of nets) this.stmts.upsertNetwork.run(n.keyId, n.network, n.at);
      for (const d of dels) this.stmts.deleteNetwork.run(d.keyId, d.network);
    })();
  }

  private load(keyId: string): KeyEntry {
    const cached = this.cache.get(keyId);
    if (cached !== undefined) return cached;
    const seen = this.stmts.seen.get(keyId)?.last_seen_ms;
    const networks = new Map<string, number>();
    for (const r of this.stmts.networks.all(keyId)) networks.set(r.network, r.last_seen_ms);
    const e: KeyEntry = { lastSeen: seen, persistedSeen: seen ?? 0, networks };
    // Evicting a key with unwritten changes is harmless: they stay queued for `persist`.
    touch(this.cache, keyId, e, MAX_CACHED_KEYS);
    return e;
  }
}
