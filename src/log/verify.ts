/**
 * Offline verification of stored logs: every record (its exact JCS form, position and `prev` chain),
 * every entry bundle and hash tile (recomputed independently of the writer's tile builder, byte for
 * byte), and every stored checkpoint (signature, origin, and its root equal to the recomputed tree at
 * its size — which proves all of them mutually consistent). Stops at the first failure and names it.
 *
 * A pruned log (retention; C2SP tlog-tiles minimum index) may lack the entry bundles below its
 * minimum index M. That is accepted only when the prune state names a record of the log (at or past
 * M, so still present and checked like every record) carrying a prune statement signed by the log key
 * for exactly M, whose root at its tree size is the recomputed one. The missing prefix is then checked
 * through its level-0 hash tiles (kept forever): its leaves rebuild every higher tile and every
 * checkpoint root, and entry M must chain to the last pruned leaf.
 */
import { openCheckpoint } from '../core/checkpoint.js';
import { bytesEqual } from '../core/crypto.js';
import { toHex } from '../core/encoding.js';
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
import { decodeBundle, entriesPath, parseTilePath, TILE_WIDTH, tilePath } from '../core/tile.js';
import { readPruneState } from '../retention/prune-state.js';
import type { JournalSegmentScan, LogStorage, StorageDriver } from '../storage/types.js';
import { checkpointHistoryKey, sealedPastJournal } from './log.js';
import { readLogConfig } from './log-config.js';

export type VerifyErrorCode =
  | 'verify.missing_object'
  | 'verify.bad_checkpoint'
  | 'verify.bad_record'
  | 'verify.broken_chain'
  | 'verify.bad_bundle'
  | 'verify.bad_tile'
  | 'verify.root_mismatch'
  | 'verify.bad_prune_statement'
  | 'verify.bad_journal'
  | 'verify.state_behind'
  | 'verify.no_logs';

/** A verification failure; `details` names the log and the index or object at fault. */
export class VerifyError extends IndelibleError<VerifyErrorCode> {}

export interface VerifyProgress {
  log: string;
  done: number;
  total: number;
}

export interface LogReport {
  log: string;
  treeSize: number;
  checkpoints: number;
  rootHash: string;
  /** Entries below it were pruned, under the prune statement checked (0: never pruned). */
  minimumIndex: number;
  /**
   * Entries acknowledged past the signed tree, still in the journal (a crash or a running server
   * left them there): checked as records of this log, chained to the tree, but no signature covers
   * them yet.
   */
  pending: number;
  /**
   * Bytes of a torn final journal write left out (a crash in the middle of an append, which was
   * therefore never acknowledged; the server discards them at its next start). 0 almost always.
   */
  tornBytes: number;
}

export interface VerifyOptions {
  /** Pin a log's verifier key (vkey string) instead of trusting the one stored beside it. */
  verifierKeys?: Record<string, string>;
  onProgress?: (p: VerifyProgress) => void;
}

/** Verifies every log in `driver`; resolves with one report per log or rejects with a VerifyError. */
export async function verifyStorage(
  driver: StorageDriver,
  options: VerifyOptions = {},
): Promise<LogReport[]> {
  const names = await driver.listLogs();
  const reports: LogReport[] = [];
  for (const name of names) {
    const storage = driver.log(name);
    const stored = await readLogConfig(storage.state);
    if (!stored) {
      // A log whose creation never finished holds nothing; one with a checkpoint but no
      // configuration lost its key and origin (deleted or tampered with).
      if ((await storage.blobs.get('checkpoint')) === undefined) continue;
      fail('verify.missing_object', `log ${name}: its configuration (state/config) is missing`, {
        log: name,
        object: 'state/config',
      });
    }
    const vkey = options.verifierKeys?.[name] ?? stored.verifier_key;
    reports.push(await verifyLog(name, storage, parseVerifierKey(vkey), stored.origin, options.onProgress));
  }
  return reports;
}

function fail(code: VerifyErrorCode, message: string, details: Record<string, unknown>): never {
  throw new VerifyError(code, message, { details });
}

async function must(storage: LogStorage, log: string, key: string): Promise<Uint8Array> {
  const bytes = await storage.blobs.get(key);
  if (bytes === undefined)
    fail('verify.missing_object', `log ${log}: ${key} is missing`, { log, object: key });
  return bytes;
}

/** Verifies one log. */
export async function verifyLog(
  log: string,
  storage: LogStorage,
  verifier: NoteVerifier,
  origin: string,
  onProgress?: (p: VerifyProgress) => void,
): Promise<LogReport> {
  // Every signed checkpoint we can find: the history, the public latest one, and the state store's.
  const notes = new Map<string, string>();
  for (const key of await storage.blobs.list('checkpoints/')) {
    notes.set(key, new TextDecoder().decode(await must(storage, log, key)));
  }
  const latest = await storage.blobs.get('checkpoint');
  if (latest) notes.set('checkpoint', new TextDecoder().decode(latest));
  const state = await storage.state.read('checkpoint');
  if (state) notes.set('state:checkpoint', new TextDecoder().decode(state.value));

  const bySize = new Map<number, { key: string; root: Uint8Array }>();
  let treeSize = 0;
  // Where the engine resumes from: the state store's checkpoint (0 without one).
  let stateSize = 0;
  for (const [key, note] of notes) {
    let cp: ReturnType<typeof openCheckpoint>;
    try {
      cp = openCheckpoint(note, verifier, origin);
    } catch (err) {
      fail('verify.bad_checkpoint', `log ${log}: ${key} does not verify: ${(err as Error).message}`, {
        log,
        object: key,
      });
    }
    if (key.startsWith('checkpoints/') && key !== checkpointHistoryKey(cp.size)) {
      fail('verify.bad_checkpoint', `log ${log}: ${key} holds a checkpoint of size ${cp.size}`, {
        log,
        object: key,
      });
    }
    const other = bySize.get(cp.size);
    if (other && !bytesEqual(other.root, cp.rootHash)) {
      fail(
        'verify.root_mismatch',
        `log ${log}: ${key} and ${other.key} sign different roots for size ${cp.size}`,
        {
          log,
          object: key,
          other: other.key,
        },
      );
    }
    bySize.set(cp.size, { key, root: cp.rootHash });
    treeSize = Math.max(treeSize, cp.size);
    if (key === 'state:checkpoint') stateSize = cp.size;
  }

  // The state store's checkpoint is written before any other copy, so none may be larger: if one
  // is, the state came back from an older copy (a partial restore), and the engine refuses to start.
  // An S3 archive has no state store: its checkpoints are checked against each other alone.
  if (state !== undefined && stateSize < treeSize) {
    const newest = bySize.get(treeSize)!;
    fail(
      'verify.state_behind',
      `log ${log}: ${newest.key} signs ${treeSize} entries but the state store's checkpoint only ${stateSize}: the state was rolled back`,
      { log, object: newest.key },
    );
  }

  const range = new CompactRange();
  // Rows of hash tiles being rebuilt, one per tile level (tree levels 0, 8, 16, …).
  const rows: Uint8Array[][] = [];
  const pendingTiles: Array<Promise<void>> = [];
  const checkTile = async (level: number, index: number, hashes: Uint8Array[]): Promise<void> => {
    const key = tilePath({ level, index, width: hashes.length });
    const bytes = await must(storage, log, key);
    const want = concat(hashes);
    if (!bytesEqual(bytes, want)) {
      fail('verify.bad_tile', `log ${log}: tile ${key} does not match the entries`, { log, object: key });
    }
  };
  const visit = (level: number, index: number, hash: Uint8Array): void => {
    if (level % 8 !== 0) return;
    const tl = level / 8;
    const row = rows[tl] ?? [];
    rows[tl] = row;
    row.push(hash);
    if (row.length === TILE_WIDTH) {
      pendingTiles.push(checkTile(tl, Math.floor(index / TILE_WIDTH), row.splice(0)));
    }
  };

  const pruned = await prunedPrefix(log, storage, verifier, origin, treeSize);
  const minimumIndex = pruned?.statement.minimumIndex ?? 0;

  let prev = ZERO_HASH;
  const root0 = bySize.get(0);
  if (root0 && !bytesEqual(root0.root, range.root())) {
    fail('verify.root_mismatch', `log ${log}: ${root0.key} does not sign the empty tree`, {
      log,
      object: root0.key,
    });
  }
  for (let b = 0; b * TILE_WIDTH < treeSize; b++) {
    const width = Math.min(TILE_WIDTH, treeSize - b * TILE_WIDTH);
    const key = entriesPath(b, width);
    const checkRoots = () => {
      const cp = bySize.get(range.size);
      if (cp && !bytesEqual(cp.root, range.root())) {
        fail('verify.root_mismatch', `log ${log}: ${cp.key} signs a root the entries do not produce`, {
          log,
          object: cp.key,
          size: range.size,
        });
      }
      if (pruned && contradictsStatement(pruned.statement, range.size, () => range.root())) {
        fail(
          'verify.bad_prune_statement',
          `log ${log}: the prune statement signs a root the tree does not have`,
          {
            log,
            index: pruned.statementIndex,
          },
        );
      }
    };
    const stored = await storage.blobs.get(key);
    if (stored === undefined && (b + 1) * TILE_WIDTH <= minimumIndex) {
      // Pruned: the leaves come from the level-0 tile, which the higher tiles and the roots check.
      const tile = await must(storage, log, tilePath({ level: 0, index: b, width: TILE_WIDTH }));
      if (tile.length !== TILE_WIDTH * 32) {
        fail('verify.bad_tile', `log ${log}: tile 0/${b} has the wrong length`, {
          log,
          object: `tile/0/${b}`,
        });
      }
      for (let i = 0; i < TILE_WIDTH; i++) {
        prev = tile.slice(i * 32, i * 32 + 32);
        range.append(prev, visit);
        checkRoots();
      }
      await Promise.all(pendingTiles.splice(0));
      onProgress?.({ log, done: b * TILE_WIDTH + width, total: treeSize });
      continue;
    }
    let records: Uint8Array[];
    try {
      records = decodeBundle(stored ?? (await must(storage, log, key)));
    } catch (err) {
      if (err instanceof VerifyError) throw err;
      fail('verify.bad_bundle', `log ${log}: entry bundle ${key} is malformed: ${(err as Error).message}`, {
        log,
        object: key,
      });
    }
    if (records.length !== width) {
      fail(
        'verify.bad_bundle',
        `log ${log}: entry bundle ${key} holds ${records.length} entries, not ${width}`,
        {
          log,
          object: key,
        },
      );
    }
    for (let i = 0; i < width; i++) {
      const index = b * TILE_WIDTH + i;
      const bytes = records[i]!;
      checkChainedRecord(log, index, bytes, prev, key, 'entry');
      prev = hashLeaf(bytes);
      range.append(prev, visit);
      checkRoots();
    }
    await Promise.all(pendingTiles.splice(0));
    onProgress?.({ log, done: b * TILE_WIDTH + width, total: treeSize });
  }
  // The partial tiles at the right edge of the latest tree.
  for (let tl = 0; tl < rows.length; tl++) {
    const row = rows[tl]!;
    if (row.length > 0) await checkTile(tl, Math.floor(treeSize / TILE_WIDTH ** (tl + 1)), row);
  }
  await checkEarlierPartials(log, storage, treeSize, minimumIndex);
  const { pending, tornBytes } = await verifyJournal(log, storage, treeSize, stateSize, prev);
  return {
    log,
    treeSize,
    checkpoints: bySize.size,
    rootHash: toHex(range.root()),
    minimumIndex,
    pending,
    tornBytes,
  };
}

/**
 * The partial tiles and bundles of earlier tree sizes (`tile/…/N.p/W`): the engine writes one per
 * width as the edge grows and never serves an older one, but they stay in the directory, and a
 * static file server of it would serve them. Each within the latest tree must be the first W
 * hashes or entries of the object the walk checked at that position (the full one, or the edge's
 * partial), byte for byte: both encodings are concatenations, so a prefix of the entries is a
 * prefix of the bytes. Partials past the tree (written by an integration that a crash stopped
 * before it signed) and those of pruned bundles have nothing signed to compare with and are left.
 */
async function checkEarlierPartials(
  log: string,
  storage: LogStorage,
  treeSize: number,
  minimumIndex: number,
): Promise<void> {
  // Partials of one position list together (keys sort by path), so the object they are compared
  // with is read once for all of them.
  let whole: { key: string; bytes: Uint8Array } | undefined;
  for (const key of await storage.blobs.list('tile/')) {
    if (!key.includes('.p/')) continue;
    let ref: ReturnType<typeof parseTilePath>;
    try {
      ref = parseTilePath(key);
    } catch {
      continue; // not a tile name (the engine writes none such); nothing refers to it
    }
    const levelSize = ref.kind === 'entries' ? treeSize : Math.floor(treeSize / TILE_WIDTH ** ref.level);
    const available = Math.min(TILE_WIDTH, levelSize - ref.index * TILE_WIDTH);
    if (ref.width >= available) continue; // past the tree, or the edge object the walk checked
    if (ref.kind === 'entries' && ref.index * TILE_WIDTH < minimumIndex) continue;
    const checked =
      ref.kind === 'entries'
        ? entriesPath(ref.index, available)
        : tilePath({ level: ref.level, index: ref.index, width: available });
    if (whole?.key !== checked) whole = { key: checked, bytes: await must(storage, log, checked) };
    const partial = await must(storage, log, key);
    let length: number;
    if (ref.kind === 'hash') length = partial.length === ref.width * 32 ? ref.width : -1;
    else {
      try {
        length = decodeBundle(partial).length;
      } catch {
        length = -1;
      }
    }
    if (length !== ref.width || !bytesEqual(partial, whole.bytes.subarray(0, partial.length))) {
      fail(
        ref.kind === 'entries' ? 'verify.bad_bundle' : 'verify.bad_tile',
        `log ${log}: ${key} is not the first ${ref.width} ${ref.kind === 'entries' ? 'entries' : 'hashes'} of ${checked}`,
        { log, object: key },
      );
    }
  }
}

/**
 * Entry `index` of `log` (`what` says where it was read: "entry" from a bundle, "journal entry"):
 * a valid record (parseRecord) of this log at this index whose `prev` is `prev`, the leaf hash of
 * the entry before. Fails naming the entry and `object`.
 */
function checkChainedRecord(
  log: string,
  index: number,
  bytes: Uint8Array,
  prev: Uint8Array,
  object: string,
  what: 'entry' | 'journal entry',
): void {
  const at = { log, index, object };
  let rec: ReturnType<typeof parseRecord>;
  try {
    rec = parseRecord(bytes);
  } catch (err) {
    fail(
      'verify.bad_record',
      `log ${log}: ${what} ${index} is not a valid record: ${(err as Error).message}`,
      at,
    );
  }
  if (rec.log !== log || rec.index !== index) {
    fail('verify.bad_record', `log ${log}: ${what} ${index} claims log ${rec.log} index ${rec.index}`, at);
  }
  if (rec.prev !== toHex(prev)) {
    fail('verify.broken_chain', `log ${log}: ${what} ${index} does not chain to entry ${index - 1}`, at);
  }
}

/**
 * The journal, as the engine would replay it at its next start. What it still holds of the signed
 * tree must be exactly those entries (their leaf hashes are in the level-0 tiles, checked above).
 * What it holds past the tree was acknowledged but not yet integrated: each must be a valid record
 * of this log at its index, chained (`prev`) to the tree's last leaf `lastLeaf` and to the entry
 * before. The engine resumes from the state store's checkpoint (`stateSize`), so the journal must
 * start at or before it (and before the tree's end), and must not end before the tree. Returns how
 * many entries lie past the tree and the bytes of a torn final write the scan left out. Drivers
 * without `scanJournal` (S3 archives) have nothing to check.
 */
async function verifyJournal(
  log: string,
  storage: LogStorage,
  treeSize: number,
  stateSize: number,
  lastLeaf: Uint8Array,
): Promise<{ pending: number; tornBytes: number }> {
  if (storage.scanJournal === undefined) return { pending: 0, tornBytes: 0 };
  const bad = (why: string, details: Record<string, unknown>): never =>
    fail('verify.bad_journal', `log ${log}: ${why}`, { log, ...details });
  let tile: { index: number; hashes: Uint8Array } | undefined;
  const signedLeaf = async (index: number): Promise<Uint8Array> => {
    const t = Math.floor(index / TILE_WIDTH);
    if (tile?.index !== t) {
      const key = tilePath({ level: 0, index: t, width: Math.min(TILE_WIDTH, treeSize - t * TILE_WIDTH) });
      tile = { index: t, hashes: await must(storage, log, key) };
    }
    const at = (index % TILE_WIDTH) * 32;
    return tile.hashes.subarray(at, at + 32);
  };
  const resumeAt = Math.min(stateSize, treeSize);
  const segments = storage.scanJournal()[Symbol.asyncIterator]();
  let prev = lastLeaf;
  let end: number | undefined;
  let tornBytes = 0;
  for (;;) {
    let step: IteratorResult<JournalSegmentScan>;
    try {
      step = await segments.next();
    } catch (err) {
      const segment = (err as { details?: { segment?: unknown } }).details?.segment;
      return bad(`the journal is damaged: ${(err as Error).message}`, {
        object: typeof segment === 'string' ? `journal/${segment}` : 'journal',
      });
    }
    if (step.done) break;
    const seg = step.value;
    const object = `journal/${seg.name}`;
    tornBytes += seg.tornBytes;
    if (end === undefined && seg.base > resumeAt) {
      bad(
        `the journal starts at entry ${seg.base} but ${resumeAt === treeSize ? 'the signed tree ends' : "the state store's checkpoint, where the server resumes, ends"} at ${resumeAt}: entries ${resumeAt}..${seg.base - 1} are missing`,
        { object, index: resumeAt },
      );
    }
    end = seg.base + seg.records.length;
    for (let k = 0; k < seg.records.length; k++) {
      const index = seg.base + k;
      const bytes = seg.records[k]!;
      const leaf = hashLeaf(bytes);
      if (index < treeSize) {
        if (!bytesEqual(leaf, await signedLeaf(index))) {
          bad(`journal entry ${index} is not the signed entry ${index}`, { object, index });
        }
        continue;
      }
      checkChainedRecord(log, index, bytes, prev, object, 'journal entry');
      prev = leaf;
    }
  }
  if (end !== undefined && end < treeSize) {
    bad(`the journal ends at entry ${end}, before the signed tree (${treeSize}): it was rolled back`, {
      object: 'journal',
      index: end,
    });
  }
  // A sealed object only a later state can have written (the engine refuses to start the same way).
  const journalEnd = Math.max(end ?? treeSize, treeSize);
  const sealed = await sealedPastJournal(storage.blobs, treeSize, journalEnd);
  if (sealed !== undefined) {
    fail(
      'verify.state_behind',
      `log ${log}: ${sealed} is sealed past the signed tree (${treeSize} entries) and the journal, which ends at ${journalEnd}, does not hold its entries: the state, journal and checkpoints came from an older copy than the tiles`,
      { log, object: sealed },
    );
  }
  return { pending: end === undefined ? 0 : Math.max(0, end - treeSize), tornBytes };
}

/**
 * The prune statement that allows a missing prefix, or undefined for a log never pruned. Checks
 * everything but the statement's root (checked as the walk reaches its tree size): the prune state,
 * the record it names (present, of this log at that index, with the prune action), and the
 * statement in it (signed by the log key, for this origin, for exactly the stored minimum index).
 */
async function prunedPrefix(
  log: string,
  storage: LogStorage,
  verifier: NoteVerifier,
  origin: string,
  treeSize: number,
): Promise<{ statement: PruneStatement; statementIndex: number } | undefined> {
  const bad = (why: string, details: Record<string, unknown> = {}): never =>
    fail('verify.bad_prune_statement', `log ${log}: ${why}`, { log, object: 'state/prune', ...details });
  let prune: Awaited<ReturnType<typeof readPruneState>>['prune'];
  try {
    ({ prune } = await readPruneState(storage.state));
  } catch (err) {
    return bad(`its prune state is damaged: ${(err as Error).message}`);
  }
  if (prune === null) return undefined;
  const at = prune.statementIndex;
  // A prune state ahead of the signed tree (an archive caught between publishing it and archiving
  // the statement) allows nothing yet: verified as unpruned, every bundle must be there.
  if (at >= treeSize) return undefined;
  const b = Math.floor(at / TILE_WIDTH);
  const key = entriesPath(b, Math.min(TILE_WIDTH, treeSize - b * TILE_WIDTH));
  let statement: PruneStatement;
  try {
    const rec = parseRecord(
      decodeBundle(await must(storage, log, key))[at - b * TILE_WIDTH] ?? new Uint8Array(),
    );
    const note = statementOfEvent(rec.event);
    if (rec.log !== log || rec.index !== at || note === undefined) throw new Error('not a prune record');
    statement = openPruneStatement(note, verifier, origin);
  } catch (err) {
    if (err instanceof VerifyError) throw err;
    return bad(`entry ${at} does not hold a valid prune statement: ${(err as Error).message}`, { index: at });
  }
  if (!statementFits(statement, { minimumIndex: prune.minimumIndex, treeSize, statementIndex: at })) {
    return bad(`the prune statement in entry ${at} does not match the prune state`, { index: at });
  }
  return { statement, statementIndex: at };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.length * 32);
  parts.forEach((p, i) => {
    out.set(p, i * 32);
  });
  return out;
}
