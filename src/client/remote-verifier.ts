/**
 * Verifies a remote log through its public read path, trusting nothing but the pinned verifier
 * key (the engine behind `indelible verify --url URL --log NAME --key VKEY [--state FILE]`):
 *
 * 1. fetch the latest checkpoint and verify its signature and its origin (the key's name: Indelible
 *    names every log key after its log's origin), first run included;
 * 2. prove it consistent with the trusted checkpoint of the previous run (trust.ts): a rewritten
 *    history is `client.fork_detected`, with both notes and the proof as evidence; a server that
 *    does not prove consistency (no proof, a failing one) is `client.unproven_consistency`;
 * 3. walk the entry bundles — all of them, or on an incremental run only the new ones, resuming
 *    from the tree edge saved in the state — checking every record (strict RFC 8785 form, `log`,
 *    `index`, the `prev` chain), recomputing the Merkle tree, comparing every hash tile the walk
 *    completes with the server's, and finally the root with the signed one;
 * 4. return the new trusted state (the caller stores it; state-file.ts writes files atomically).
 *
 * A pruned log (retention; C2SP tlog-tiles minimum index M) no longer serves the bundles below M.
 * The walk then asks for the log's prune statement, accepts it only if signed by the pinned key for
 * this origin and M, and walks the pruned prefix through its level-0 hash tiles: their leaves rebuild
 * every higher tile and the root, entry M must chain to the last of them, the statement's own root
 * must match at its tree size, and the record holding the statement must hold exactly it.
 *
 * Any disagreement between served data and a verified checkpoint is `client.inconsistent`,
 * naming the index or object. Entry bundles need a reader key; `entries: false` checks only the
 * checkpoint and its consistency (public). No Node built-ins: runs wherever `fetch` does.
 */
import { bytesEqual } from '../core/crypto.js';
import { fromHex, toHex } from '../core/encoding.js';
import { IndelibleError } from '../core/errors.js';
import { CompactRange, hashLeaf } from '../core/merkle.js';
import { type NoteVerifier, parseVerifierKey } from '../core/note.js';
import {
  contradictsStatement,
  openPruneStatement,
  type PruneStatement,
  statementFits,
  statementOfEvent,
} from '../core/prune-statement.js';
import { parseRecord, ZERO_HASH } from '../core/record.js';
import { decodeBundle, entriesPath, TILE_WIDTH, tilePath } from '../core/tile.js';
import { IndelibleClient } from './client.js';
import { ClientError } from './errors.js';
import type { FetchLike } from './http.js';
import {
  compareCheckpoints,
  openVerified,
  type TrustedState,
  type VerifiedCheckpoint,
  type WalkedTree,
} from './trust.js';

export interface VerifyRemoteOptions {
  /** The server's base URL (or pass `client`). */
  url?: string;
  client?: IndelibleClient;
  /** A key with the reader role: entry bundles hold event data. */
  apiKey?: string;
  fetch?: FetchLike;
  log: string;
  /** The log's verifier key, pinned out of band (never taken from the server). */
  verifierKey: string;
  /** The state returned by the previous run; absent on the first run (trust on first use). */
  state?: TrustedState;
  /** Walk the entries (default true); false checks the checkpoint and its consistency only. */
  entries?: boolean;
  /** Compare the server's hash tiles with the recomputed tree (default true). */
  tiles?: boolean;
  /** Entry bundles fetched ahead (default 4). */
  concurrency?: number;
  onProgress?: (progress: { done: number; total: number }) => void;
}

export interface RemoteVerification {
  /** The checkpoint now trusted (the server's latest, unless it was stale). */
  checkpoint: VerifiedCheckpoint;
  /** Entries recomputed in this run (0 when nothing was new or `entries` is false). */
  verifiedEntries: number;
  /** True when the server served a tree older than (and a prefix of) the trusted one. */
  stale: boolean;
  /** The checkpoint the server served (older than `checkpoint` when `stale`). */
  served: VerifiedCheckpoint;
  /** Store this and pass it to the next run. */
  state: TrustedState;
}

export async function verifyRemoteLog(options: VerifyRemoteOptions): Promise<RemoteVerification> {
  const { log } = options;
  const client = options.client ?? clientFor(options);
  const verifier = parseVerifierKey(options.verifierKey);
  // Indelible names every log key after the log's origin: a checkpoint for another origin is not
  // this log's, even when the key signed it (a key misused for two logs), first use included.
  const trusted =
    options.state === undefined
      ? undefined
      : openVerified(options.state.checkpoint, verifier, verifier.name, 'the trusted checkpoint');
  const latest = openVerified(await client.checkpoint(log), verifier, verifier.name, 'the latest checkpoint');

  const walked = options.state?.walked;
  if (trusted !== undefined) {
    const relation = await compareCheckpoints(client, log, trusted, latest);
    if (relation === 'stale')
      return { checkpoint: trusted, verifiedEntries: 0, stale: true, served: latest, state: options.state! };
  }
  if (options.entries === false) {
    const state: TrustedState = { checkpoint: latest.note };
    if (walked !== undefined) state.walked = walked;
    return { checkpoint: latest, verifiedEntries: 0, stale: false, served: latest, state };
  }
  if (walked !== undefined && walked.size > trusted!.size) {
    throw new ClientError('client.bad_state', 'the saved walk goes beyond the trusted checkpoint');
  }
  const result = await walk(client, log, latest, trusted, walked, options, verifier);
  return {
    checkpoint: latest,
    verifiedEntries: result.size - (walked?.size ?? 0),
    stale: false,
    served: latest,
    state: { checkpoint: latest.note, walked: result },
  };
}

function clientFor(o: VerifyRemoteOptions): IndelibleClient {
  if (o.url === undefined)
    throw new ClientError('client.invalid_argument', 'verifyRemoteLog needs url or client');
  return new IndelibleClient({
    url: o.url,
    ...(o.apiKey === undefined ? {} : { apiKey: o.apiKey }),
    ...(o.fetch === undefined ? {} : { fetch: o.fetch }),
  });
}

const inconsistent = (message: string, details: Record<string, unknown>, cause?: unknown) =>
  new ClientError('client.inconsistent', message, { ...(cause === undefined ? {} : { cause }), details });

/** Restores the tree edge a previous walk saved; it must match the trusted root when sizes agree. */
function resume(walked: WalkedTree | undefined, trusted: VerifiedCheckpoint | undefined) {
  if (walked === undefined) return { range: new CompactRange(), prev: ZERO_HASH, start: 0 };
  let range: CompactRange;
  try {
    range = CompactRange.fromHashes(
      walked.size,
      walked.range.map((h) => fromHex(h)!),
    );
  } catch (cause) {
    throw new ClientError('client.bad_state', 'the saved tree edge does not fit its size', { cause });
  }
  if (trusted !== undefined && walked.size === trusted.size && !bytesEqual(range.root(), trusted.rootHash)) {
    throw new ClientError('client.bad_state', 'the saved tree edge does not match the trusted checkpoint');
  }
  return { range, prev: fromHex(walked.lastLeafHash)!, start: walked.size };
}

/** Walks entries [start, latest.size) and returns the new tree edge; see the module comment. */
async function walk(
  client: IndelibleClient,
  log: string,
  latest: VerifiedCheckpoint,
  trusted: VerifiedCheckpoint | undefined,
  walked: WalkedTree | undefined,
  options: VerifyRemoteOptions,
  verifier: NoteVerifier,
): Promise<WalkedTree> {
  const size = latest.size;
  let { range, prev, start } = resume(walked, trusted);
  const pruned = start < size ? await prunedPrefix(client, log, latest, verifier) : undefined;
  const minimumIndex = pruned?.statement.minimumIndex ?? 0;
  const isPruned = (b: number) => (b + 1) * TILE_WIDTH <= minimumIndex;
  const checkTiles = options.tiles !== false;
  const where = { checkpoint: latest.note };
  // Nodes of levels 0, 8, 16… as the range completes them: the contents of hash tiles 0, 1, 2….
  const rows = new Map<number, { tile: number; first: number; hashes: Uint8Array[] }>();
  const visit = (level: number, index: number, hash: Uint8Array) => {
    if (!checkTiles || level % 8 !== 0) return;
    const tile = Math.floor(index / TILE_WIDTH);
    let row = rows.get(level / 8);
    if (row === undefined || row.tile !== tile) {
      row = { tile, first: index % TILE_WIDTH, hashes: [] };
      rows.set(level / 8, row);
    }
    row.hashes.push(hash.slice());
  };
  const compareRow = async (tileLevel: number, served?: Promise<Uint8Array>) => {
    const row = rows.get(tileLevel);
    if (row === undefined) return;
    rows.delete(tileLevel);
    const width = Math.min(TILE_WIDTH, Math.floor(size / TILE_WIDTH ** tileLevel) - row.tile * TILE_WIDTH);
    const path = tilePath({ level: tileLevel, index: row.tile, width });
    const bytes = await (served ?? client.tile(log, path));
    const ok =
      bytes.length === width * 32 &&
      row.hashes.every((h, i) =>
        bytesEqual(h, bytes.subarray((row.first + i) * 32, (row.first + i + 1) * 32)),
      );
    if (!ok) throw inconsistent(`hash tile ${path} does not match the entries`, { ...where, tile: path });
  };

  const firstBundle = Math.floor(start / TILE_WIDTH);
  const bundles = Math.ceil(size / TILE_WIDTH);
  const widthOf = (b: number) => Math.min(TILE_WIDTH, size - b * TILE_WIDTH);
  const fetchBundle = (b: number) => {
    // A pruned bundle is not served (410): its level-0 tile gives the leaves instead.
    const bundle = isPruned(b) ? Promise.resolve(undefined) : client.tile(log, entriesPath(b, widthOf(b)));
    const tile =
      checkTiles || isPruned(b)
        ? client.tile(log, tilePath({ level: 0, index: b, width: widthOf(b) }))
        : undefined;
    bundle.catch(() => {});
    tile?.catch(() => {});
    return { bundle, tile };
  };
  const ahead: ReturnType<typeof fetchBundle>[] = [];
  const depth = Math.max(1, options.concurrency ?? 4);
  let next = firstBundle;
  for (let b = start === size ? bundles : firstBundle; b < bundles; b++) {
    while (next < bundles && next < b + depth) ahead.push(fetchBundle(next++));
    const { bundle, tile } = ahead.shift()!;
    const path = entriesPath(b, widthOf(b));
    let entries: Uint8Array[] | undefined;
    try {
      const bytes = await bundle;
      entries = bytes === undefined ? undefined : decodeBundle(bytes, widthOf(b));
    } catch (cause) {
      if (cause instanceof ClientError) throw cause;
      throw inconsistent(`entry bundle ${path} is malformed`, { ...where, bundle: path }, cause);
    }
    // The level-0 tile first, so a changed record is named at its own index, not at its successor's
    // `prev`; the whole row is compared again below (its width included).
    const tile0 = tile === undefined ? undefined : await tile;
    if (entries === undefined) {
      // Pruned: walk the leaves of the level-0 tile (checked by the tiles above it and the roots).
      if (tile0 === undefined || tile0.length !== TILE_WIDTH * 32) {
        throw inconsistent(`hash tile 0/${b} of the pruned prefix is not a full tile`, { ...where, tile: b });
      }
      for (let i = Math.max(start, b * TILE_WIDTH); i < (b + 1) * TILE_WIDTH; i++) {
        const at = (i - b * TILE_WIDTH) * 32;
        prev = tile0.slice(at, at + 32);
        range.append(prev, visit);
        checkStatementRoot(range, pruned, where);
      }
    }
    if (entries !== undefined && tile0 !== undefined && tile0.length !== widthOf(b) * 32) {
      // Its length first, so a short tile is named as such rather than as a mismatching entry.
      const path = tilePath({ level: 0, index: b, width: widthOf(b) });
      throw inconsistent(`hash tile ${path} is ${tile0.length} bytes, not ${widthOf(b) * 32}`, {
        ...where,
        tile: path,
      });
    }
    for (
      let i = Math.max(start, b * TILE_WIDTH);
      entries !== undefined && i < b * TILE_WIDTH + entries.length;
      i++
    ) {
      const bytes = entries[i - b * TILE_WIDTH]!;
      const leaf = hashLeaf(bytes);
      const at = (i - b * TILE_WIDTH) * 32;
      if (tile0 !== undefined && !bytesEqual(leaf, tile0.subarray(at, at + 32))) {
        const path = tilePath({ level: 0, index: b, width: widthOf(b) });
        throw inconsistent(`entry ${i} does not match its leaf hash in tile ${path}`, {
          ...where,
          index: i,
          tile: path,
        });
      }
      checkRecord(bytes, log, i, prev, where);
      if (pruned !== undefined && i === pruned.statementIndex) checkStatementRecord(bytes, pruned, where);
      range.append(leaf, visit);
      prev = leaf;
      checkStatementRoot(range, pruned, where);
    }
    await compareRow(0, tile);
    for (const [tileLevel, row] of rows) {
      if (tileLevel > 0 && row.first + row.hashes.length === TILE_WIDTH) await compareRow(tileLevel);
    }
    options.onProgress?.({ done: Math.min(size, (b + 1) * TILE_WIDTH) - start, total: size - start });
  }
  for (const tileLevel of [...rows.keys()]) await compareRow(tileLevel);
  if (!bytesEqual(range.root(), latest.rootHash)) {
    throw inconsistent('the entries do not hash to the root of the signed checkpoint', {
      ...where,
      computedRoot: toHex(range.root()),
    });
  }
  return { size, lastLeafHash: toHex(prev), range: range.hashes().map(toHex) };
}

interface PrunedPrefix {
  statement: PruneStatement;
  statementIndex: number;
  note: string;
}

/** The log's prune statement when it was pruned (and it verifies), else undefined. */
async function prunedPrefix(
  client: IndelibleClient,
  log: string,
  latest: VerifiedCheckpoint,
  verifier: NoteVerifier,
): Promise<PrunedPrefix | undefined> {
  let p: Awaited<ReturnType<IndelibleClient['pruning']>>;
  try {
    p = await client.pruning(log);
  } catch (err) {
    // A server from before pruning existed has no such route: nothing of its logs was pruned.
    if (err instanceof ClientError && err.status === 404 && err.code !== 'log.not_found') return undefined;
    throw err;
  }
  if (p.minimumIndex === 0) return undefined;
  const where = { checkpoint: latest.note, pruning: p };
  let statement: PruneStatement;
  try {
    statement = openPruneStatement(p.statement ?? '', verifier, latest.origin);
  } catch (cause) {
    throw inconsistent('the prune statement of the log does not verify', where, cause);
  }
  const at = p.statementIndex ?? -1;
  // Pruned after the checkpoint was fetched: that tree does not hold the statement yet, and its
  // walk fails on the first pruned bundle (410) — run again.
  if (at >= latest.size) return undefined;
  if (
    !statementFits(statement, { minimumIndex: p.minimumIndex, treeSize: latest.size, statementIndex: at })
  ) {
    throw inconsistent('the prune statement does not match the served minimum index and tree', where);
  }
  return { statement, statementIndex: at, note: p.statement! };
}

/** The statement's root must be the tree's at its size. */
function checkStatementRoot(range: CompactRange, pruned: PrunedPrefix | undefined, where: object): void {
  if (pruned !== undefined && contradictsStatement(pruned.statement, range.size, () => range.root())) {
    throw inconsistent('the prune statement signs a root the tree does not have', {
      ...where,
      statement: pruned.note,
    });
  }
}

/** The record the server names must hold exactly the statement it served. */
function checkStatementRecord(bytes: Uint8Array, pruned: PrunedPrefix, where: object): void {
  if (statementOfEvent(parseRecord(bytes).event) !== pruned.note) {
    throw inconsistent(`entry ${pruned.statementIndex} does not hold the served prune statement`, {
      ...where,
      index: pruned.statementIndex,
    });
  }
}

/** One record at `index`: strict form, its own position, and the chain to its predecessor. */
function checkRecord(bytes: Uint8Array, log: string, index: number, prev: Uint8Array, where: object): void {
  let rec: ReturnType<typeof parseRecord>;
  try {
    rec = parseRecord(bytes);
  } catch (cause) {
    if (!(cause instanceof IndelibleError)) throw cause;
    throw inconsistent(
      `entry ${index} is not a valid record (${cause.code})`,
      { ...where, index, reason: cause.code },
      cause,
    );
  }
  if (rec.log !== log || rec.index !== index) {
    throw inconsistent(`entry ${index} is the record of ${rec.log}[${rec.index}]`, { ...where, index });
  }
  if (rec.prev !== toHex(prev)) {
    throw inconsistent(`entry ${index} does not chain to entry ${index - 1} (prev)`, { ...where, index });
  }
}
