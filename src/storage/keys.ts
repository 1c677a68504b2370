/**
 * Key, prefix and log-name rules shared by every driver (see the contract in `types.ts`), so all
 * drivers refuse exactly the same inputs with `storage.invalid_key` before touching anything.
 *
 * Keys become file paths in the local driver, so the rules exist to make path traversal impossible:
 * only `[A-Za-z0-9._-]` segments, no `.`/`..`, no empty segment (no leading, trailing or doubled `/`),
 * and lengths that fit every file system's name limits with room for a temporary-file suffix.
 */
import { StorageError } from './errors.js';

/** Longest key, in characters (= bytes: keys are ASCII). */
export const MAX_KEY_LENGTH = 512;
/** Longest segment between two `/`; below NAME_MAX (255) with room for a temp-file suffix. */
export const MAX_SEGMENT_LENGTH = 200;
/**
 * First segments a blob key may not use: the local driver keeps the StateStore and the journal of a
 * log in these folders beside its blobs. Every driver refuses them so all behave alike.
 */
export const RESERVED_BLOB_ROOTS: readonly string[] = ['state', 'journal'];

const SEGMENT = /^[A-Za-z0-9._-]+$/;
const PREFIX_CHARS = /^[A-Za-z0-9._/-]*$/;
/** DESIGN.md §1 log names (at most 63 characters), or `_` before one for system logs such as `_audit`. */
const LOG_NAME = /^(?=.{1,63}$)_?[a-z0-9][a-z0-9._-]*$/;

function invalid(what: string, value: unknown, reason: string): StorageError {
  // The value may be attacker-influenced and long: keep only a bounded, printable excerpt.
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : typeof value;
  return new StorageError('storage.invalid_key', `invalid ${what} ${shown}: ${reason}`, {
    details: { reason },
  });
}

/** True when `name` can be one segment of a key (used to skip temp files and strays when listing). */
export function isKeySegment(name: string): boolean {
  return name.length <= MAX_SEGMENT_LENGTH && name !== '.' && name !== '..' && SEGMENT.test(name);
}

/** Checks a StateStore (or any) key and returns its segments; throws `storage.invalid_key`. */
export function validateKey(key: unknown): string[] {
  if (typeof key !== 'string') throw invalid('key', key, 'not a string');
  if (key.length === 0) throw invalid('key', key, 'empty');
  if (key.length > MAX_KEY_LENGTH) throw invalid('key', key, `longer than ${MAX_KEY_LENGTH}`);
  const segments = key.split('/');
  for (const s of segments) {
    if (s.length === 0) throw invalid('key', key, 'empty segment (leading, trailing or double /)');
    if (s === '.' || s === '..') throw invalid('key', key, '"." or ".." segment');
    if (s.length > MAX_SEGMENT_LENGTH) throw invalid('key', key, `segment longer than ${MAX_SEGMENT_LENGTH}`);
    if (!SEGMENT.test(s)) throw invalid('key', key, 'character outside [A-Za-z0-9._-/]');
  }
  return segments;
}

/** Checks a BlobStore key (a key whose first segment is not reserved) and returns its segments. */
export function validateBlobKey(key: unknown): string[] {
  const segments = validateKey(key);
  if (RESERVED_BLOB_ROOTS.includes(segments[0]!)) throw invalid('key', key, 'reserved first segment');
  return segments;
}

/** A validated list prefix: the whole segments before the last `/`, and what follows it. */
export interface ParsedPrefix {
  /** Complete segments (the folder to look in); each is a valid segment. */
  folders: string[];
  /** The partial last segment every listed key's next segment must start with (may be empty). */
  rest: string;
  /** True when no blob key can start with this prefix (it lies under a reserved root). */
  reserved: boolean;
}

/**
 * Checks a `list` prefix: `''`, or key characters where every segment before the last `/` is a valid
 * segment (so `tile/0/x0` and `tile/` are fine, `../` and `/tile` are not).
 */
export function parsePrefix(prefix: unknown): ParsedPrefix {
  if (typeof prefix !== 'string') throw invalid('prefix', prefix, 'not a string');
  if (prefix.length > MAX_KEY_LENGTH) throw invalid('prefix', prefix, `longer than ${MAX_KEY_LENGTH}`);
  if (!PREFIX_CHARS.test(prefix)) throw invalid('prefix', prefix, 'character outside [A-Za-z0-9._-/]');
  const parts = prefix.split('/');
  const rest = parts.pop()!;
  for (const s of parts) {
    if (!isKeySegment(s)) throw invalid('prefix', prefix, 'invalid segment before the last /');
  }
  const first = parts[0];
  const reserved = first !== undefined && RESERVED_BLOB_ROOTS.includes(first);
  return { folders: parts, rest, reserved };
}

/** Checks a log name (DESIGN.md §1; `_` first for system logs); throws `storage.invalid_key`. */
export function validateLogName(name: unknown): string {
  if (typeof name !== 'string') throw invalid('log name', name, 'not a string');
  if (!LOG_NAME.test(name))
    throw invalid('log name', name, 'must match ^_?[a-z0-9][a-z0-9._-]* (1-63 chars)');
  return name;
}
