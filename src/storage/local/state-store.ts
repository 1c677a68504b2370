/**
 * StateStore over files: key K of log L is `<root>/logs/L/state/K`, replaced durably on every
 * successful compare-and-swap.
 *
 * File format (all integers little-endian):
 *   [4]  magic "IST1"
 *   [4]  CRC-32C of everything after this field
 *   [8]  version counter (a safe integer, 1 for the first write, +1 per swap)
 *   [..] value
 * The version token is the counter in decimal. Keys are never deleted, so a counter never repeats
 * for a key and a stale token can never match again. Compare-and-swap is atomic because swaps of one
 * key are serialized within the process and the data-directory LOCK keeps other processes out.
 *
 * The state holds the log's private signing key (`config`), so its folder is mode 0700 and its
 * files 0600, whatever the umask, and however the data directory is later copied or its public
 * objects served. A folder and files left readable by others by an older version are closed at the
 * first read (group and other bits cleared, where the process may: a read-only snapshot is read as
 * it is).
 */
import { chmod, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError, toStorageError } from '../errors.js';
import { validateKey } from '../keys.js';
import type { StateStore, Versioned } from '../types.js';
import type { LocalLogContext } from './blob-store.js';
import { crc32c } from './crc32c.js';
import { writeFileDurable } from './durable-write.js';

const MAGIC = 0x31545349; // "IST1" read as a little-endian u32
const HEADER = 16;

interface Stored {
  counter: number;
  value: Uint8Array;
}

function encode(counter: number, value: Uint8Array): Uint8Array {
  const buf = Buffer.allocUnsafe(HEADER + value.length);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(counter % 0x1_0000_0000, 8);
  buf.writeUInt32LE(Math.floor(counter / 0x1_0000_0000), 12);
  buf.set(value, HEADER);
  buf.writeUInt32LE(crc32c(buf, 8), 4);
  return buf;
}

function decode(buf: Buffer, key: string): Stored {
  const corrupt = (why: string) =>
    new StorageError('storage.corrupt', `state ${key}: ${why}`, { details: { key, reason: why } });
  if (buf.length < HEADER || buf.readUInt32LE(0) !== MAGIC) throw corrupt('bad header');
  if (buf.readUInt32LE(4) !== crc32c(buf, 8)) throw corrupt('checksum mismatch');
  const counter = buf.readUInt32LE(8) + buf.readUInt32LE(12) * 0x1_0000_0000;
  if (!Number.isSafeInteger(counter) || counter < 1) throw corrupt('bad version counter');
  return { counter, value: new Uint8Array(buf.buffer, buf.byteOffset + HEADER, buf.length - HEADER) };
}

const STATE_FILE_MODE = 0o600;

/** Clears the group and other permission bits of `path`, if any are set. */
async function ownerOnly(path: string): Promise<void> {
  const { mode } = await stat(path);
  if ((mode & 0o077) !== 0) await chmod(path, mode & 0o700);
}

export class LocalStateStore implements StateStore {
  readonly #ctx: LocalLogContext;
  /** Whether this process has made the state folder private yet. */
  #private = false;

  constructor(ctx: LocalLogContext) {
    this.#ctx = ctx;
  }

  /**
   * Makes the state folder and its files readable by this user alone, once the folder exists (an
   * older version left them 0755 and 0644), taking away only group and other bits. Best effort: a
   * read-only snapshot (EROFS) or another user's directory (EPERM) is read as it is.
   */
  async #restrict(): Promise<void> {
    if (this.#private) return;
    const dir = join(this.#ctx.dir, 'state');
    try {
      await ownerOnly(dir);
      for (const name of await readdir(dir)) await ownerOnly(join(dir, name));
      this.#private = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#private = true;
    }
  }

  async #load(path: string, key: string): Promise<Stored | undefined> {
    let buf: Buffer;
    try {
      buf = await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
      throw toStorageError(err, 'state read', { key });
    }
    return decode(buf, key);
  }

  async read(key: string): Promise<Versioned | undefined> {
    const path = join(this.#ctx.dir, 'state', ...validateKey(key));
    return this.#ctx.gate.run(async () => {
      await this.#restrict();
      const stored = await this.#load(path, key);
      return stored && { value: stored.value, version: String(stored.counter) };
    });
  }

  async compareAndSwap(key: string, expected: string | undefined, value: Uint8Array): Promise<string> {
    const path = join(this.#ctx.dir, 'state', ...validateKey(key));
    return this.#ctx.gate.run(() =>
      this.#ctx.mutex.run(path, async () => {
        const current = await this.#load(path, key);
        const currentVersion = current && String(current.counter);
        if (currentVersion !== expected) {
          throw new StorageError('storage.cas_conflict', `state ${key} is not at the expected version`, {
            details: { key, expected, actual: currentVersion },
          });
        }
        const next = (current?.counter ?? 0) + 1;
        try {
          await writeFileDurable(this.#ctx.folders, path, encode(next, value), STATE_FILE_MODE);
          await this.#restrict();
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOTDIR' || code === 'EISDIR') {
            throw new StorageError('storage.invalid_key', `state key ${key} collides with another key`, {
              details: { reason: 'object/folder collision' },
            });
          }
          throw toStorageError(err, 'compareAndSwap', { key });
        }
        return String(next);
      }),
    );
  }
}
