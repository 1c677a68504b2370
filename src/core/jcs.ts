/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the one encoding of a JSON value that record bytes
 * (and therefore leaf hashes) are computed from.
 *
 * Accepted values are exactly the JSON data model, as JSON.parse produces it:
 * - `null`, booleans, finite numbers (serialized as ES2015 Number.prototype.toString, so -0 is `0`),
 *   strings that are well-formed UTF-16 (no lone surrogates, RFC 8785 §3.2.2.2 / I-JSON);
 * - arrays (Array.isArray; every element, holes included, must itself be a value);
 * - plain objects (prototype Object.prototype or null): own enumerable string keys, sorted by UTF-16
 *   code units (RFC 8785 §3.2.3); keys must be well-formed too. Symbol keys are not JSON and are
 *   skipped, like JSON.stringify does; getters are read.
 *
 * Everything else throws a JcsError rather than being coerced the way JSON.stringify would, because a
 * coercion (`undefined` dropped, NaN → null, Date → toJSON) would hash something other than what the
 * caller holds: `jcs.unsupported_type` for undefined, BigInt, functions, symbols and non-plain objects
 * (Date, Map, Set, RegExp, typed arrays, Buffer, boxed primitives, class instances, objects from
 * another realm); `jcs.non_finite_number` for NaN/±Infinity (RFC 8785 Appendix B);
 * `jcs.lone_surrogate`; `jcs.cyclic`; `jcs.too_large` past `maxLength`; `jcs.too_deep` past
 * `maxDepth` nested containers (so deep
 * input cannot exhaust the stack). Errors carry `details.path`: the keys and indices from the root to
 * the offending value.
 *
 * Strings are escaped with JSON.stringify, whose escaping (ES2019 well-formed JSON.stringify) is
 * exactly RFC 8785's once lone surrogates are excluded: `\"`, `\\`, `\b \t \n \f \r`, other controls
 * as lowercase `\u00xx`, everything else verbatim.
 */
import { utf8 } from './encoding.js';
import { IndelibleError } from './errors.js';

export type JcsErrorCode =
  | 'jcs.non_finite_number'
  | 'jcs.lone_surrogate'
  | 'jcs.unsupported_type'
  | 'jcs.cyclic'
  | 'jcs.too_deep'
  | 'jcs.too_large';

/** A key or array index on the way from the root to a value. */
export type JsonPathSegment = string | number;

export class JcsError extends IndelibleError<JcsErrorCode> {
  /** Keys and indices from the root to the value that could not be encoded (`[]` for the root). */
  readonly path: readonly JsonPathSegment[];

  constructor(code: JcsErrorCode, message: string, details: Record<string, unknown> = {}) {
    const path: JsonPathSegment[] = [];
    super(code, message, { details: { ...details, path } });
    this.path = path;
  }
}

/**
 * Default and largest accepted limit on nested arrays/objects (the root container is depth 1): deep
 * enough for real JSON, shallow enough that the recursion fits Node's default stack with room to spare
 * (about 3,500 levels overflow it).
 */
export const JCS_MAX_DEPTH = 1000;

// Strings without quotes, backslashes, controls or surrogate code units need no escaping at all; this
// one native regex test keeps the common case free of JSON.stringify and isWellFormed calls.
const NEEDS_CARE = /["\\\u0000-\u001f\ud800-\udfff]/;

interface Context {
  readonly maxDepth: number;
  /** Longest text (UTF-16 code units) worth building; past it, `jcs.too_large`. */
  readonly maxLength: number;
  /** Containers on the path from the root to the current value, for cycle detection. */
  readonly ancestors: object[];
}

/**
 * The RFC 8785 canonical JSON text of `value`.
 * @param maxDepth maximum nesting of arrays/objects (root container = 1); an integer 0..1000.
 * @param maxLength longest text wanted, in UTF-16 code units (UTF-8 never needs fewer bytes): a
 *   longer one throws `jcs.too_large` as soon as that is certain, before a container of more
 *   members than could fit is even sorted, so a caller with a size limit never pays for building
 *   (and sorting) megabytes it will refuse.
 * @throws JcsError for any value outside the JSON data model (see the module comment).
 */
export function canonicalize(
  value: unknown,
  maxDepth: number = JCS_MAX_DEPTH,
  maxLength: number = Number.POSITIVE_INFINITY,
): string {
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 0 || maxDepth > JCS_MAX_DEPTH) {
    throw new RangeError(`maxDepth must be an integer in 0..${JCS_MAX_DEPTH}`);
  }
  const ctx: Context = { maxDepth, maxLength, ancestors: [] };
  const text = serializeValue(value, ctx);
  // The containers check as they grow; their closing bracket, or a scalar root, is checked here.
  if (text.length > maxLength) throw tooLarge(ctx);
  // Concatenation built the text as a tree of pieces (a V8 rope) that every later read (encoding,
  // hashing) walks, and that lives as long as the text. Reading a character makes V8 flatten it now,
  // while the pieces are young and cheap to collect: the append path encodes the text only after a
  // commit wait, by which time they would have been promoted. Measured (docs/PERFORMANCE.md): the
  // engine's main thread spends 3-6 µs less per 400-byte event, and its encodeInto share of the
  // profile fell from 8.3% to 2.2%.
  text.charCodeAt(0);
  return text;
}

/** The UTF-8 bytes of `canonicalize(value, maxDepth)`. */
export function canonicalizeBytes(value: unknown, maxDepth: number = JCS_MAX_DEPTH): Uint8Array {
  return utf8(canonicalize(value, maxDepth));
}

/** True when `s` holds no lone surrogate (RFC 8785 §3.2.2.2): what JCS can encode and store as sent. */
export function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/**
 * The JCS encoding of one string (quotes included).
 * @throws JcsError `jcs.lone_surrogate` (with an empty path; callers that know the position add it).
 */
export function canonicalizeString(s: string): string {
  if (!NEEDS_CARE.test(s)) return '"' + s + '"';
  if (!isWellFormed(s)) {
    throw new JcsError('jcs.lone_surrogate', 'string contains a lone surrogate');
  }
  return JSON.stringify(s);
}

function serializeValue(value: unknown, ctx: Context): string {
  switch (typeof value) {
    case 'string':
      return canonicalizeString(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw new JcsError('jcs.non_finite_number', `${value} is not a JSON number`, {
          details: { path: [] },
        });
      }
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      return serializeContainer(value, ctx);
    default:
      throw unsupported(typeof value);
  }
}

function serializeContainer(value: object, ctx: Context): string {
  const { ancestors } = ctx;
  if (ancestors.includes(value)) {
    throw new JcsError('jcs.cyclic', 'value contains a cycle');
  }
  if (ancestors.length >= ctx.maxDepth) {
    throw new JcsError('jcs.too_deep', `nesting exceeds ${ctx.maxDepth}`, { limit: ctx.maxDepth });
  }
  ancestors.push(value);
  let out: string;
  if (Array.isArray(value)) {
    out = serializeArray(value, ctx);
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw unsupported(proto?.constructor?.name ?? 'object');
    }
    out = serializeObject(value as { [key: string]: unknown }, ctx);
  }
  ancestors.pop();
  return out;
}

function serializeArray(value: readonly unknown[], ctx: Context): string {
  if (value.length === 0) return '[]';
  // n elements take at least n characters and n - 1 commas between the brackets.
  if (2 * value.length + 1 > ctx.maxLength) throw tooLarge(ctx);
  let out = '[';
  let i = 0;
  try {
    for (; i < value.length; i++) {
      if (i > 0) out += ',';
      out += serializeValue(value[i], ctx);
      if (out.length > ctx.maxLength) throw tooLarge(ctx);
    }
  } catch (err) {
    throw prependPath(err, i);
  }
  return out + ']';
}

function serializeObject(value: { [key: string]: unknown }, ctx: Context): string {
  const names = Object.keys(value);
  if (names.length === 0) return '{}';
  // n members take at least `"":0` each and n - 1 commas between the braces.
  if (5 * names.length + 1 > ctx.maxLength) throw tooLarge(ctx);
  const keys = sortKeys(names);
  let out = '{';
  let i = 0;
  try {
    for (; i < keys.length; i++) {
      const key = keys[i]!;
      if (i > 0) out += ',';
      out += keyPrefix(key) + serializeValue(value[key], ctx);
      if (out.length > ctx.maxLength) throw tooLarge(ctx);
    }
  } catch (err) {
    throw prependPath(err, keys[i]!);
  }
  return out + '}';
}

/**
 * Sorts keys by UTF-16 code units (RFC 8785 §3.2.3): both `<` on strings and Array.prototype.sort
 * without a comparator compare code units. Objects in events are small, where insertion sort is
 * several times faster than the built-in sort.
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

// Memo of `"key":` for short keys. Keys repeat across events (action, actor, id…), and looking one up
// is cheaper than checking and quoting it again. Bounded: attacker-chosen keys only cost a reset.
const KEY_CACHE_LIMIT = 4096;
const keyCache = new Map<string, string>();

function keyPrefix(key: string): string {
  let prefix = keyCache.get(key);
  if (prefix === undefined) {
    prefix = canonicalizeString(key) + ':';
    if (key.length <= 64) {
      if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
      keyCache.set(key, prefix);
    }
  }
  return prefix;
}

function tooLarge(ctx: Context): JcsError {
  return new JcsError('jcs.too_large', `encoding exceeds ${ctx.maxLength} characters`, {
    limit: ctx.maxLength,
  });
}

function unsupported(what: string): JcsError {
  return new JcsError('jcs.unsupported_type', `${what} is not a JSON value`);
}

// Paths are built only while an error unwinds, so the success path allocates nothing for them.
function prependPath(err: unknown, segment: JsonPathSegment): unknown {
  if (err instanceof JcsError) (err.path as JsonPathSegment[]).unshift(segment);
  return err;
}
