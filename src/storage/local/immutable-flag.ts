/**
 * The Linux immutable attribute (FS_IMMUTABLE_FL) on sealed files, set by spawning `chattr +i`.
 * With it even root cannot write, rename over or remove a full tile or bundle until the flag is
 * cleared — a guard against accidents and casual tampering (not against a determined root, whom the
 * signed tree exposes instead).
 *
 * Setting it needs CAP_LINUX_IMMUTABLE and a file system that supports it. When either is missing
 * the driver logs ONE warning and carries on with mode 0444 alone: the flag is hardening, never a
 * reason to refuse writes. Requests are coalesced into one `chattr` run per batch (group commit),
 * because spawning a process per sealed file would cost more than writing it.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import type { StorageLogger } from './logger.js';

const MAX_BATCH = 256;

/** Finds an executable `chattr` (an absolute path is checked as is), or undefined. */
export async function findChattr(command = 'chattr'): Promise<string | undefined> {
  const folders = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
  const candidates = isAbsolute(command)
    ? [command]
    : folders.filter((d) => isAbsolute(d)).map((d) => join(d, command));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next folder.
    }
  }
  return undefined;
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr).trim() }));
      else resolve();
    });
  });
}

export class ImmutableFlag {
  readonly #chattr: string | undefined;
  readonly #logger: StorageLogger;
  #enabled: boolean;
  #queue: { path: string; done: () => void }[] = [];
  #running = false;

  /** `enabled`: the operator asked for the flag; `chattr`: the resolved binary, if any. */
  constructor(enabled: boolean, chattr: string | undefined, logger: StorageLogger) {
    this.#chattr = chattr;
    this.#logger = logger;
    this.#enabled = enabled;
    if (enabled && process.platform !== 'linux') {
      this.#disable('the immutable flag exists only on Linux', {});
    } else if (enabled && chattr === undefined) {
      this.#disable('chattr was not found', {});
    }
  }

  /** Whether sealed files still get the flag (false after the one warning). */
  get enabled(): boolean {
    return this.#enabled;
  }

  #disable(reason: string, details: Record<string, unknown>): void {
    this.#enabled = false;
    this.#logger.warn(
      { ...details, component: 'storage.local' },
      `immutable flag disabled (${reason}); sealed files keep mode 0444 only`,
    );
  }

  /** Sets the flag on `path` when enabled. Never rejects: a failure disables the flag with one warning. */
  seal(path: string): Promise<void> {
    if (!this.#enabled) return Promise.resolve();
    return new Promise((done) => {
      this.#queue.push({ path, done });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      if (this.#enabled) {
        try {
          await run(this.#chattr!, ['+i', '--', ...batch.map((b) => b.path)]);
        } catch (err) {
          if (this.#enabled) {
            const e = err as { stderr?: string; message?: string };
            this.#disable('chattr +i failed: not root, or the file system lacks support', {
              error: (e.stderr || e.message || '').split('\n')[0],
            });
          }
        }
      }
      for (const b of batch) b.done();
    }
    this.#running = false;
  }

  /**
   * Clears the flag on `path` (before a retention delete). Runs even when sealing is disabled, since
   * an earlier run may have set it. Rejects when chattr is missing or fails.
   */
  async clear(path: string): Promise<void> {
    if (this.#chattr === undefined) throw new Error('chattr was not found; cannot clear the immutable flag');
    await run(this.#chattr, ['-i', '--', path]);
  }
}
