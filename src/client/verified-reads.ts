/**
 * Verified reads: entries and search results that are checked, one by one, before the caller sees
 * them. Each returned entry's record is parsed strictly, must name this log and its index, and its
 * leaf hash must be included (RFC 9162 §2.1.3) in a checkpoint whose signature verified under the
 * pinned key and which provably extends the last checkpoint trusted (trust.ts). Search results
 * must also equal the record they came from (id, received_at, leaf hash, canonical event), and that
 * record must match the query's filters as the index applies them (`mismatchedFilter`): every filter
 * but the free-text `q`. What no client can check is that a search left nothing out.
 *
 * The reader refreshes the checkpoint on first use, when an entry is beyond it, and after
 * `refreshMs`; each refresh is a consistency check against the trusted one, so a forked server is
 * caught with both checkpoints in the error (`client.fork_detected`). Served data that disagrees
 * with a verified checkpoint is `client.inconsistent`.
 */
import { fromHex, toHex, utf8 } from '../core/encoding.js';
import { IndelibleError } from '../core/errors.js';
import type { AuditEvent } from '../core/event.js';
import { canonicalize } from '../core/jcs.js';
import { hashLeaf } from '../core/merkle.js';
import { type NoteVerifier, parseVerifierKey } from '../core/note.js';
import { proveInclusion, verifyInclusion } from '../core/proof.js';
import { type AuditRecord, parseRecord } from '../core/record.js';
import {
  decodeBundle,
  entriesPath,
  TILE_WIDTH,
  TileHashCache,
  tileHashReader,
  tilePath,
} from '../core/tile.js';
import { decodeCursor, normalizeTimestamp } from '../index/sqlite/query-input.js';
import { DEFAULT_QUERY_LIMIT } from '../index/types.js';
import type { IndelibleClient } from './client.js';
import { ClientError } from './errors.js';
import {
  compareCheckpoints,
  memoryTrustStore,
  openVerified,
  type TrustedState,
  type TrustStore,
  type VerifiedCheckpoint,
} from './trust.js';
import type { QueryOptions } from './types.js';

export interface VerifiedReaderOptions {
  client: IndelibleClient;
  log: string;
  /** The log's verifier key, pinned out of band. */
  verifierKey: string;
  /** Where the trusted checkpoint is kept between runs (default: memory, trust on first use). */
  trust?: TrustStore;
  /** Re-fetch the checkpoint when the verified one is older than this, in ms. Default 30,000. */
  refreshMs?: number;
  /** How long to wait for a durable entry to appear in a signed checkpoint, in ms. Default 10,000. */
  integrationWaitMs?: number;
}

export interface VerifiedEntry {
  index: number;
  id: string;
  receivedAt: string;
  /** Lowercase hex leaf hash, computed here from the record. */
  leafHash: string;
  /** The exact record text. */
  recordText: string;
  record: AuditRecord;
  event: AuditEvent;
  /** The verified checkpoint the entry's inclusion was proven against. */
  checkpoint: VerifiedCheckpoint;
}

export interface VerifiedPage {
  events: VerifiedEntry[];
  nextCursor: string | null;
  coveredSize: number;
}

export class VerifiedReader {
  readonly #client: IndelibleClient;
  readonly #log: string;
  readonly #verifier: NoteVerifier;
  readonly #trust: TrustStore;
  readonly #refreshMs: number;
  readonly #waitMs: number;
  #state: TrustedState | undefined;
  #trusted: VerifiedCheckpoint | undefined;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<VerifiedCheckpoint> | undefined;
  #tiles = new Map<string, Promise<Uint8Array>>();
  #tileCache = new TileHashCache();

  constructor(options: VerifiedReaderOptions) {
    this.#client = options.client;
    this.#log = options.log;
    this.#verifier = parseVerifierKey(options.verifierKey);
    this.#trust = options.trust ?? memoryTrustStore();
    this.#refreshMs = options.refreshMs ?? 30_000;
    this.#waitMs = options.integrationWaitMs ?? 10_000;
  }

  /**
   * Fetches the latest checkpoint, verifies its signature and its consistency with the trusted one,
   * saves it as trusted and returns it (the trusted one if the server served an older prefix).
   */
  checkpoint(): Promise<VerifiedCheckpoint> {
    // One refresh at a time: concurrent reads share it, and the trust store sees ordered saves.
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<VerifiedCheckpoint> {
    if (this.#state === undefined) {
      this.#state = await this.#trust.load();
      if (this.#state !== undefined) {
        this.#trusted = openVerified(
          this.#state.checkpoint,
          this.#verifier,
          this.#verifier.name,
          'the trusted checkpoint',
        );
      }
    }
    const note = await this.#client.checkpoint(this.#log);
    // The origin is the key's name (Indelible names every log key after its origin), first use included.
    const latest = openVerified(note, this.#verifier, this.#verifier.name, 'the latest checkpoint');
    const relation =
      this.#trusted === undefined
        ? 'extends'
        : await compareCheckpoints(this.#client, this.#log, this.#trusted, latest);
    this.#checkedAt = Date.now();
    if (relation === 'extends') {
      const state: TrustedState = { checkpoint: latest.note };
      if (this.#state?.walked !== undefined) state.walked = this.#state.walked;
      await this.#trust.save(state);
      this.#state = state;
      this.#trusted = latest;
      this.#tiles.clear();
    }
    return this.#trusted!;
  }

  /** A verified checkpoint of at least `size` entries, refreshing (and waiting for integration) as needed. */
  async #covering(size: number): Promise<VerifiedCheckpoint> {
    const cp = this.#trusted;
    if (cp !== undefined && cp.size >= size && Date.now() - this.#checkedAt < this.#refreshMs) return cp;
    const deadline = Date.now() + this.#waitMs;
    for (;;) {
      const fresh = await this.checkpoint();
      if (fresh.size >= size) return fresh;
      if (Date.now() >= deadline) {
        throw new ClientError(
          'client.not_integrated',
          `entry ${size - 1} is not in a signed checkpoint yet`,
          {
            details: { index: size - 1, treeSize: fresh.size },
          },
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** One entry, verified against a trusted checkpoint with the server's inclusion proof. */
  async entry(index: number): Promise<VerifiedEntry> {
    const cp = await this.#covering(index + 1);
    const [entry, proof] = await Promise.all([
      this.#client.entry(this.#log, index),
      this.#client.inclusionProof(this.#log, index, cp.size),
    ]);
    return this.#verify(
      index,
      utf8(entry.record),
      proof.hashes.map((h) => fromHex(h)!),
      cp,
    );
  }

  /**
   * One page of a search, each result checked against its record (read from the entry bundles),
   * the record's inclusion proven from hash tiles against a trusted checkpoint, and the record
   * checked against every filter but `q` (free text, which only the index can evaluate). Results
   * must come in the query's order, after its cursor, at most `limit` of them. A server can still
   * leave matching entries out: only a whole-log walk (`verifyRemoteLog`) sees every entry.
   */
  async query(options: QueryOptions = {}): Promise<VerifiedPage> {
    const page = await this.#client.query(this.#log, options);
    if (page.events.length === 0)
      return { events: [], nextCursor: page.nextCursor, coveredSize: page.coveredSize };
    const cp = await this.#covering(Math.max(...page.events.map((e) => e.index)) + 1);
    checkPageShape(
      page.events.map((e) => e.index),
      options,
      cp.note,
    );
    const bundles = new Map<number, Promise<Uint8Array[]>>();
    const bundleOf = (b: number) => {
      let p = bundles.get(b);
      if (p === undefined) {
        const width = Math.min(TILE_WIDTH, cp.size - b * TILE_WIDTH);
        const path = entriesPath(b, width);
        p = this.#client.tile(this.#log, path).then((bytes) => {
          try {
            return decodeBundle(bytes, width);
          } catch (cause) {
            throw inconsistent(
              `entry bundle ${path} is malformed`,
              { checkpoint: cp.note, bundle: path },
              cause,
            );
          }
        });
        bundles.set(b, p);
      }
      return p;
    };
    const reader = tileHashReader((ref) => this.#tile(tilePath(ref)), cp.size, this.#tileCache);
    const events = await Promise.all(
      page.events.map(async (hit) => {
        const b = Math.floor(hit.index / TILE_WIDTH);
        const [entries, proof] = await Promise.all([bundleOf(b), proveInclusion(hit.index, cp.size, reader)]);
        const v = this.#verify(hit.index, entries[hit.index - b * TILE_WIDTH]!, proof, cp);
        let same = hit.id === v.id && hit.receivedAt === v.receivedAt && hit.leafHash === v.leafHash;
        try {
          same &&= canonicalize(hit.event) === canonicalize(v.event);
        } catch {
          same = false;
        }
        if (!same) {
          throw inconsistent(`search result ${hit.index} differs from the logged record`, {
            checkpoint: cp.note,
            index: hit.index,
          });
        }
        const filter = mismatchedFilter(v.record, options);
        if (filter !== undefined) {
          throw inconsistent(
            `search result ${hit.index} does not match the query: its record fails the ${filter} filter`,
            { checkpoint: cp.note, index: hit.index, filter, expected: options[filter] },
          );
        }
        return v;
      }),
    );
    return { events, nextCursor: page.nextCursor, coveredSize: page.coveredSize };
  }

  /** Every matching event, verified, page after page. */
  async *queryAll(options: QueryOptions = {}): AsyncGenerator<VerifiedEntry> {
    let cursor = options.cursor;
    for (;;) {
      const page = await this.query({ ...options, ...(cursor === undefined ? {} : { cursor }) });
      yield* page.events;
      if (page.nextCursor === null || page.nextCursor === cursor) return;
      cursor = page.nextCursor;
    }
  }

  /** Hash tiles for proofs, cached per path while the trusted checkpoint stays the same. */
  #tile(path: string): Promise<Uint8Array> {
    let p = this.#tiles.get(path);
    if (p === undefined) {
      p = this.#client.tile(this.#log, path);
      p.catch(() => this.#tiles.delete(path));
      if (this.#tiles.size >= 512) this.#tiles.delete(this.#tiles.keys().next().value!);
      this.#tiles.set(path, p);
    }
    return p;
  }

  #verify(index: number, bytes: Uint8Array, proof: Uint8Array[], cp: VerifiedCheckpoint): VerifiedEntry {
    const where = { checkpoint: cp.note, index };
    let record: AuditRecord;
    try {
      record = parseRecord(bytes);
    } catch (cause) {
      if (!(cause instanceof IndelibleError)) throw cause;
      throw inconsistent(
        `entry ${index} is not a valid record (${cause.code})`,
        { ...where, reason: cause.code },
        cause,
      );
    }
    if (record.log !== this.#log || record.index !== index) {
      throw inconsistent(`entry ${index} is the record of ${record.log}[${record.index}]`, where);
    }
    const leaf = hashLeaf(bytes);
    try {
      verifyInclusion(index, cp.size, leaf, proof, cp.rootHash);
    } catch (cause) {
      if (!(cause instanceof IndelibleError)) throw cause;
      throw inconsistent(
        `entry ${index} is not included in the verified checkpoint (${cause.code})`,
        { ...where, proof: proof.map(toHex) },
        cause,
      );
    }
    return {
      index,
      id: record.id,
      receivedAt: record.received_at,
      leafHash: toHex(leaf),
      recordText: new TextDecoder().decode(bytes),
      record,
      event: record.event,
      checkpoint: cp,
    };
  }
}

/** The filters of a query that a client can check on a verified record (all but free-text `q`). */
type CheckableFilter = 'actor' | 'action' | 'outcome' | 'target' | 'since' | 'until';

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/**
 * The first filter of `query` that `record` fails, as the search index applies it
 * (index/sqlite/query-input.ts, record-fields.ts): `actor` equals `actor.id`; `action` equals
 * `action`, or is a prefix of it when it ends in `*` (a lone `*` matches all); `outcome` equals
 * `outcome`; `target` equals `target.id` or any `targets[].id`; `since` ≤ `received_at` < `until`,
 * compared as instants. `q` is not checked: undefined when every other filter holds.
 */
function mismatchedFilter(record: AuditRecord, query: QueryOptions): CheckableFilter | undefined {
  const event = record.event as unknown as Record<string, unknown>;
  if (query.actor !== undefined && str(obj(event.actor)?.id) !== query.actor) return 'actor';
  if (query.action !== undefined) {
    const action = str(event.action);
    if (query.action.endsWith('*')) {
      const prefix = query.action.slice(0, -1);
      if (prefix !== '' && !action?.startsWith(prefix)) return 'action';
    } else if (action !== query.action) return 'action';
  }
  if (query.outcome !== undefined && str(event.outcome) !== query.outcome) return 'outcome';
  if (query.target !== undefined) {
    const targets = [event.target, ...(Array.isArray(event.targets) ? event.targets : [])];
    if (!targets.some((t) => str(obj(t)?.id) === query.target)) return 'target';
  }
  if (query.since !== undefined || query.until !== undefined) {
    // The index compares canonical instants (nine fraction digits, UTC), not the texts as given.
    const at = normalizeTimestamp(record.received_at);
    if (query.since !== undefined) {
      const since = normalizeTimestamp(query.since);
      if (at === undefined || since === undefined || at < since) return 'since';
    }
    if (query.until !== undefined) {
      const until = normalizeTimestamp(query.until);
      if (at === undefined || until === undefined || at >= until) return 'until';
    }
  }
  return undefined;
}

/**
 * A page's indices must be strictly in the query's order (so no result repeats), after its cursor
 * when the cursor is one the index issues, and at most `limit` of them.
 */
function checkPageShape(indices: readonly number[], query: QueryOptions, checkpoint: string): void {
  const desc = query.order === 'desc';
  const bad = (why: string, filter: string, index?: number): never => {
    throw inconsistent(`the search answer does not match the query: ${why}`, {
      checkpoint,
      filter,
      ...(index === undefined ? {} : { index }),
    });
  };
  const limit = query.limit ?? DEFAULT_QUERY_LIMIT;
  if (indices.length > limit) bad(`${indices.length} results for a limit of ${limit}`, 'limit');
  for (let i = 1; i < indices.length; i++) {
    const [a, b] = [indices[i - 1]!, indices[i]!];
    if (desc ? b >= a : b <= a)
      bad(`result ${b} after ${a} is not in ${desc ? 'descending' : 'ascending'} order`, 'order', b);
  }
  if (query.cursor !== undefined) {
    let after: number | undefined;
    try {
      after = decodeCursor(query.cursor, desc ? 'desc' : 'asc');
    } catch {
      after = undefined; // not a cursor the index issues: its position is unknown
    }
    const first = indices[0]!;
    if (after !== undefined && (desc ? first >= after : first <= after))
      bad(
        `result ${first} is not ${desc ? 'before' : 'after'} the cursor's position ${after}`,
        'cursor',
        first,
      );
  }
}

function inconsistent(message: string, details: Record<string, unknown>, cause?: unknown): ClientError {
  return new ClientError('client.inconsistent', message, {
    ...(cause === undefined ? {} : { cause }),
    details,
  });
}
