/**
 * The archiver's persisted progress for one log: a few tree sizes in the log's own state store
 * (key `archive/cursor`), written by compare-and-swap so that two archivers of one log can never
 * both believe they advanced it. Each number is a coverage (sealed-objects.ts): "every sealed object
 * whose coverage is ≤ n has reached this stage".
 *
 * Stages advance in this order, and each is saved only after the work it names is done, so a crash
 * at any point leaves a cursor that under-states progress; the next run redoes a little work
 * (uploads are idempotent: same key, same bytes, one version) and loses nothing.
 */
import type { StateStore } from '../storage/types.js';
import { RetentionError } from './errors.js';

export interface ArchiveCursor {
  v: 1;
  /** Where the objects went; a different target with evicted data is refused. */
  bucket: string;
  prefix: string;
  /** Full entry bundles and hash tiles with coverage ≤ sealed are uploaded, locked and verified. */
  sealed: number;
  /**
   * The checkpoint size whose history (and every earlier checkpoint's), edge partials and latest
   * checkpoint are in the archive: the archive alone verifies up to this size.
   */
  archived: number;
  /**
   * Sealed objects with coverage ≤ evicted may have no local copy: reads of them go to the archive.
   * Saved (and published to readers) BEFORE any local copy is deleted.
   */
  evicted: number;
  /** Local copies of sealed objects with coverage ≤ clean are deleted (eviction finished so far). */
  clean: number;
}

export const CURSOR_KEY = 'archive/cursor';

function bad(reason: string): RetentionError {
  return new RetentionError('retention.bad_local_object', `state ${CURSOR_KEY} is malformed: ${reason}`, {
    details: { object: `state:${CURSOR_KEY}` },
  });
}

/** Parses a stored cursor defensively (it is our own file, but a damaged one must not be trusted). */
export function parseCursor(bytes: Uint8Array): ArchiveCursor {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw bad('not JSON');
  }
  const c = value as Partial<ArchiveCursor> | null;
  if (typeof c !== 'object' || c === null || c.v !== 1) throw bad('unknown version');
  if (typeof c.bucket !== 'string' || typeof c.prefix !== 'string') throw bad('bucket or prefix');
  const sizes = [c.sealed, c.archived, c.evicted, c.clean];
  if (!sizes.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) throw bad('sizes');
  if (c.clean! > c.evicted! || c.evicted! > Math.min(c.sealed!, c.archived!)) throw bad('stage order');
  return {
    v: 1,
    bucket: c.bucket,
    prefix: c.prefix,
    sealed: c.sealed!,
    archived: c.archived!,
    evicted: c.evicted!,
    clean: c.clean!,
  };
}

/** Reads and writes one log's cursor with compare-and-swap. */
export class CursorStore {
  #version: string | undefined;

  constructor(private readonly state: StateStore) {}

  async load(): Promise<ArchiveCursor | undefined> {
    const stored = await this.state.read(CURSOR_KEY);
    this.#version = stored?.version;
    return stored === undefined ? undefined : parseCursor(stored.value);
  }

  /** Fails with `storage.cas_conflict` when another archiver saved in between. */
  async save(cursor: ArchiveCursor): Promise<void> {
    const bytes = new TextEncoder().encode(JSON.stringify(cursor));
    this.#version = await this.state.compareAndSwap(CURSOR_KEY, this.#version, bytes);
  }
}
