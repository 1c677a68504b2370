/**
 * One bound on the entries that several caches hold together: the hash tiles and entry bundles that
 * every log of an engine keeps in memory for its read path and proofs. Without it each log had its
 * own bound, so a server's memory grew with the number of logs read (a mirror fetching every tile
 * of 50 large logs could hold 50 full tile caches).
 *
 * The caches stay plain Maps, so a hit costs one Map lookup; only an insertion goes through the
 * budget, which evicts the oldest insertions of any map under it (first in, first out) once more
 * than `limit` are held. Each insertion takes a slot (map, key, value); evicting a slot deletes the
 * key only while the map still holds that slot's value, so a slot made stale (the map deleted the
 * key itself, or a later `set` replaced the value) never removes a newer value. Invariant: every
 * entry present in a map under the budget has its own slot in the queue, so the maps hold at most
 * `limit` entries between them; stale slots only make the bound stricter until they are evicted.
 */
export class CacheBudget {
  private readonly maps: Array<Map<unknown, unknown>> = [];
  private readonly keys: unknown[] = [];
  private readonly values: unknown[] = [];
  private head = 0;

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit <= 0) {
      throw new RangeError(`a cache budget must be a positive integer, got ${limit}`);
    }
  }

  /** Insertions that count against the limit now. */
  get size(): number {
    return this.keys.length - this.head;
  }

  /** `map.set(key, value)`, then evicts the oldest admitted entries beyond the limit. */
  set<K, V>(map: Map<K, V>, key: K, value: V): void {
    this.maps.push(map as Map<unknown, unknown>);
    this.keys.push(key);
    this.values.push(value);
    map.set(key, value);
    while (this.size > this.limit) {
      const i = this.head++;
      const m = this.maps[i]!;
      if (m.get(this.keys[i]) === this.values[i]) m.delete(this.keys[i]);
      this.values[i] = undefined; // let the evicted value go now
    }
    // Drop the evicted slots now and then, so the queue stays about `limit` long.
    if (this.head > 1024 && this.head * 2 > this.keys.length) {
      this.maps.splice(0, this.head);
      this.keys.splice(0, this.head);
      this.values.splice(0, this.head);
      this.head = 0;
    }
  }
}

/**
 * Defaults of an engine's shared read caches. Hash tiles are counted twice (LogProofs keeps each
 * in its path-keyed cache and in its proof cache), so 8,192 entries are about 4,096 tiles: 32 MiB
 * of tiles, plus up to as much of interior hashes memoised by proofs. Bundles are decoded entry
 * bundles (256 records each; about 150 KiB for 400-byte events).
 */
export const DEFAULT_READ_CACHE = { tiles: 8192, bundles: 64 } as const;

/** The budgets a log's read caches draw from; an engine passes the same ones to all its logs. */
export interface ReadCaches {
  tiles: CacheBudget;
  bundles: CacheBudget;
}

export function createReadCaches(limits: { tiles?: number; bundles?: number } = {}): ReadCaches {
  return {
    tiles: new CacheBudget(limits.tiles ?? DEFAULT_READ_CACHE.tiles),
    bundles: new CacheBudget(limits.bundles ?? DEFAULT_READ_CACHE.bundles),
  };
}
