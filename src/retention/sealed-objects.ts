/**
 * Which blob keys of a log are sealed (write-once, archivable, evictable) and how far into the log
 * each reaches. The engine (src/log/log.ts) writes exactly three kinds of sealed objects:
 *
 *   tile/entries/<N>        full entry bundle: entries [N·256, (N+1)·256)
 *   tile/<L>/<N>            full hash tile: leaves [N·256^(L+1), (N+1)·256^(L+1))
 *   checkpoints/<20 digits> the checkpoint signed at that tree size
 *
 * An object's *coverage* is the tree size it needs: one past the last entry it contains or commits
 * to. Everything with coverage ≤ S is determined by the first S entries, which is what lets the
 * archiver move through a log with one number per stage.
 */
import { entriesPath, parseTilePath, TILE_WIDTH, tilePath } from '../core/tile.js';
import { checkpointHistoryKey } from '../log/log.js';
import { RetentionError } from './errors.js';

const HISTORY = /^checkpoints\/([0-9]{20})$/;

/** The coverage of a sealed key, or undefined for any other key (partial tiles, `checkpoint`, …). */
export function sealedCoverage(key: string): number | undefined {
  const h = HISTORY.exec(key);
  if (h !== null) {
    const size = Number(h[1]);
    return Number.isSafeInteger(size) && checkpointHistoryKey(size) === key ? size : undefined;
  }
  if (!key.startsWith('tile/')) return undefined;
  let ref: ReturnType<typeof parseTilePath>;
  try {
    ref = parseTilePath(key);
  } catch {
    return undefined;
  }
  if (ref.width !== TILE_WIDTH) return undefined;
  const end = (ref.index + 1) * TILE_WIDTH ** (ref.level + 1);
  return Number.isSafeInteger(end) ? end : undefined;
}

/**
 * The first entry a sealed object commits to (0 for a checkpoint, which commits to the whole tree),
 * or undefined for a key that is not sealed: with `sealedCoverage`, the span `[start, end)`.
 */
export function sealedStart(key: string): number | undefined {
  if (sealedCoverage(key) === undefined) return undefined;
  if (HISTORY.test(key)) return 0;
  const ref = parseTilePath(key);
  return ref.index * TILE_WIDTH ** (ref.level + 1);
}

/** The size a checkpoint history key names, or undefined. */
export function historySize(key: string): number | undefined {
  return HISTORY.test(key) ? sealedCoverage(key) : undefined;
}

/**
 * Full bundles and hash tiles whose coverage lies in `(from, to]`, bundles of a level-0 tile
 * before it and lower levels first, so that everything a tile commits to is listed before it.
 */
export function* sealedTileKeys(from: number, to: number): Generator<{ key: string; coverage: number }> {
  for (let b = Math.floor(from / TILE_WIDTH); (b + 1) * TILE_WIDTH <= to; b++) {
    const end = (b + 1) * TILE_WIDTH;
    yield { key: entriesPath(b), coverage: end };
    yield { key: tilePath({ level: 0, index: b, width: TILE_WIDTH }), coverage: end };
    // Higher tiles that this bundle completes: level L when `end` is a multiple of 256^(L+1).
    for (let level = 1, span = TILE_WIDTH ** 2; end % span === 0; level++, span *= TILE_WIDTH) {
      yield { key: tilePath({ level, index: end / span - 1, width: TILE_WIDTH }), coverage: end };
    }
  }
}

/** The tree size of a signed note (its second line), for our own notes read from local storage. */
export function noteSize(note: Uint8Array, what: string): number {
  const text = new TextDecoder().decode(note.subarray(0, 200));
  const m = /^[^\n]+\n(0|[1-9][0-9]{0,15})\n/.exec(text);
  const size = m === null ? Number.NaN : Number(m[1]);
  if (!Number.isSafeInteger(size)) {
    throw new RetentionError('retention.bad_local_object', `${what} is not a checkpoint note`, {
      details: { object: what },
    });
  }
  return size;
}

/** `received_at` (ms) of a record of entry bundle `key`. */
export function recordTime(record: Uint8Array, key: string): number {
  try {
    const at = (JSON.parse(new TextDecoder().decode(record)) as { received_at?: unknown }).received_at;
    const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN;
    if (!Number.isFinite(ms)) throw new Error('record without a valid received_at');
    return ms;
  } catch (err) {
    throw new RetentionError(
      'retention.bad_local_object',
      `a record of entry bundle ${key} cannot be dated`,
      {
        cause: err,
        details: { object: key },
      },
    );
  }
}
