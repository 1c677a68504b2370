/**
 * Offline verification of stored logs: every record (its exact JCS form, position and `prev` chain),
 * every entry bundle and hash tile (recomputed independently of the writer's tile builder, byte for
 * byte), and every stored checkpoint (signature, origin, and its root equal to the recomputed tree at
 * its size — which proves all of them mutually consistent). Stops at the first failure and names it.
 */
import { openCheckpoint } from '../core/checkpoint.js';
import { bytesEqual } from '../core/crypto.js';
import { toHex } from '../core/encoding.js';
import { IndelibleError } from '../core/errors.js';
import { CompactRange, hashLeaf } from '../core/merkle.js';
import { type NoteVerifier, parseVerifierKey } from '../core/note.js';
import { parseRecord, ZERO_HASH } from '../core/record.js';
import { decodeBundle, entriesPath, tilePath } from '../core/tile.js';
import type { LogStorage, StorageDriver } from '../storage/types.js';
import { checkpointHistoryKey } from './log.js';

const WIDTH = 256;

export type VerifyErrorCode =
  | 'verify.missing_object'
  | 'verify.bad_checkpoint'
  | 'verify.bad_record'
  | 'verify.broken_chain'
  | 'verify.bad_bundle'
  | 'verify.bad_tile'
  | 'verify.root_mismatch'
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
    const config = await storage.state.read('config');
    if (!config) {
      // A log whose creation never finished holds nothing; one with a checkpoint but no
      // configuration lost its key and origin (deleted or tampered with).
      if ((await storage.blobs.get('checkpoint')) === undefined) continue;
      fail('verify.missing_object', `log ${name}: its configuration (state/config) is missing`, {
        log: name,
        object: 'state/config',
      });
    }
    const stored = JSON.parse(new TextDecoder().decode(config.value)) as {
      origin: string;
      verifier_key: string;
    };
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
    if (row.length === WIDTH) {
      pendingTiles.push(checkTile(tl, Math.floor(index / WIDTH), row.splice(0)));
    }
  };

  let prev = ZERO_HASH;
  const root0 = bySize.get(0);
  if (root0 && !bytesEqual(root0.root, range.root())) {
    fail('verify.root_mismatch', `log ${log}: ${root0.key} does not sign the empty tree`, {
      log,
      object: root0.key,
    });
  }
  for (let b = 0; b * WIDTH < treeSize; b++) {
    const width = Math.min(WIDTH, treeSize - b * WIDTH);
    const key = entriesPath(b, width);
    let records: Uint8Array[];
    try {
      records = decodeBundle(await must(storage, log, key));
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
      const index = b * WIDTH + i;
      const bytes = records[i]!;
      let rec: ReturnType<typeof parseRecord>;
      try {
        rec = parseRecord(bytes);
      } catch (err) {
        fail(
          'verify.bad_record',
          `log ${log}: entry ${index} is not a valid record: ${(err as Error).message}`,
          {
            log,
            index,
            object: key,
          },
        );
      }
      if (rec.log !== log || rec.index !== index) {
        fail('verify.bad_record', `log ${log}: entry ${index} claims log ${rec.log} index ${rec.index}`, {
          log,
          index,
          object: key,
        });
      }
      if (rec.prev !== toHex(prev)) {
        fail('verify.broken_chain', `log ${log}: entry ${index} does not chain to entry ${index - 1}`, {
          log,
          index,
          object: key,
        });
      }
      prev = hashLeaf(bytes);
      range.append(prev, visit);
      const cp = bySize.get(range.size);
      if (cp && !bytesEqual(cp.root, range.root())) {
        fail('verify.root_mismatch', `log ${log}: ${cp.key} signs a root the entries do not produce`, {
          log,
          object: cp.key,
          size: range.size,
        });
      }
    }
    await Promise.all(pendingTiles.splice(0));
    onProgress?.({ log, done: b * WIDTH + width, total: treeSize });
  }
  // The partial tiles at the right edge of the latest tree.
  for (let tl = 0; tl < rows.length; tl++) {
    const row = rows[tl]!;
    if (row.length > 0) await checkTile(tl, Math.floor(treeSize / WIDTH ** (tl + 1)), row);
  }
  return { log, treeSize, checkpoints: bySize.size, rootHash: toHex(range.root()) };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.length * 32);
  parts.forEach((p, i) => {
    out.set(p, i * 32);
  });
  return out;
}
