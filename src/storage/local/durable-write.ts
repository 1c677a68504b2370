/**
 * The one way the local driver makes a file durable (Sunlight's pattern): write a temporary file in
 * the target's folder, fsync it, rename it over the target, fsync the folder. A reader or a crash
 * sees the old file or the new one, never a mix; once the promise resolves, a power loss keeps it.
 *
 * Temporary names contain `#`, which no key segment may contain (`keys.ts`), so listings skip any
 * that a crash leaves behind and no key can ever name one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Folders known to exist durably, with the in-flight creations, shared by one driver's writers. */
export class DurableFolders {
  readonly #ready = new Map<string, Promise<void>>();

  /**
   * Resolves once `dir` exists and its entry in its parent is durable. Folders that are created are
   * fsynced along with their parent; a folder found existing gets its parent fsynced once too, since
   * a previous process may have crashed between its mkdir and that fsync.
   */
  ensure(dir: string): Promise<void> {
    let p = this.#ready.get(dir);
    if (p === undefined) {
      p = this.#create(dir);
      this.#ready.set(dir, p);
      // A failure must not be cached: the next writer tries again.
      p.catch(() => this.#ready.delete(dir));
    }
    return p;
  }

  async #create(dir: string): Promise<void> {
    const parent = dirname(dir);
    try {
      await mkdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && parent !== dir) {
        await this.ensure(parent);
        await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
      } else if (code === 'EEXIST') {
        // A file where a folder should be (key `a` exists, `a/b` is being written).
        if (!(await stat(dir)).isDirectory()) {
          throw Object.assign(new Error(`not a directory: ${dir}`), { code: 'ENOTDIR' });
        }
      } else {
        throw err;
      }
    }
    await fsyncDir(dir);
    if (parent !== dir) await fsyncDir(parent);
  }
}

/** The folder fsync running for a folder, and the one queued to start after it. */
interface FolderSync {
  running: Promise<void>;
  queued: Promise<void> | undefined;
}

const folderSyncs = new Map<string, FolderSync>();

/**
 * fsync of a folder, which makes the creation, rename or removal of its entries durable: resolves
 * once an fsync of `dir` that started after this call has completed. Calls for one folder share
 * fsyncs (group commit): while one runs, every new call joins the single one queued to start when
 * it ends, so N files written into one folder at once cost about two folder fsyncs, not N.
 */
export function fsyncDir(dir: string): Promise<void> {
  const current = folderSyncs.get(dir);
  if (current === undefined) return startFolderSync(dir);
  // The running fsync may have started before the caller's change: wait for the next one.
  current.queued ??= current.running.then(
    () => startFolderSync(dir),
    () => startFolderSync(dir),
  );
  return current.queued;
}

function startFolderSync(dir: string): Promise<void> {
  const entry: FolderSync = { running: syncFolder(dir), queued: undefined };
  folderSyncs.set(dir, entry);
  const done = () => {
    // A queued fsync replaces this entry when it starts; otherwise the folder is idle again.
    if (folderSyncs.get(dir) === entry && entry.queued === undefined) folderSyncs.delete(dir);
  };
  entry.running.then(done, done);
  return entry.running;
}

async function syncFolder(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

let tempCounter = 0;

/**
 * This process's mark in its temporary names. The pid alone repeats across restarts (a server in a
 * container is pid 1 every time), so it comes with random bits: a name without this mark was left
 * by another process.
 */
const INSTANCE = `${process.pid}-${randomBytes(4).toString('hex')}`;

/** A temporary name beside `path` that no key can collide with (contains `#`). */
export function tempPathFor(path: string): string {
  tempCounter = (tempCounter + 1) % Number.MAX_SAFE_INTEGER;
  return join(dirname(path), `.#${basename(path)}.${INSTANCE}.${tempCounter}`);
}

/** Temporary names of tempPathFor: `.#<name>.<pid>-<hex8>.<n>`, or `.#<name>.<pid>.<n>.<hex8>` (before 2026-11-30). */
const TEMP_NAME = /^\.#.+\.(?:\d+-[0-9a-f]{8}\.\d+|\d+\.\d+\.[0-9a-f]{8})$/;

/**
 * Whether `name` is a temporary file of tempPathFor that no write of this process can be using: one
 * that a process which died mid-write (a crash, a kill) left behind.
 */
export function isLeftoverTempName(name: string): boolean {
  return TEMP_NAME.test(name) && !name.includes(`.${INSTANCE}.`);
}

/**
 * Durably writes `data` at `path` with permission bits `mode` (exactly: umask does not apply), via a
 * temp file, fsync, rename and a fsync of the folder. Creates missing folders durably first.
 */
export async function writeFileDurable(
  folders: DurableFolders,
  path: string,
  data: Uint8Array,
  mode: number,
): Promise<void> {
  const dir = dirname(path);
  await folders.ensure(dir);
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    try {
      let off = 0;
      while (off < data.length) {
        const { bytesWritten } = await fh.write(data, off, data.length - off);
        off += bytesWritten;
      }
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fsyncDir(dir);
}
