/**
 * The AuditLogger's on-disk spool: events survive a crash of the producing process between
 * `log()` resolving and the server's acknowledgement. Node only (node:fs); loaded on demand.
 *
 * Layout of the spool directory (one logger at a time, enforced by LOCK):
 *   LOCK          the holder's pid, host and start; a lock whose process is gone is taken over (after a crash)
 *   events.ndjson one event JSON per LF-terminated line, appended and fsync'd before log() resolves
 *   acked.txt     ids of events acknowledged (or dropped), one per line; appended without fsync
 *
 * Crash reasoning: an event is in events.ndjson (durably) before the caller hears "logged". Its id
 * reaches acked.txt only after the server acknowledged it; losing that line in a crash merely
 * resends the event, which the server deduplicates by event id — so nothing is lost and nothing is
 * duplicated. Each ack line cancels one earlier line of its id, so an id forgotten (dropped, refused)
 * and logged again stays live. A torn last line of events.ndjson belongs to a write whose fsync
 * never returned (its log() never resolved) and is dropped. When every spooled event is acknowledged
 * both files are truncated (events first: a crash in between leaves ids that match nothing, which is
 * harmless; acks durably, since an old one reappearing after a power loss could cancel a later line
 * of its id); when they grow large the live events are rewritten to a new file (temp, fsync, rename,
 * fsync dir), the acks emptied durably first.
 *
 * A line before the last LF that is not a spooled event (a damaged disk, a hand edit) cannot be a
 * torn write. Opening does not refuse the whole spool for it (the application could then log
 * nothing): the file as found is kept beside the spool as `events.ndjson.damaged-<time>`, the
 * readable events are recovered, and `open` reports the damage so the logger can raise it.
 */

import { createHash, randomUUID } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { type FileHandle, link, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
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
  /** acked.txt may hold lines (on disk) since it was last emptied durably. */
  #ackedAny = false;
  /** A write may have left bytes past #eventsBytes (it failed or did not finish). */
  #torn = false;

  private constructor(dir: string, events: FileHandle, acked: FileHandle, bytes: number) {
    this.dir = dir;
    this.#events = events;
    this.#acked = acked;
    this.#eventsBytes = bytes;
  }

  /**
   * Takes the lock, reads what a previous process left unacknowledged, and compacts the files.
   * Rejects with `client.spool_locked`, or `client.spool_corrupt` when the directory cannot be
   * created, read or written (`cause` is the file system's error).
   */
  static async open(dir: string): Promise<{ spool: Spool; recovered: SpooledEvent[]; damage?: SpoolDamage }> {
    try {
      return await Spool.#open(dir);
    } catch (err) {
      if (err instanceof ClientError) throw err;
      throw new ClientError(
        'client.spool_corrupt',
        `cannot open the spool in ${dir}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  static async #open(
    dir: string,
  ): Promise<{ spool: Spool; recovered: SpooledEvent[]; damage?: SpoolDamage }> {
    const made = await mkdir(dir, { recursive: true, mode: 0o700 });
    // A directory created here must itself be durable, or a power loss could take the spool with it.
    if (made !== undefined) {
      for (let d = resolve(dir); d !== dirname(resolve(made)); d = dirname(d)) await syncDir(dirname(d));
    }
    await takeLock(dir);
    const handles: FileHandle[] = [];
    try {
      const { live: recovered, damaged } = await readLive(dir);
      let damage: SpoolDamage | undefined;
      if (damaged.length > 0) {
        // Keep the file as found before it is rewritten without the damaged lines.
        const keptAs = join(dir, `${EVENTS}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`);
        await writeDurably(dir, basename(keptAs), await readFile(join(dir, EVENTS)));
        damage = { lines: damaged, keptAs };
      }
      // Start from clean files holding exactly the live events (no torn tail, no stale acks). The
      // acks go first, durably: old acks beside the new file could cancel a live line of an id
      // logged again; old lines beside no acks are merely resent (deduplicated by the server).
      const acked = await open(join(dir, ACKED), 'w');
      handles.push(acked);
      await acked.sync();
      await writeDurably(dir, EVENTS, recovered.map((e) => `${e.json}\n`).join(''));
      const events = await open(join(dir, EVENTS), constants.O_WRONLY | constants.O_APPEND);
      handles.push(events);
      const bytes = (await events.stat()).size;
      await syncDir(dir);
      const spool = new Spool(dir, events, acked, bytes);
      for (const e of recovered) spool.#live.set(e.id, e.json);
      return damage === undefined ? { spool, recovered } : { spool, recovered, damage };
    } catch (err) {
      for (const h of handles) await h.close().catch(() => {});
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
        this.#eventsBytes = 0;
        if (this.#ackedAny) {
          // Durably: an old ack that came back after a power loss could cancel the line of an id
          // logged again later (readLive). When nothing was written (the usual case), no fsync.
          await this.#acked.truncate(0);
          await this.#acked.sync();
          this.#ackedAny = false;
        }
        return;
      }
      this.#ackedAny = true;
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
      if (this.#torn) await this.#cutTornTail();
      const text = batch.map((p) => p.line).join('');
      this.#torn = true;
      // writeFile, not write: one write() may stop short (a full disk) and say so only in its count.
      await this.#events.writeFile(text);
      await this.#events.sync();
      this.#torn = false;
      this.#eventsBytes += Buffer.byteLength(text);
      for (const p of batch) this.#live.set(p.item.id, p.item.json);
      for (const p of batch) p.resolve();
    } catch (err) {
      // Part of the text may be in the file (ENOSPC, EIO): cut it off, so that the next append does
      // not continue a torn line (which would make that event unreadable too), and so that events
      // whose append rejected are not resent after a restart. If cutting fails, the next commit
      // tries again before it writes.
      if (this.#torn) await this.#cutTornTail().catch(() => {});
      const e = new ClientError('client.spool_corrupt', `cannot write the spool in ${this.dir}`, {
        cause: err,
      });
      for (const p of batch) p.reject(e);
    }
  }

  /** Truncates the events file to its committed lines (#eventsBytes). */
  async #cutTornTail(): Promise<void> {
    await this.#events.truncate(this.#eventsBytes);
    this.#torn = false;
  }

  /**
   * Rewrites the events file with the live events only. The new file is written and opened before it
   * replaces the old one: a failure (a full disk is likely here) leaves the old file and its handle
   * in use, never a closed handle or one whose file was replaced (appends there would be lost).
   */
  async #compact(): Promise<void> {
    const text = [...this.#live.values()].map((j) => `${j}\n`).join('');
    const tmp = join(this.dir, `${EVENTS}.tmp`);
    const next = await open(
      tmp,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_TRUNC,
      0o600,
    );
    try {
      await next.writeFile(text);
      await next.sync();
      // Acks emptied durably before the rewritten file replaces the old one (see open()).
      await this.#acked.truncate(0);
      await this.#acked.sync();
      this.#ackedAny = false;
      await rename(tmp, join(this.dir, EVENTS));
    } catch (err) {
      await next.close();
      await unlink(tmp).catch(() => {});
      throw err;
    }
    const old = this.#events;
    this.#events = next;
    this.#eventsBytes = Buffer.byteLength(text);
    this.#torn = false;
    await old.close().catch(() => {});
    await syncDir(this.dir);
    this.#compactAt = Math.max(COMPACT_BYTES, 2 * this.#eventsBytes);
  }
}

/**
 * Reads events.ndjson minus acked.txt, in spool order, each id once; and the damaged lines' numbers.
 * An ack line is written after the line it acknowledges, so each cancels one earlier line of its id,
 * the earliest: an id forgotten (dropped, refused) and then logged again is live in its later line.
 */
async function readLive(dir: string): Promise<{ live: SpooledEvent[]; damaged: number[] }> {
  const text = await readFile(join(dir, EVENTS), 'utf8').catch(ifMissing(''));
  const acked = new Map<string, number>();
  for (const id of (await readFile(join(dir, ACKED), 'utf8').catch(ifMissing(''))).split('\n')) {
    acked.set(id, (acked.get(id) ?? 0) + 1);
  }
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
    const acks = acked.get(id) ?? 0;
    if (acks > 0) {
      acked.set(id, acks - 1);
      continue;
    }
    if (seen.has(id)) continue;
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
 * Takes the spool's LOCK. A LOCK left by a process that no longer exists on this host (a crash,
 * SIGKILL) is taken over; a live holder is `client.spool_locked` — two loggers appending to one
 * spool would resend each other's events.
 *
 * The lock is created complete: our line (pid, host, a nonce) is written to a file of our own and
 * hard-linked to LOCK, which fails if LOCK exists, so no one ever reads a half-written lock.
 *
 * Taking over a stale lock must leave one owner however many processes find it at once (workers
 * restarted together). Replacing the stale content H needs the takeover token for H,
 * `LOCK.takeover-<hash of H>`, created exclusively: one process at a time. Its holder checks that
 * LOCK still reads H and renames its own lock over it. Nothing else can change LOCK meanwhile (it
 * exists, so no one can create it, and replacing H needs the token). The token is removed after the
 * replacement: whoever gets it later finds LOCK no longer H and starts again. A token whose holder
 * died in between is reported, naming it, rather than guessed about.
 *
 * `afterRead` and `afterToken` are test seams: they run after reading a stale holder and after
 * taking its token.
 */
export async function takeLock(
  dir: string,
  options: { afterRead?: () => Promise<void>; afterToken?: () => Promise<void> } = {},
): Promise<void> {
  const path = join(dir, LOCK);
  const start = startOf(process.pid);
  const me = `${process.pid} ${hostname()} ${randomUUID()}${start === undefined ? '' : ` ${start}`}\n`;
  const mine = `${path}.new-${process.pid}-${randomUUID()}`;
  await writeDurably(dir, basename(mine), me);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await createFrom(mine, path, me)) return;
      let holder = await readFile(path, 'utf8').catch(ifMissing(undefined));
      if (holder === '') {
        // Being written (a file system without hard links), or its writer died there: look again.
        await new Promise((r) => setTimeout(r, 50));
        holder = await readFile(path, 'utf8').catch(ifMissing(undefined));
      }
      if (holder === undefined) continue; // released meanwhile
      assertStale(dir, path, holder);
      await options.afterRead?.();
      const token = `${path}.takeover-${createHash('sha256').update(holder).digest('hex').slice(0, 16)}`;
      if (!(await createFrom(mine, token, me))) {
        const taker = await readFile(token, 'utf8').catch(ifMissing(undefined));
        if (taker === undefined) continue; // that takeover just ended: look again
        const pid = liveHolder(taker);
        throw new ClientError(
          'client.spool_locked',
          pid === undefined && taker !== ''
            ? `spool ${dir}: a takeover of its stale lock was left unfinished by a process that is gone; remove ${token}`
            : `spool ${dir} is being taken over by process ${pid ?? '(starting)'}`,
          { details: { token } },
        );
      }
      try {
        await options.afterToken?.();
        if ((await readFile(path, 'utf8').catch(ifMissing(undefined))) !== holder) continue;
        await rename(mine, path);
        return;
      } finally {
        await unlink(token).catch(ifMissing(undefined));
      }
    }
    throw new ClientError('client.spool_locked', `could not take the lock of spool ${dir}`);
  } finally {
    await unlink(mine).catch(ifMissing(undefined));
  }
}

/**
 * Creates `path` holding `text` (the content of the written file `from`) unless it exists (false).
 * A hard link makes it appear complete, never empty; where the file system has no hard links (some
 * network and FUSE file systems), an exclusive create and write, whose brief empty state readers
 * of a lock treat as held.
 */
async function createFrom(from: string, path: string, text: string): Promise<boolean> {
  try {
    await link(from, path);
    return true;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
  }
  try {
    await writeFile(path, text, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === 'EEXIST') return false;
    throw err;
  }
}

/** Throws `client.spool_locked` unless the lock line names a process of this host that is gone. */
function assertStale(dir: string, path: string, holder: string): void {
  const pid = liveHolder(holder);
  if (pid !== undefined) {
    throw new ClientError('client.spool_locked', `spool ${dir} is in use by process ${pid}`, {
      details: { pid },
    });
  }
  const host = holder.trim().split(' ')[1];
  if (holder.trim() !== '' && host !== hostname()) {
    throw new ClientError(
      'client.spool_locked',
      `spool ${dir} is locked by ${host}; remove ${path} if stale`,
    );
  }
}

/**
 * The pid of a lock line (`pid host [nonce [start]]`) when that process is alive on this host. A
 * pid that is alive but started at another time than the line says is another process: pids are
 * reused, and a restarted container's application is pid 1 again under the same hostname (its own
 * pid, for the process reading the lock it left before the restart).
 */
function liveHolder(line: string): number | undefined {
  const [pidText, host, , start] = line.trim().split(' ');
  const pid = Number(pidText);
  if (!(host === hostname() && Number.isSafeInteger(pid) && pid > 0 && isAlive(pid))) return undefined;
  const now = start === undefined ? undefined : startOf(pid);
  return now !== undefined && now !== start ? undefined : pid;
}

/**
 * When process `pid` started, as `<boot id>/<start time in clock ticks>` (Linux /proc), or
 * undefined where that cannot be read (other systems: the pid alone then identifies the holder).
 */
function startOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2, in parentheses) may itself hold spaces and parentheses.
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return ticks === undefined || !/^[0-9]+$/.test(ticks) || boot === '' ? undefined : `${boot}/${ticks}`;
  } catch {
    return undefined;
  }
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
