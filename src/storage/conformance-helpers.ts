/** Types and assertions shared by the conformance case files (see conformance.ts). */
import assert from 'node:assert/strict';
import { StorageError, type StorageErrorCode } from './errors.js';
import type { StorageDriver } from './types.js';

/** One fresh, empty storage for one case. */
export interface ConformanceSubject {
  driver: StorageDriver;
  /** Closes the current driver if still open and opens the same storage again, as after a restart. */
  reopen(): Promise<StorageDriver>;
  /** Closes whatever is open and frees everything (temp folders). */
  dispose(): Promise<void>;
}

/** A case: an id (for skipping), a title and the body. */
export interface CaseDef {
  id: string;
  title: string;
  run(s: ConformanceSubject): Promise<void>;
}

function checkCode(code: StorageErrorCode): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof StorageError, `expected a StorageError ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

/** Asserts that `action` rejects (or throws) a StorageError with `code`. */
export async function rejectsWith(
  action: () => Promise<unknown>,
  code: StorageErrorCode,
  what?: string,
): Promise<void> {
  await assert.rejects(async () => action(), checkCode(code), what);
}

/** Asserts that `action` throws synchronously a StorageError with `code`. */
export function throwsWith(action: () => unknown, code: StorageErrorCode): void {
  assert.throws(action, checkCode(code));
}

const encoder = new TextEncoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The error code of a settled rejection, for tallying concurrent outcomes. */
export function codeOf(result: PromiseSettledResult<unknown>): string | undefined {
  return result.status === 'rejected' ? (result.reason as { code?: string }).code : undefined;
}
