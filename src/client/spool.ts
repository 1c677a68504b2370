/**
 * The AuditLogger's on-disk spool: events survive a crash of the producing process between
 * `log()` resolving and the server's acknowledgement. Node only (node:fs); loaded on demand.
 *
 * Layout of the spool directory (one logger at a time, enforced by LOCK):
 *   LOCK          the holder's pid; a lock whose process is gone is taken over (after a crash)
 *   events.ndjson one event JSON per LF-terminated line, appended and fsync'd before log() resolves
 *   acked.txt     ids of events acknowledged (or dropped), one per line; appended, never fsync'd
 *
 * Crash reasoning: an event is in events.ndjson (durably) before the caller hears "logged". Its id
 * reaches acked.txt only after the server acknowledged it; losing that line in a crash merely
 * resends the event, which the server deduplicates by event id — so nothing is lost and nothing is
 * duplicated. A torn last line of events.ndjson belongs to a write whose fsync never returned (its
 * log() never resolved) and is dropped. When every spooled event is acknowledged both files are
 * truncated (events first: a crash in between leaves ids that match nothing, which is harmless);
 * when they grow large the live events are rewritten to a new file (temp, fsync, rename, fsync dir).
 *
 * A line before the last LF that is not a spooled event (a damaged disk, a hand edit) cannot be a
 * torn write. Opening does not refuse the whole spool for it (the application could then log
 * nothing): the file as found is kept beside the spool as `events.ndjson.damaged-<time>`, the
 * readable events are recovered, and `open` reports the damage so the logger can raise it.
 */
import { constants } from 'node:fs';
import { type FileHandle, link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { ClientError } from './errors.js';

const EVENTS = 'events.ndjson';
const ACKED = 'acked.txt';
const LOCK = 'LOCK';
/** Rewrite the events file (keeping only live events) once it reaches this size. */
const COMPACT_BYTES = 8 * 1024 * 1024;

/** Lines of events.ndjson that were not spooled events, and where the file as found was kept. */
export interface SpoolDamage {
  /** 1-based line numbers. */
  lines: number[];
  keptAs: string;
}

/** One spooled event: its id and its exact JSON text (what is resent). */
export interface SpooledEvent {
  id: string;
  json: string;
}

export class Spool {
  readonly dir: string;
  #events: FileHandle;
  #acked: FileHandle;
  /** Spooled and not yet acknowledged: id → JSON text. */
  readonly #live = new Map<string, string>();
  #eventsBytes: number;
  /** Size at which the next compaction runs: at least twice the live data, so rewrites stay amortized O(1). */
  #compactAt = COMPACT_BYTES;
  /** Serializes every file operation (group commits, acks, truncation, compaction). */
  #chain: Promise<void> = Promise.resolve();
  #pending: { line: string; item: SpooledEvent; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #closed = false;

  private constructor(dir: string, events: FileHandle, acked: FileHandle, bytes: number) {
    this.dir = dir;
    this.#events = events;
    this.#acked = acked;
    this.#eventsBytes = bytes;
  }

  /** Takes the lock, reads what a previous process left unacknowledged, and compacts the files. */
  static async open(dir: string): Promise<{ spool: Spool; recovered: SpooledEvent[]; damage?: SpoolDamage }> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await takeLock(dir);
    try {
      const { live: recovered, damaged } = await readLive(dir);
      let damage: SpoolDamage | undefined;
      if (damaged.length > 0) {
        // Keep the file as found before it is rewritten without the damaged lines.
        const keptAs = join(dir, `${EVENTS}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`);
        await writeDurably(dir, basename(keptAs), await readFile(join(dir, EVENTS)));
        damage = { lines: damaged, keptAs };
      }
      // Start from clean files holding exactly the live events (no torn tail, no stale acks).
      await writeDurably(dir, EVENTS, recovered.map((e) => `${e.json}\n`).join(''));
      const events = await open(join(dir, EVENTS), constants.O_WRONLY | constants.O_APPEND);
      const acked = await open(join(dir, ACKED), 'w');
      const bytes = (await events.stat()).size;
      await syncDir(dir);
      const spool = new Spool(dir, events, acked, bytes);
      for (const e of recovered) spool.#live.set(e.id, e.json);
      return damage === undefined ? { spool, recovered } : { spool, recovered, damage };
    } catch (err) {
      await unlink(join(dir, LOCK)).catch(() => {});
      throw err;
    }
  }

  /** Resolves once `item` is fsync'd; calls in the same tick share one write and one fsync. */
  append(item: SpooledEvent): Promise<void> {
    if (this.#closed) return Promise.reject(new ClientError('client.closed', 'the spool is closed'));
    return new Promise((resolve, reject) => {
      if (this.#pending.push({ line: `${item.json}\n`, item, resolve, reject }) === 1) {
        this.#run(() => this.#commit());
      }
    });
  }

  /** Forgets acknowledged (or dropped) events. Not fsync'd: a lost ack only causes an idempotent resend. */
  ack(ids: readonly string[]): Promise<void> {
    const known = ids.filter((id) => this.#live.delete(id));
    if (known.length === 0) return this.#chain;
    return this.#run(async () => {
      if (this.#live.size === 0) {
        // Everything acknowledged: truncate, events first (see the module comment).
        await this.#events.truncate(0);
        await this.#events.sync();
        await this.#acked.truncate(0);
        this.#eventsBytes = 0;
        return;
      }
      await this.#acked.write(known.map((id) => `${id}\n`).join(''));
      if (this.#eventsBytes >= this.#compactAt) await this.#compact();
    });
  }

  /** Events spooled and not yet acknowledged. */
  get size(): number {
    return this.#live.size;
  }

  /** Waits for pending writes, closes the files and releases the lock. Unacknowledged events stay. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#chain;
    await this.#events.close();
    await this.#acked.close();
    await unlink(join(this.dir, LOCK)).catch(() => {});
  }

  #run(step: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(step);
    // The chain itself never rejects, so one failed step does not poison the next.
    this.#chain = next.catch(() => {});
    return next;
  }

  async #commit(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    try {
      const text = batch.map((p) => p.line).join('');
      await this.#events.write(text);
      await this.#events.sync();
      this.#eventsBytes += Buffer.byteLength(text);
      for (const p of batch) this.#live.set(p.item.id, p.item.json);
      for (const p of batch) p.resolve();
    } catch (err) {
      const e = new ClientError('client.spool_corrupt', `cannot write the spool in ${this.dir}`, {
        cause: err,
      });
      for (const p of batch) p.reject(e);
    }
  }

  async #compact(): Promise<void> {
    const text = [...this.#live.values()].map((j) => `${j}\n`).join('');
    await this.#events.close();
    await writeDurably(this.dir, EVENTS, text);
    this.#events = await open(join(this.dir, EVENTS), constants.O_WRONLY | constants.O_APPEND);
    await this.#acked.truncate(0);
    this.#eventsBytes = Buffer.byteLength(text);
    this.#compactAt = Math.max(COMPACT_BYTES, 2 * this.#eventsBytes);
  }
}

/** Reads events.ndjson minus acked.txt, in spool order, each id once; and the damaged lines' numbers. */
async function readLive(dir: string): Promise<{ live: SpooledEvent[]; damaged: number[] }> {
  const text = await readFile(join(dir, EVENTS), 'utf8').catch(ifMissing(''));
  const acked = new Set((await readFile(join(dir, ACKED), 'utf8').catch(ifMissing(''))).split('\n'));
  const lines = text.split('\n');
  // The part after the last LF is a torn write whose log() never resolved.
  lines.pop();
  const seen = new Set<string>();
  const out: SpooledEvent[] = [];
  const damaged: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const json = lines[i]!;
    let id: unknown;
    try {
      id = (JSON.parse(json) as { id?: unknown }).id;
    } catch {
      id = undefined;
    }
    if (typeof id !== 'string') {
      damaged.push(i + 1);
      continue;
    }
    if (acked.has(id) || seen.has(id)) continue;
    seen.add(id);
    out.push({ id, json });
  }
  return { live: out, damaged };
}

const ifMissing =
  <T>(value: T) =>
  (err: unknown): T => {
    if ((err as { code?: unknown }).code === 'ENOENT') return value;
    throw err;
  };

/** Replaces `dir/name` with `text`: temp file, fsync, rename, fsync the directory. */
async function writeDurably(dir: string, name: string, text: string | Buffer): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Creates LOCK exclusively. A LOCK left by a process that no longer exists on this host (a crash,
 * SIGKILL) is taken over; a live holder is `client.spool_locked` — two loggers appending to one
 * spool would resend each other's events.
 *
 * Taking over is a rename of the stale LOCK to a name of our own, then a check that what moved is
 * what was judged stale: two processes finding the same stale lock (workers restarted together)
 * could otherwise both delete "it", the second deleting the first's new lock, and both own the
 * spool. The one that moved a fresh lock puts it back and reports the spool locked.
 * `afterRead` is a test seam: it runs between reading the holder and taking over.
 */
export async function takeLock(
  dir: string,
  options: { afterRead?: () => Promise<void> } = {},
): Promise<void> {
  const path = join(dir, LOCK);
  const me = `${process.pid} ${hostname()}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.write(me);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    }
    let holder = await readFile(path, 'utf8').catch(ifMissing(''));
    if (holder === '') {
      // Empty: a holder between its exclusive create and its write, or one that died there.
      await new Promise((r) => setTimeout(r, 50));
      holder = await readFile(path, 'utf8').catch(ifMissing(''));
    }
    const [pidText, host] = holder.trim().split(' ');
    const pid = Number(pidText);
    if (host === hostname() && Number.isSafeInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new ClientError('client.spool_locked', `spool ${dir} is in use by process ${pid}`, {
        details: { pid },
      });
    }
    if (holder !== '' && host !== hostname()) {
      throw new ClientError(
        'client.spool_locked',
        `spool ${dir} is locked by ${host}; remove ${path} if stale`,
      );
    }
    await options.afterRead?.();
    const moved = `${path}.stale-${process.pid}-${Date.now()}-${attempt}`;
    try {
      await rename(path, moved);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') continue; // someone else took it over
      throw err;
    }
    const taken = await readFile(moved, 'utf8').catch(ifMissing(''));
    if (taken !== holder) {
      // Another process replaced the stale lock with its own meanwhile: give it back (where the
      // place is still free), and leave the spool to it.
      await link(moved, path).catch(() => {});
      await unlink(moved).catch(() => {});
      throw new ClientError('client.spool_locked', `spool ${dir} was just taken by another process`);
    }
    await unlink(moved).catch(ifMissing(undefined));
  }
  throw new ClientError('client.spool_locked', `could not take the lock of spool ${dir}`);
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}
