/**
 * The progress file of a resumable `indelible append --file FILE`: `FILE.indelible-progress`, JSON,
 * written atomically and durably (temp file, fsync, rename, fsync the directory) so that a crash or
 * SIGKILL at any moment leaves the previous progress or the next one, never a torn file.
 *
 * The file's identity is a hash chain over its events' texts: `chain(0)` is a fixed start value and
 * `chain(n+1) = SHA-256(chain(n) ‖ SHA-256(text of event n))`. The progress records `chain` at the
 * acknowledged position, so a rerun proves the part already appended is unchanged; a batch's
 * Idempotency-Key is derived from the log, the chain at the batch's END and its range, so the same
 * content always gets the same key (and changed content a different one), whatever was appended
 * after it.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { sha256 } from '../core/crypto.js';
import { toHex, utf8 } from '../core/encoding.js';
import { UsageError } from './options.js';

export interface AppendProgress {
  version: 1;
  /** The server (normalized URL) and log the file is appended to. */
  url: string;
  log: string;
  /** 64 bits of SHA-256 over the API key: the server dedupes retries per key, so a resume needs the same. */
  key_fingerprint: string;
  /** Events (non-blank lines / array elements) acknowledged, from the start of the file. */
  acknowledged: number;
  /** Hex hash chain through the acknowledged events. */
  chain: string;
  /** The batch sent (or about to be) and not yet known to be acknowledged. */
  in_flight: { first: number; count: number; idempotency_key: string } | null;
  updated_at: string;
}

export const CHAIN_START: Uint8Array = sha256(utf8('indelible append chain v1'));

export const chainStep = (chain: Uint8Array, text: string): Uint8Array => sha256(chain, sha256(utf8(text)));

export const keyFingerprint = (apiKey: string | undefined): string =>
  toHex(sha256(utf8(`indelible progress\n${apiKey ?? ''}`))).slice(0, 16);

/** The Idempotency-Key of events [first, first+count) whose chain at the end is `end`. */
export const batchKey = (log: string, end: Uint8Array, first: number, count: number): string =>
  `indelible-append:${log}:${toHex(end).slice(0, 40)}:${first}+${count}`;

export const progressPath = (file: string): string => `${file}.indelible-progress`;

const HEX32 = /^[0-9a-f]{64}$/;

/** The progress in `path`, or undefined when there is none; a damaged file is a usage error. */
export function loadProgress(path: string): AppendProgress | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let p: Partial<AppendProgress> | null;
  try {
    p = JSON.parse(text) as Partial<AppendProgress> | null;
  } catch {
    p = null;
  }
  const f = p?.in_flight;
  const ok =
    p !== null &&
    typeof p === 'object' &&
    p.version === 1 &&
    typeof p.url === 'string' &&
    typeof p.log === 'string' &&
    typeof p.key_fingerprint === 'string' &&
    typeof p.acknowledged === 'number' &&
    Number.isSafeInteger(p.acknowledged) &&
    p.acknowledged >= 0 &&
    typeof p.chain === 'string' &&
    HEX32.test(p.chain) &&
    (f === null ||
      (typeof f === 'object' &&
        f !== undefined &&
        f.first === p.acknowledged &&
        Number.isSafeInteger(f.count) &&
        f.count > 0 &&
        typeof f.idempotency_key === 'string'));
  if (!ok) throw new UsageError(`${path} is not a valid progress file; delete it to start over`);
  return p as AppendProgress;
}

export function saveProgress(path: string, p: AppendProgress): void {
  try {
    writeDurably(path, p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw err;
    // Said plainly: the user named FILE, not its progress file (nor the temporary file beside it).
    throw Object.assign(
      new Error(
        `cannot write the progress file ${path} (${(err as Error).message}): append --file keeps its ` +
          'progress next to the file; for a file in a directory you cannot write, use --file - < FILE (not resumable)',
      ),
      { code },
    );
  }
}

function writeDurably(path: string, p: AppendProgress): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, `${JSON.stringify(p, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
