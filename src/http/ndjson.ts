/**
 * Request bodies of the ingest route, parsed from raw bytes exactly once.
 *
 * Everything here is attacker-controlled: bodies must be valid UTF-8 (checked natively, before any
 * decoding could replace bad bytes with U+FFFD and so store something the client never sent), and
 * JSON syntax errors become coded errors that name the NDJSON line. Own `__proto__` keys are refused
 * outright: JSON.parse makes them harmless data properties, but any later copy by assignment would
 * turn one into a prototype change. Duplicate member names are refused too (RFC 8259 §4 leaves their
 * meaning to the parser; I-JSON, RFC 7493 §2.3, which JCS requires of its input, forbids them):
 * JSON.parse keeps the last one silently, so a body other tools read differently would be logged.
 */
import { isUtf8 } from 'node:buffer';
import { appendFieldPath } from '../core/event.js';
import { nameSeparators, stringEnd } from '../util/json-text.js';
import { HttpError } from './problem.js';

/** The events of an NDJSON body, with the 1-based line number of each (blank lines are skipped). */
export class NdjsonBatch {
  constructor(
    readonly events: unknown[],
    readonly lines: number[],
  ) {}
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;
const CHARSETS = /;\s*charset\s*=.*;\s*charset\s*=/is;

/**
 * JSON text is UTF-8 (RFC 8259 §8.1): a body whose Content-Type declares another charset is refused
 * as `request.unsupported_media_type` rather than misread. No charset, or utf-8, passes.
 */
export function refuseForeignCharset(contentType: string | undefined): void {
  if (contentType !== undefined && CHARSETS.test(contentType)) {
    throw new HttpError(
      'request.unsupported_media_type',
      'the Content-Type declares more than one charset; declare one (utf-8) or none',
    );
  }
  const charset = contentType === undefined ? undefined : CHARSET.exec(contentType)?.[1];
  if (charset === undefined || /^utf-?8$/i.test(charset)) return;
  throw new HttpError(
    'request.unsupported_media_type',
    `charset ${JSON.stringify(charset.slice(0, 40))} is not supported; send UTF-8 (charset=utf-8, or none)`,
  );
}

/**
 * Bodies are read as sent: a `Content-Encoding` (gzip, br, …) is refused as
 * `request.unsupported_media_type` (RFC 9110 §8.4.1) rather than parsed as if it were plain JSON.
 */
export function refuseContentEncoding(encoding: string | string[] | undefined): void {
  if (encoding === undefined) return;
  const value = Array.isArray(encoding) ? encoding.join(', ') : encoding;
  if (/^\s*(identity\s*)?$/i.test(value)) return;
  throw new HttpError(
    'request.unsupported_media_type',
    `Content-Encoding ${JSON.stringify(value.slice(0, 40))} is not supported; send the body uncompressed`,
  );
}

/**
 * Refuses a transfer coding other than `chunked` (Node decodes only that framing, so a body sent
 * `gzip, chunked` would be read as if it were plain): `request.unsupported_media_type`.
 */
export function refuseTransferCoding(coding: string | undefined): void {
  if (coding === undefined || /^\s*chunked\s*$/i.test(coding)) return;
  throw new HttpError(
    'request.unsupported_media_type',
    `Transfer-Encoding ${JSON.stringify(coding.slice(0, 40))} is not supported; send the body plain, chunked or with a Content-Length`,
  );
}

/** Decodes strict UTF-8; throws `request.invalid_utf8`. */
export function decodeUtf8(buf: Buffer): string {
  if (!isUtf8(buf)) throw new HttpError('request.invalid_utf8', 'the request body is not valid UTF-8');
  return buf.toString('utf8');
}

/** Parses one JSON body; throws `request.invalid_utf8`, `request.malformed_json` or `request.invalid`. */
export function parseJsonBody(buf: Buffer): unknown {
  const text = decodeUtf8(buf);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError('request.malformed_json', `the request body is not JSON: ${(err as Error).message}`);
  }
  checkMembers(text, value);
  if (maybeImprecise(text)) rejectImpreciseNumbers(text);
  return value;
}

/** `request.batch_too_large`: more than `max` events in one request (`got` of them). */
export function batchTooLarge(max: number, got: number): HttpError {
  return new HttpError('request.batch_too_large', `at most ${max} events per request, got ${got}`, {
    details: { field: 'events', limit: max },
  });
}

/** A line of JSON white space alone (space, tab, CR: the LF ends it), skipped as blank. */
const BLANK_LINE = /^[ \t\r]*$/;

/**
 * Parses `application/x-ndjson`: one JSON value per LF-terminated line (CRLF accepted, the final
 * newline optional, whitespace-only lines skipped). Throws `request.malformed_ndjson` with `line`,
 * and `request.batch_too_large` when more than `maxEvents` lines hold something: lines past the
 * limit are only counted, never parsed, so an oversized batch costs little.
 */
export function parseNdjson(buf: Buffer, maxEvents = Number.POSITIVE_INFINITY): NdjsonBatch {
  const text = decodeUtf8(buf);
  const events: unknown[] = [];
  const lines: number[] = [];
  const checkDigits = maybeImprecise(text);
  // Non-blank lines past maxEvents: counted for the error, never parsed.
  let over = 0;
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const raw = text.slice(start, end);
    start = end + 1;
    // Blank means JSON white space only (RFC 8259 §2): a line of U+00A0 or U+2028 is not JSON.
    if (BLANK_LINE.test(raw)) continue;
    if (events.length === maxEvents) {
      over++;
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new HttpError(
        'request.malformed_ndjson',
        `NDJSON line ${line} is not JSON: ${(err as Error).message}`,
        {
          details: { line, field: `line ${line}` },
        },
      );
    }
    checkMembers(raw, value, line);
    if (checkDigits && maybeImprecise(raw)) rejectImpreciseNumbers(raw, line);
    events.push(value);
    lines.push(line);
  }
  if (over > 0) throw batchTooLarge(maxEvents, maxEvents + over);
  return new NdjsonBatch(events, lines);
}

/**
 * The cheap tests for a body that may hold a number a double cannot hold as written: 16 digits in a
 * row (without an exponent, an integer of 10^15 or more has 16 digits before any decimal point, and
 * an underflow hundreds of zeros after it), or a number with an exponent, matched only as a whole
 * token so that the digit-`e`-digit runs of hex ids and UUIDs in strings do not count. Two regexes
 * cost less than one with both branches (≈ 0.3 µs per 400-byte event in all).
 */
const LONG_DIGITS = /\d{16}/;
const EXPONENT = /(?<![\w.-])-?\d+(?:\.\d+)?[eE][+-]?\d+(?![\w.-])/;
const maybeImprecise = (text: string): boolean => LONG_DIGITS.test(text) || EXPONENT.test(text);
/**
 * Refuses a number that a JSON number (an IEEE 754 double, as JCS and every JavaScript client read
 * it) would store as another value of a different kind: an integer beyond 2^53 that has no exact
 * double (9007199254740993, however written: `9007199254740993.0`, `9.007199254740993e15`, which
 * all become 9007199254740992), and a nonzero number too small for any double (`1e-400`, which
 * becomes 0). An audit log must store what it was sent or say no; I-JSON (RFC 7493 §2.2), which JCS
 * requires, advises against such numbers; send them as strings. A decimal fraction (0.1) is an
 * approximation by nature and passes, as does an integer a double holds exactly (1e20). Numbers
 * too large for any double are refused by validation (JCS cannot encode them). `text` parsed as JSON
 * already, so its number tokens are the runs of number characters outside strings; the scan is
 * linear in the text (no regex over a string, which a multi-megabyte one could overflow).
 */
function rejectImpreciseNumbers(text: string, line?: number): void {
  const n = text.length;
  for (let i = 0; i < n; ) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = stringEnd(text, i) + 1;
      continue;
    }
    if (c !== 0x2d && (c < 0x30 || c > 0x39)) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && isNumberChar(text.charCodeAt(j))) j++;
    const token = text.slice(i, j);
    i = j;
    const why = impreciseNumber(token);
    if (why === undefined) continue;
    const shown = token.length > 40 ? `${token.slice(0, 40)}…` : token;
    const field = fieldAt(text, j - token.length);
    throw new HttpError(
      'request.imprecise_number',
      why === 'integer'
        ? `the integer ${shown} at ${field || 'the top level'} cannot be stored exactly: a JSON number holds integers exactly only up to 2^53 (9007199254740992); send it as a string`
        : `the number ${shown} at ${field || 'the top level'} is too small for a JSON number (it would be stored as 0); send it as a string`,
      { details: line === undefined ? { field } : { field, line } },
    );
  }
}

/** Digits, `.`, `e`, `E`, `+`, `-`: what a JSON number token is made of. */
function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
}

/** Why a number literal cannot be stored as written, or undefined when it can (see above). */
function impreciseNumber(token: string): 'integer' | 'underflow' | undefined {
  const exponent = exponentAt(token);
  if (token.length < 16 && exponent === -1) return undefined; // below 10^15, or a short fraction
  const value = Number(token);
  if (value === 0)
    return hasNonzeroDigit(token, exponent === -1 ? token.length : exponent) ? 'underflow' : undefined;
  // Beyond any double: an integer literal is refused here, other forms by validation (as before).
  if (!Number.isFinite(value)) return exponent === -1 && !token.includes('.') ? 'integer' : undefined;
  // Below 10^15 (so read as below 1e15) an integer is always exact, and anything else a fraction.
  if (Math.abs(value) < 1e15) return undefined;
  const sent = decimalOf(token, exponent);
  if (sent === undefined || sent.scale < 0) return undefined; // a fraction: approximate by nature
  // What is stored is the double's shortest text (JCS, RFC 8785 §3.2.2.3): refuse if it names
  // another integer (9007199254740993 → 9007199254740992; 1e30 → 1e+30 is the same number).
  const shortest = String(Math.abs(value));
  const stored = decimalOf(shortest, exponentAt(shortest))!;
  return stored.significant === sent.significant && stored.scale === sent.scale ? undefined : 'integer';
}

/** Index of the `e` or `E` of a number token, or -1. */
function exponentAt(token: string): number {
  for (let k = 0; k < token.length; k++) {
    const c = token.charCodeAt(k);
    if (c === 0x65 || c === 0x45) return k;
  }
  return -1;
}

function hasNonzeroDigit(token: string, end: number): boolean {
  for (let k = 0; k < end; k++) {
    const c = token.charCodeAt(k);
    if (c >= 0x31 && c <= 0x39) return true;
  }
  return false;
}

/**
 * A number token as significant digits (no leading or trailing zeros) × 10^scale, sign dropped;
 * undefined for zero. An integer exactly when scale ≥ 0. Linear in the token (loops, no regex).
 */
function decimalOf(token: string, exponent: number): { significant: string; scale: number } | undefined {
  const end = exponent === -1 ? token.length : exponent;
  const start = token.charCodeAt(0) === 0x2d ? 1 : 0;
  const dot = token.indexOf('.', start);
  const intEnd = dot === -1 || dot > end ? end : dot;
  const digits =
    intEnd === end ? token.slice(start, end) : token.slice(start, intEnd) + token.slice(intEnd + 1, end);
  const fractionLength = intEnd === end ? 0 : end - intEnd - 1;
  let first = 0;
  while (first < digits.length && digits.charCodeAt(first) === 0x30) first++;
  if (first === digits.length) return undefined;
  let last = digits.length - 1;
  while (digits.charCodeAt(last) === 0x30) last--;
  const e = exponent === -1 ? 0 : Number(token.slice(exponent + 1));
  return {
    significant: digits.slice(first, last + 1),
    scale: e - fractionLength + (digits.length - 1 - last),
  };
}

/** Deeper bodies are refused rather than risk the stack (events allow far less anyway). */
const MAX_SCAN_DEPTH = 1000;

function rejectProtoKeys(value: unknown, path: string, line?: number, depth = 0): void {
  if (value === null || typeof value !== 'object') return;
  if (depth >= MAX_SCAN_DEPTH) {
    throw new HttpError('request.invalid', `the body is nested more than ${MAX_SCAN_DEPTH} levels deep`, {
      details: line === undefined ? { field: path } : { field: path, line },
    });
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++)
      rejectProtoKeys(value[i], appendFieldPath(path, i), line, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    const at = appendFieldPath(path, key);
    if (key === '__proto__') {
      throw new HttpError('request.invalid', `the key __proto__ is not allowed (at ${at})`, {
        details: line === undefined ? { field: at } : { field: at, line },
      });
    }
    rejectProtoKeys((value as Record<string, unknown>)[key], at, line, depth + 1);
  }
}

/**
 * Refuses what JSON.parse accepts and an event must not hold, naming where: an own `__proto__`
 * member (however its name is escaped) and an object with two members of the same name (after
 * unescaping: `"a"` and `"\u0061"` are one name). The common case costs one walk of the parsed
 * value and one native count of the colons in the text (see below); only a mismatch pays for the
 * scan that finds the place. `text` parsed as `value`.
 */
function checkMembers(text: string, value: unknown, line?: number): void {
  const kept = membersOf(value, 0, true);
  if (kept === PROTO) {
    rejectProtoKeys(value, '', line);
    throw new Error('membersOf and rejectProtoKeys disagree');
  }
  if (kept === DEEP) {
    // Left to the validation that refuses such nesting with its own code (event.too_deep), once a
    // __proto__ member, possibly written with escapes, is ruled out (it refuses the nesting too).
    if (text.includes('__proto__') || text.includes('\\u')) rejectProtoKeys(value, '', line);
    return;
  }
  // Every colon written is a name separator or a colon inside a string (a name or a value), so the
  // members kept plus the colons of the strings kept equal the colons written exactly when nothing
  // was dropped. Unless an escape wrote a colon (`\u003a`): then separators are counted apart.
  if (!ESCAPED_COLON.test(text)) {
    if (kept === colonsIn(text)) return;
  } else if (membersOf(value, 0, false) === nameSeparators(text)) {
    return;
  }
  const at = duplicateName(text);
  if (at === undefined) throw new Error('member counts differ but no name repeats');
  // Names can be long: the place is shown by its end, the name by its start.
  const field = at.field.length > 200 ? `…${at.field.slice(-199)}` : at.field;
  throw new HttpError(
    'request.duplicate_name',
    `the member name ${JSON.stringify(at.name.slice(0, 64))} appears twice in one object (at ${field}); names must be unique`,
    { details: line === undefined ? { field } : { field, line } },
  );
}

const PROTO = -1;
const DEEP = -2;

/** A colon written as an escape: the quick count cannot tell it from a raw one. */
const ESCAPED_COLON = /\\u003[aA]/;

/** Colons in a string. */
function colonsIn(s: string): number {
  let n = 0;
  for (let i = s.indexOf(':'); i !== -1; i = s.indexOf(':', i + 1)) n++;
  return n;
}

/**
 * Members of every object in a parsed value, plus (`colons`) the colons in their names and in every
 * string; PROTO at an own `__proto__` member, DEEP at nesting MAX_SCAN_DEPTH deep (whichever comes
 * first in the order rejectProtoKeys walks).
 */
function membersOf(value: unknown, depth: number, colons: boolean): number {
  if (typeof value === 'string') return colons ? colonsIn(value) : 0;
  if (value === null || typeof value !== 'object') return 0;
  if (depth >= MAX_SCAN_DEPTH) return DEEP;
  let n = 0;
  if (Array.isArray(value)) {
    for (const item of value) {
      const m = membersOf(item, depth + 1, colons);
      if (m < 0) return m;
      n += m;
    }
    return n;
  }
  for (const key in value) {
    if (key === '__proto__') return PROTO;
    const m = membersOf((value as Record<string, unknown>)[key], depth + 1, colons);
    if (m < 0) return m;
    n += m + 1 + (colons ? colonsIn(key) : 0);
  }
  return n;
}

interface Container {
  /** Objects: the member names so far (made at the first). Arrays: null. */
  names: Set<string> | null | undefined;
  /** Arrays: the index of the current item. */
  item: number;
  /** Objects: the next string is a name (after `{` or `,`). */
  expectName: boolean;
  /** Objects: the last name read. */
  name: string;
}

/**
 * The first repeated member name in valid JSON text and where it is (`field` as in other errors).
 * Linear in the text, however deep: the place is spelled out only once a repeat is found.
 */
function duplicateName(text: string): { name: string; field: string } | undefined {
  let found: { name: string; field: string } | undefined;
  walkNames(text, text.length, (top, name, stack) => {
    top.names ??= new Set<string>();
    if (top.names.has(name)) found = { name, field: fieldOf(stack) };
    top.names.add(name);
    return found !== undefined;
  });
  return found;
}

/**
 * The path of the value starting at `offset` of a JSON text (`events[2].metadata.n`), named as
 * duplicateName names places. Only for an error's message: it reads the text up to there again.
 */
function fieldAt(text: string, offset: number): string {
  return fieldOf(walkNames(text, offset));
}

/**
 * Reads a JSON text up to `end`, keeping the stack of open containers with the current member name
 * or item index of each; `onName` sees every member name as it is read and stops the walk by
 * returning true. Returns the stack where the walk stopped.
 */
function walkNames(
  text: string,
  end: number,
  onName?: (top: Container, name: string, stack: readonly Container[]) => boolean,
): Container[] {
  const stack: Container[] = [];
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      stack.push({ names: c === 0x7b ? undefined : null, item: 0, expectName: true, name: '' });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */ && top !== undefined) {
      if (top.names === null) top.item++;
      else top.expectName = true;
    } else if (c === 0x22 /* " */) {
      const close = stringEnd(text, i);
      if (top !== undefined && top.names !== null && top.expectName) {
        top.name = JSON.parse(text.slice(i, close + 1)) as string;
        top.expectName = false;
        if (onName?.(top, top.name, stack)) break;
      }
      i = close;
    }
  }
  return stack;
}

/** The path of the current member or item of the innermost container: `a.b[2].c`, `a["b.c"]`. */
function fieldOf(stack: readonly Container[]): string {
  let field = '';
  for (const c of stack) field = appendFieldPath(field, c.names === null ? c.item : c.name);
  return field;
}
