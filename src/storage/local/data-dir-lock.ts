/**
 * The exclusive lock on a local data directory.
 *
 * The local driver serializes writers inside one process only, so two processes on one directory
 * could both win a compare-and-swap and sign diverging checkpoints. Mutual exclusion is a kernel
 * lock: an exclusive SQLite transaction held open on `<root>/LOCK.db` (a POSIX record lock through
 * SQLite's VFS), which the kernel drops when the process dies, so there is no stale lock to take
 * over and no race between processes taking one over. `<root>/LOCK` then records the owner's pid for
 * people and error messages; it is rewritten by whoever holds the kernel lock.
 * Limits: POSIX locks are unreliable on some network file systems; keep data directories local.
 */
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StorageError, toStorageError } from '../errors.js';
import { tempPathFor } from './durable-write.js';

/** Lock files held by this process (a second driver on the same directory must fail too). */
const held = new Set<string>();

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

async function readOwner(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

async function tryCreate(path: string): Promise<boolean> {
  const tmp = tempPathFor(path);
  await writeFile(tmp, `${process.pid}\n`, { mode: 0o644 });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Holds the kernel lock on `<root>/LOCK.db`, or returns undefined when another process holds it. */
function takeKernelLock(root: string): Database.Database | undefined {
  const db = new Database(join(root, 'LOCK.db'), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return undefined;
    throw err;
  }
}

function lockedError(root: string, path: string, pid: number | undefined): StorageError {
  return new StorageError('storage.locked', `data directory ${root} is in use by process ${pid ?? '?'}`, {
    details: { lock: path, pid },
  });
}

/**
 * For a directory read without its lock (a read-only file system): throws `storage.locked` when a
 * live process holds the kernel lock anyway, as it does when the read-only mount is a view of a
 * directory a server writes through another path. A held exclusive lock on `LOCK.db` makes even a
 * read-only connection's read fail with SQLITE_BUSY; a snapshot's copy of `LOCK.db` is not locked.
 */
export async function refuseIfLocked(root: string): Promise<void> {
  const path = resolve(join(root, 'LOCK'));
  let db: Database.Database | undefined;
  try {
    db = new Database(join(root, 'LOCK.db'), { readonly: true, fileMustExist: true, timeout: 0 });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_BUSY') throw lockedError(root, path, await readOwner(path));
    // No LOCK.db (no process ever opened the directory) or one SQLite cannot read: nobody holds it.
  } finally {
    db?.close();
  }
}

/** Takes the data directory's lock or throws `storage.locked` (with the owner's pid) when a live process holds it. */
export async function acquireDataDirLock(root: string): Promise<DataDirLock> {
  const path = resolve(join(root, 'LOCK'));
  const locked = (pid: number | undefined) => lockedError(root, path, pid);
  if (held.has(path)) throw locked(process.pid);
  // Marked before the first await, so a second driver in this process fails instead of racing.
  held.add(path);
  let kernel: Database.Database | undefined;
  try {
    kernel = takeKernelLock(root);
    if (kernel === undefined) throw locked(await readOwner(path));
    // We hold the kernel lock, so any pid file left here is stale: replace it.
    if (!(await tryCreate(path))) {
      await unlink(path).catch(() => {});
      if (!(await tryCreate(path))) throw locked(await readOwner(path));
    }
  } catch (err) {
    kernel?.close();
    held.delete(path);
    throw toStorageError(err, 'locking the data directory', { lock: path });
  }
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      if ((await readOwner(path)) === process.pid) await unlink(path).catch(() => {});
      kernel.close();
      held.delete(path);
    },
  };
}
