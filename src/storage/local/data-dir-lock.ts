/**
 * The exclusive lock on a local data directory: `<root>/LOCK` holding the owner's pid.
 *
 * The local driver serializes writers inside one process only, so two processes on one directory
 * could both win a compare-and-swap and sign diverging checkpoints. The lock file is created
 * atomically (written to a temp name, then hard-linked into place, so it is never seen half-written).
 * A lock whose pid is not alive is stale (a crashed server) and is taken over. A lock naming our own
 * pid that this process does not hold is stale too: a container restart often reuses the same pid.
 * Limits: pids are per host, so this does not protect a directory shared over a network file system.
 */
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StorageError, toStorageError } from '../errors.js';
import { tempPathFor } from './durable-write.js';

/** Lock files held by this process (a second driver on the same directory must fail too). */
const held = new Set<string>();

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
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

/** Takes `<root>/LOCK` or throws `storage.locked` (with the owner's pid) when a live owner holds it. */
export async function acquireDataDirLock(root: string): Promise<DataDirLock> {
  const path = resolve(join(root, 'LOCK'));
  const locked = (pid: number | undefined) =>
    new StorageError('storage.locked', `data directory ${root} is in use by process ${pid ?? '?'}`, {
      details: { lock: path, pid },
    });
  if (held.has(path)) throw locked(process.pid);
  // Marked before the first await, so a second driver in this process fails instead of racing.
  held.add(path);
  try {
    for (let attempt = 0; ; attempt++) {
      if (await tryCreate(path)) break;
      const owner = await readOwner(path);
      // Our own pid here is a previous incarnation: this process holds no lock on this path.
      const stale = owner === undefined || owner === process.pid || !isAlive(owner);
      if (!stale || attempt > 0) throw locked(owner);
      await unlink(path).catch(() => {});
    }
  } catch (err) {
    held.delete(path);
    throw toStorageError(err, 'locking the data directory', { lock: path });
  }
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      held.delete(path);
      if ((await readOwner(path)) === process.pid) await unlink(path).catch(() => {});
    },
  };
}
