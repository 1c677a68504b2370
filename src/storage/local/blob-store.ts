/**
 * BlobStore over files: the object at key `a/b/c` of log L is the file `<root>/logs/L/a/b/c`.
 *
 * Mutable objects are mode 0644 and replaced atomically (durable-write.ts). Immutable objects are
 * mode 0444 — that mode is how this driver recognizes them later — and, when enabled, carry the
 * Linux immutable flag. Check-then-write sequences are serialized per key within the process; the
 * data-directory LOCK keeps other processes out.
 */
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KeyedMutex } from '../../util/keyed-mutex.js';
import { StorageError, toStorageError } from '../errors.js';
import { isKeySegment, parsePrefix, RESERVED_BLOB_ROOTS, validateBlobKey } from '../keys.js';
import type { BlobStore, PutOptions } from '../types.js';
import { type DurableFolders, fsyncDir, writeFileDurable } from './durable-write.js';
import type { ImmutableFlag } from './immutable-flag.js';
import type { Gate } from './serial.js';

/** What one log's stores share with the driver. */
export interface LocalLogContext {
  /** `<root>/logs/<name>` */
  readonly dir: string;
  readonly folders: DurableFolders;
  readonly flag: ImmutableFlag;
  readonly gate: Gate;
  readonly mutex: KeyedMutex;
}

const MUTABLE_MODE = 0o644;
const IMMUTABLE_MODE = 0o444;

type Existing = { kind: 'file'; immutable: boolean } | { kind: 'folder' } | undefined;

function folderCollision(key: string): StorageError {
  return new StorageError('storage.invalid_key', `key ${key} collides with an existing object or folder`, {
    details: { reason: 'object/folder collision' },
  });
}

async function inspect(path: string): Promise<Existing> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return { kind: 'folder' };
    return { kind: 'file', immutable: (st.mode & 0o222) === 0 };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: a shorter key is a file, so this one cannot exist.
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

export class LocalBlobStore implements BlobStore {
  readonly #ctx: LocalLogContext;

  constructor(ctx: LocalLogContext) {
    this.#ctx = ctx;
  }

  #path(segments: string[]): string {
    return join(this.#ctx.dir, ...segments);
  }

  async put(key: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    const path = this.#path(validateBlobKey(key));
    const immutable = options?.immutable === true;
    return this.#ctx.gate.run(() =>
      this.#ctx.mutex.run(path, async () => {
        try {
          const existing = await inspect(path);
          if (existing?.kind === 'folder') throw folderCollision(key);
          if (existing !== undefined && (existing.immutable || immutable)) {
            const current = await readFile(path);
            if (!current.equals(data)) {
              throw new StorageError('storage.immutable_conflict', `object ${key} exists with other bytes`, {
                details: { key },
              });
            }
            // Identical bytes: a retry after a crash. Make sure it ends sealed.
            if (immutable && !existing.immutable)
              await writeFileDurable(this.#ctx.folders, path, data, IMMUTABLE_MODE);
            if (immutable) await this.#ctx.flag.seal(path);
            return;
          }
          await writeFileDurable(this.#ctx.folders, path, data, immutable ? IMMUTABLE_MODE : MUTABLE_MODE);
          if (immutable) await this.#ctx.flag.seal(path);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOTDIR' || code === 'EISDIR') throw folderCollision(key);
          throw toStorageError(err, 'put', { key });
        }
      }),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const path = this.#path(validateBlobKey(key));
    return this.#ctx.gate.run(async () => {
      try {
        const buf = await readFile(path);
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
        throw toStorageError(err, 'get', { key });
      }
    });
  }

  async list(prefix: string): Promise<string[]> {
    const { folders, rest, reserved } = parsePrefix(prefix);
    return this.#ctx.gate.run(async () => {
      if (reserved) return [];
      const out: string[] = [];
      const keyPrefix = folders.length === 0 ? '' : `${folders.join('/')}/`;
      try {
        await walk(join(this.#ctx.dir, ...folders), keyPrefix, rest, folders.length === 0, out);
      } catch (err) {
        throw toStorageError(err, 'list', { prefix });
      }
      // Keys are ASCII, so UTF-16 code-unit order is byte order.
      return out.sort();
    });
  }

  async delete(key: string, options?: { retention?: boolean }): Promise<void> {
    const path = this.#path(validateBlobKey(key));
    return this.#ctx.gate.run(() =>
      this.#ctx.mutex.run(path, async () => {
        try {
          const existing = await inspect(path);
          if (existing === undefined || existing.kind === 'folder') return;
          if (existing.immutable && options?.retention !== true) {
            throw new StorageError('storage.immutable_conflict', `object ${key} is immutable`, {
              details: { key },
            });
          }
          try {
            await unlink(path);
          } catch (err) {
            // EPERM: the immutable flag is set (perhaps by an earlier run); retention clears it.
            if ((err as NodeJS.ErrnoException).code !== 'EPERM' || !existing.immutable) throw err;
            await this.#ctx.flag.clear(path);
            await unlink(path);
          }
          await fsyncDir(dirname(path));
        } catch (err) {
          throw toStorageError(err, 'delete', { key });
        }
      }),
    );
  }
}

/** Collects the keys of files under `dir` (whose key prefix is `keyPrefix`) whose next segment starts with `rest`. */
async function walk(
  dir: string,
  keyPrefix: string,
  rest: string,
  top: boolean,
  out: string[],
): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw err;
  }
  for (const e of entries) {
    // Temp files (`#`), strays and the state/journal folders are not blobs.
    if (!e.name.startsWith(rest) || !isKeySegment(e.name)) continue;
    if (top && RESERVED_BLOB_ROOTS.includes(e.name)) continue;
    if (e.isDirectory()) await walk(join(dir, e.name), `${keyPrefix}${e.name}/`, '', false, out);
    else if (e.isFile()) out.push(keyPrefix + e.name);
  }
}
