/**
 * Request bodies of the ingest route, parsed from raw bytes exactly once.
 *
 * Everything here is attacker-controlled: bodies must be valid UTF-8 (checked natively, before any
 * decoding could replace bad bytes with U+FFFD and so store something the client never sent), and
 * JSON syntax errors become coded errors that name the NDJSON line. Own `__proto__` keys are refused
 * outright: JSON.parse makes them harmless data properties, but any later copy by assignment would
 * turn one into a prototype change.
 */
import { isUtf8 } from 'node:buffer';
import { HttpError } from './problem.js';

/** The events of an NDJSON body, with the 1-based line number of each (blank lines are skipped). */
export class NdjsonBatch {
  constructor(
    readonly events: unknown[],
    readonly lines: number[],
  ) {}
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

/**
 * JSON text is UTF-8 (RFC 8259 §8.1): a body whose Content-Type declares another charset is refused
 * as `request.unsupported_media_type` rather than misread. No charset, or utf-8, passes.
 */
export function refuseForeignCharset(contentType: string | undefined): void {
  const charset = contentType === undefined ? undefined : CHARSET.exec(contentType)?.[1];
  if (charset === undefined || /^utf-?8$/i.test(charset)) return;
  throw new HttpError(
    'request.unsupported_media_type',
    `charset ${JSON.stringify(charset.slice(0, 40))} is not supported; send UTF-8 (charset=utf-8, or none)`,
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
  if (text.includes('"__proto__"')) rejectProtoKeys(value, '');
  if (LONG_DIGITS.test(text)) rejectImpreciseIntegers(text);
  return value;
}

/** `request.batch_too_large`: more than `max` events in one request (`got` of them). */
export function batchTooLarge(max: number, got: number): HttpError {
  return new HttpError('request.batch_too_large', `at most ${max} events per request, got ${got}`, {
    details: { field: 'events', limit: max },
  });
}

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
  const checkProto = text.includes('"__proto__"');
  const checkDigits = LONG_DIGITS.test(text);
  // Non-blank lines past maxEvents: counted for the error, never parsed.
  let over = 0;
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const raw = text.slice(start, end);
    start = end + 1;
    if (raw.trim() === '') continue;
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
    if (checkProto) rejectProtoKeys(value, '', line);
    if (checkDigits && LONG_DIGITS.test(raw)) rejectImpreciseIntegers(raw, line);
    events.push(value);
    lines.push(line);
  }
  if (over > 0) throw batchTooLarge(maxEvents, maxEvents + over);
  return new NdjsonBatch(events, lines);
}

/** 16 digits in a row: the cheap test for a body that may hold an integer beyond 2^53 (16 digits). */
const LONG_DIGITS = /\d{16}/;
/** JSON string and number tokens, in order (strings are matched whole, so no number is found inside one). */
const STRING_OR_NUMBER = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/**
 * Refuses an integer literal that a JSON number (an IEEE 754 double, as JCS and every JavaScript
 * client read it) cannot hold exactly: 9007199254740993 would be stored as 9007199254740992, and
 * an audit log must store what it was sent or say no. I-JSON (RFC 7493 §2.2), which JCS requires,
 * advises against such integers; send them as strings. Literals with a fraction or exponent are
 * decimal approximations by nature and pass. `text` parsed as JSON already.
 */
function rejectImpreciseIntegers(text: string, line?: number): void {
  for (const [token] of text.matchAll(STRING_OR_NUMBER)) {
    if (token.length < 16 || token.charCodeAt(0) === 0x22 || /[.eE]/.test(token)) continue;
    // Past 310 characters an integer literal is beyond any finite double (1.8e308): refuse it
    // without converting megabytes of digits. Otherwise compare it with the double it becomes.
    const value = token.length > 310 ? Number.POSITIVE_INFINITY : Number(token);
    if (Number.isFinite(value) && BigInt(token) === BigInt(value)) continue;
    const shown = token.length > 40 ? `${token.slice(0, 40)}…` : token;
    throw new HttpError(
      'request.imprecise_number',
      `the integer ${shown} cannot be stored exactly: a JSON number holds integers exactly only up to 2^53 (9007199254740992); send it as a string`,
      line === undefined ? undefined : { details: { line } },
    );
  }
}

/** Deeper bodies are refused here rather than risk the stack (events allow far less anyway). */
const MAX_SCAN_DEPTH = 1000;

function rejectProtoKeys(value: unknown, path: string, line?: number, depth = 0): void {
  if (value === null || typeof value !== 'object') return;
  if (depth >= MAX_SCAN_DEPTH) {
    throw new HttpError('request.invalid', `the body is nested more than ${MAX_SCAN_DEPTH} levels deep`, {
      details: line === undefined ? { field: path } : { field: path, line },
    });
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) rejectProtoKeys(value[i], `${path}[${i}]`, line, depth + 1);
    return;
  }
  for (const key of Object.keys(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    if (key === '__proto__') {
      throw new HttpError('request.invalid', `the key __proto__ is not allowed (at ${at})`, {
        details: line === undefined ? { field: at } : { field: at, line },
      });
    }
    rejectProtoKeys((value as Record<string, unknown>)[key], at, line, depth + 1);
  }
}
