/**
 * Trusted state in a file (Node only), for `indelible verify --url … --state FILE` and long-lived
 * VerifiedReaders. Writes are atomic and durable — temp file, fsync, rename, fsync the directory —
 * so a crash leaves either the old state or the new one, never a torn file that would make the
 * next run trust nothing (or fail).
 */
import { open, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ClientError } from './errors.js';
import { formatTrustedState, parseTrustedState, type TrustedState, type TrustStore } from './trust.js';

/** The state in `path`, or undefined when the file does not exist (a first run). */
export async function loadTrustedState(path: string): Promise<TrustedState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new ClientError('client.bad_state', `cannot read the state file ${path}`, { cause: err });
  }
  return parseTrustedState(text);
}

export async function saveTrustedState(path: string, state: TrustedState): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(formatTrustedState(state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** A TrustStore backed by one state file. */
export function fileTrustStore(path: string): TrustStore {
  return { load: () => loadTrustedState(path), save: (state) => saveTrustedState(path, state) };
}
