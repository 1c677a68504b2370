/** Option helpers shared by CLI commands. */
import { resolve } from 'node:path';

/** The data directory from `--data`, else `INDELIBLE_DATA`, else none. */
export function dataDirOption(flag: string | undefined): string {
  const dir = flag ?? process.env.INDELIBLE_DATA;
  if (!dir) throw new UsageError('--data DIR (or INDELIBLE_DATA) is required');
  return resolve(dir);
}

/** A user mistake in arguments: printed without a stack, exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Reading a directory fails with an EISDIR whose message names no path ("illegal operation on a
 * directory, read"): this one names it. Other errors are returned unchanged.
 */
export function namingPath(path: string, err: unknown): unknown {
  if ((err as NodeJS.ErrnoException | undefined)?.code !== 'EISDIR') return err;
  return Object.assign(new Error(`EISDIR: ${path} is a directory, not a file`), { code: 'EISDIR' });
}
