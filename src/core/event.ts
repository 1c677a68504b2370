/**
 * Audit events as clients submit them (DESIGN.md §3), and their validation.
 *
 * Every byte here is attacker-controlled. validateEvent accepts exactly the documented shape and
 * otherwise throws an EventError whose `details.field` names the offending field in a JSON-path-like
 * form (`actor.id`, `targets[3].id`, `metadata.a["b c"]`). Unknown keys are rejected at the top level
 * and inside `actor`, `target(s)` and `source` alike (all of them named in `details.fields`):
 * `metadata` is the place for extras. Present-but-`null` optional fields are type errors, not
 * absences, because the accepted event is stored exactly as given.
 */

import { IndelibleError } from './errors.js';
import { canonicalize, JcsError, type JsonPathSegment } from './jcs.js';

export type EventErrorCode =
  | 'event.not_object'
  | 'event.unknown_field'
  | 'event.missing_field'
  | 'event.invalid_type'
  | 'event.invalid_value'
  | 'event.conflicting_fields'
  | 'event.too_many_targets'
  | 'event.too_deep'
  | 'event.not_canonicalizable'
  | 'event.too_large';

/** `details.field` names the offending field (absent for `event.not_object` and `event.too_large`). */
export class EventError extends IndelibleError<EventErrorCode> {}

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export const EVENT_OUTCOMES = ['success', 'failure', 'denied', 'error', 'unknown'] as const;
export type EventOutcome = (typeof EVENT_OUTCOMES)[number];

export interface AuditActor {
  id: string;
  type?: string;
  name?: string;
  email?: string;
  ip?: string;
  user_agent?: string;
}

/** A thing acted upon; `id` is required so that queries by target can find it. */
export interface AuditTarget {
  id: string;
  type?: string;
  name?: string;
}

export interface AuditSource {
  service?: string;
  host?: string;
  request_id?: string;
}

export interface AuditEvent {
  id?: string;
  action: string;
  actor: AuditActor;
  target?: AuditTarget;
  targets?: AuditTarget[];
  outcome?: EventOutcome;
  occurred_at?: string;
  source?: AuditSource;
  metadata?: JsonObject;
}

/**
 * Configurable acceptance limits. String lengths count Unicode code points (as JSON Schema's
 * maxLength does), record sizes count UTF-8 bytes.
 * - `maxRecordBytes` (65535, also the maximum: a tlog-tiles entry bundle stores a uint16 length): the
 *   event's JCS form may use at most `maxRecordBytes - RECORD_ENVELOPE_MAX_BYTES`, so the record
 *   wrapping it fits whatever its log name, index and id.
 * - `maxMetadataDepth` (16, at least 2): nested objects/arrays in `metadata`, `metadata` itself = 1.
 * - `maxTargets` (32): elements of `targets`.
 * - `maxActionLength` (128): `action` is 1..maxActionLength.
 * - `maxFieldLength` (1024): every string in `actor`, `target(s)` and `source` (ids 1.., others 0..).
 * Fixed, not configurable: `id` is 1..128 characters of `[A-Za-z0-9._:-]` (URL- and filename-safe,
 * covers UUIDs, ULIDs and Kubernetes audit IDs); `occurred_at` is RFC 3339 (see isRfc3339DateTime).
 */
export interface EventLimits {
  maxRecordBytes: number;
  maxMetadataDepth: number;
  maxTargets: number;
  maxActionLength: number;
  maxFieldLength: number;
}

export const DEFAULT_EVENT_LIMITS: Readonly<EventLimits> = Object.freeze({
  maxRecordBytes: 65535,
  maxMetadataDepth: 16,
  maxTargets: 32,
  maxActionLength: 128,
  maxFieldLength: 1024,
});

export const EVENT_ID_MAX_LENGTH = 128;
const EVENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** True for a valid event (and record) id: 1..128 characters of `[A-Za-z0-9._:-]`. */
export function isEventId(s: unknown): s is string {
  return typeof s === 'string' && EVENT_ID.test(s);
}

/**
 * The most bytes a record adds around its event: `{"event":…,"id":"<128>","index":<16 digits>,
 * "log":"<63>","prev":"<64 hex>","received_at":"<24>","v":1}` (keys in JCS order).
 */
export const RECORD_ENVELOPE_MAX_BYTES = 69 + EVENT_ID_MAX_LENGTH + 16 + 63 + 64 + 24;

/** Completes and checks a partial limits object. @throws RangeError on a nonsensical configuration. */
export function resolveEventLimits(limits: Partial<EventLimits> = {}): Readonly<EventLimits> {
  const l = { ...DEFAULT_EVENT_LIMITS, ...limits };
  const check = (name: keyof EventLimits, min: number, max: number) => {
    const v = l[name];
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw new RangeError(`event limit ${name} must be an integer in ${min}..${max}, got ${v}`);
    }
  };
  check('maxRecordBytes', RECORD_ENVELOPE_MAX_BYTES + 2, 65535);
  check('maxMetadataDepth', 2, 999);
  check('maxTargets', 0, 65535);
  check('maxActionLength', 1, 65535);
  check('maxFieldLength', 1, 65535);
  return Object.freeze(l);
}

const TOP_FIELDS = new Set([
  'id',
  'action',
  'actor',
  'target',
  'targets',
  'outcome',
  'occurred_at',
  'source',
  'metadata',
]);
const ACTOR_FIELDS = new Set(['id', 'type', 'name', 'email', 'ip', 'user_agent']);
const TARGET_FIELDS = new Set(['id', 'type', 'name']);
const SOURCE_FIELDS = new Set(['service', 'host', 'request_id']);
const OUTCOMES: ReadonlySet<string> = new Set(EVENT_OUTCOMES);

/**
 * Checks `input` against DESIGN.md §3 and `limits`, and returns it, typed, unchanged (same object; no
 * fields added, removed or reordered).
 * @throws EventError (see EventErrorCode); RangeError only for invalid `limits`.
 */
export function validateEvent(input: unknown, limits?: Partial<EventLimits>): AuditEvent {
  return validateEventCanonical(input, limits).event;
}

/**
 * validateEvent, also returning the event's RFC 8785 text, which validation computes anyway (for the
 * depth and size limits): the append path can hand it to buildRecordFromCanonicalEvent and
 * canonicalize each event once.
 */
export function validateEventCanonical(
  input: unknown,
  limits?: Partial<EventLimits>,
): { event: AuditEvent; eventJson: string } {
  const lim = limits === undefined ? DEFAULT_EVENT_LIMITS : resolveEventLimits(limits);
  checkShape(input, lim);
  return { event: input as unknown as AuditEvent, eventJson: canonicalizeWithinLimits(input, lim) };
}

/**
 * validateEvent without the checks that need the encoding (metadata depth, values JCS cannot encode,
 * size), for verifiers that have checked those on the whole record already.
 */
export function validateEventShape(input: unknown, limits?: Partial<EventLimits>): AuditEvent {
  checkShape(input, limits === undefined ? DEFAULT_EVENT_LIMITS : resolveEventLimits(limits));
  return input as unknown as AuditEvent;
}

function checkShape(input: unknown, lim: Readonly<EventLimits>): asserts input is { [key: string]: unknown } {
  if (!isPlainObject(input)) throw new EventError('event.not_object', 'an event must be a JSON object');
  checkKnownFields(input, TOP_FIELDS, []);

  if (Object.hasOwn(input, 'id')) {
    const id = input.id;
    if (typeof id !== 'string') throw typeError(['id'], 'a string');
    if (!EVENT_ID.test(id)) {
      throw valueError(['id'], `must be 1..${EVENT_ID_MAX_LENGTH} characters of [A-Za-z0-9._:-]`);
    }
  }
  if (!Object.hasOwn(input, 'action')) throw missing(['action']);
  checkString(input.action, 1, lim.maxActionLength, ['action']);

  if (!Object.hasOwn(input, 'actor')) throw missing(['actor']);
  checkFlatObject(input.actor, ['actor'], ACTOR_FIELDS, true, lim);

  const hasTarget = Object.hasOwn(input, 'target');
  if (hasTarget && Object.hasOwn(input, 'targets')) {
    throw new EventError('event.conflicting_fields', 'give either target or targets, not both', {
      details: { field: 'targets', fields: ['target', 'targets'] },
    });
  }
  if (hasTarget) checkFlatObject(input.target, ['target'], TARGET_FIELDS, true, lim);
  if (Object.hasOwn(input, 'targets')) {
    const targets = input.targets;
    if (!Array.isArray(targets)) throw typeError(['targets'], 'an array');
    if (targets.length > lim.maxTargets) {
      throw new EventError('event.too_many_targets', `at most ${lim.maxTargets} targets`, {
        details: { field: 'targets', limit: lim.maxTargets, count: targets.length },
      });
    }
    for (let i = 0; i < targets.length; i++) {
      checkFlatObject(targets[i], ['targets', i], TARGET_FIELDS, true, lim);
    }
  }

  if (Object.hasOwn(input, 'outcome')) {
    const outcome = input.outcome;
    if (typeof outcome !== 'string') throw typeError(['outcome'], 'a string');
    if (!OUTCOMES.has(outcome)) throw valueError(['outcome'], `must be one of ${EVENT_OUTCOMES.join('|')}`);
  }
  if (Object.hasOwn(input, 'occurred_at')) {
    const at = input.occurred_at;
    if (typeof at !== 'string') throw typeError(['occurred_at'], 'a string');
    if (!isRfc3339DateTime(at)) throw valueError(['occurred_at'], 'must be an RFC 3339 date-time');
  }
  if (Object.hasOwn(input, 'source')) checkFlatObject(input.source, ['source'], SOURCE_FIELDS, false, lim);
  if (Object.hasOwn(input, 'metadata') && !isPlainObject(input.metadata)) {
    throw typeError(['metadata'], 'a JSON object');
  }
}

/**
 * One JCS pass finds what the structural checks above cannot: metadata depth, values outside JSON
 * (non-finite numbers, lone surrogates, undefined, non-plain objects) and the encoded size. Only
 * `metadata` can nest, and it sits at depth 2 of the event.
 */
function canonicalizeWithinLimits(input: { [key: string]: unknown }, lim: Readonly<EventLimits>): string {
  const limit = lim.maxRecordBytes - RECORD_ENVELOPE_MAX_BYTES;
  let text: string;
  try {
    // UTF-8 takes at least a byte per UTF-16 code unit: a text longer than `limit` units is over it,
    // and canonicalize stops there (an event of 800,000 metadata members is refused in milliseconds,
    // not after seconds of sorting and concatenating them).
    text = canonicalize(input, lim.maxMetadataDepth + 1, limit);
  } catch (err) {
    if (!(err instanceof JcsError)) throw err;
    if (err.code === 'jcs.too_large') {
      throw new EventError('event.too_large', `the event's canonical form is over ${limit} bytes`, {
        cause: err,
        details: { limit },
      });
    }
    const field = formatFieldPath(err.path);
    if (err.code === 'jcs.too_deep') {
      throw new EventError('event.too_deep', `metadata nests deeper than ${lim.maxMetadataDepth}`, {
        cause: err,
        details: { field, limit: lim.maxMetadataDepth },
      });
    }
    throw new EventError('event.not_canonicalizable', `${field} cannot be encoded as RFC 8785 JSON`, {
      cause: err,
      details: { field, reason: err.code },
    });
  }
  // UTF-8 needs at most 3 bytes per UTF-16 code unit, so short texts need no counting.
  if (text.length * 3 > limit) {
    const size = utf8Length(text);
    if (size > limit) {
      throw new EventError('event.too_large', `the event's canonical form is ${size} bytes, over ${limit}`, {
        details: { limit, size },
      });
    }
  }
  return text;
}

function isPlainObject(v: unknown): v is { [key: string]: unknown } {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkKnownFields(obj: object, known: ReadonlySet<string>, at: JsonPathSegment[]): void {
  let unknown: string[] | undefined;
  for (const key of Object.keys(obj)) {
    if (known.has(key)) continue;
    unknown ??= [];
    unknown.push(formatFieldPath([...at, key]));
  }
  if (unknown !== undefined) {
    throw new EventError('event.unknown_field', `unknown field(s): ${unknown.join(', ')}`, {
      details: { field: unknown[0], fields: unknown },
    });
  }
}

/** actor, target, targets[i], source: objects of optional strings; `id`, when `withId`, is required. */
function checkFlatObject(
  v: unknown,
  at: JsonPathSegment[],
  known: ReadonlySet<string>,
  withId: boolean,
  lim: Readonly<EventLimits>,
): void {
  if (!isPlainObject(v)) throw typeError(at, 'a JSON object');
  checkKnownFields(v, known, at);
  if (withId && !Object.hasOwn(v, 'id')) throw missing([...at, 'id']);
  for (const key of Object.keys(v)) {
    checkString(v[key], withId && key === 'id' ? 1 : 0, lim.maxFieldLength, at, key);
  }
}

/** Checks a string field at `at` (plus `key`, appended only when reporting, to spare allocations). */
function checkString(v: unknown, min: number, max: number, at: JsonPathSegment[], key?: string): void {
  if (typeof v !== 'string') throw typeError(key === undefined ? at : [...at, key], 'a string');
  if (v.length < min) throw valueError(key === undefined ? at : [...at, key], 'must not be empty');
  // Code points never outnumber UTF-16 code units, so only long strings need counting.
  if (v.length > max && codePointLength(v) > max) {
    throw valueError(key === undefined ? at : [...at, key], `must be at most ${max} characters`);
  }
}

function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++, n++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return n;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A surrogate pair (the text is well-formed: canonicalize checked it) is 2 units and 4 bytes.
    n += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 2 : 3;
  }
  return n;
}

function missing(at: JsonPathSegment[]): EventError {
  const field = formatFieldPath(at);
  return new EventError('event.missing_field', `${field} is required`, { details: { field } });
}

function typeError(at: JsonPathSegment[], expected: string): EventError {
  const field = formatFieldPath(at);
  return new EventError('event.invalid_type', `${field} must be ${expected}`, {
    details: { field, expected },
  });
}

function valueError(at: JsonPathSegment[], rule: string): EventError {
  const field = formatFieldPath(at);
  return new EventError('event.invalid_value', `${field} ${rule}`, { details: { field } });
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `["actor","id"]` → `actor.id`; `["targets",3,"id"]` → `targets[3].id`; odd keys → `a["b c"]`. */
export function formatFieldPath(path: readonly JsonPathSegment[]): string {
  let out = '';
  for (const seg of path) out = appendFieldPath(out, seg);
  return out;
}

/**
 * `path` (as formatFieldPath writes it) followed by one more segment: an item number in brackets, a
 * name after a dot, or a name that is not an identifier (`a.b`, empty, spaces) as a bracketed JSON
 * string, so every path reads one way.
 */
export function appendFieldPath(path: string, seg: JsonPathSegment): string {
  if (typeof seg === 'number') return `${path}[${seg}]`;
  if (IDENTIFIER.test(seg)) return path === '' ? seg : `${path}.${seg}`;
  return `${path}[${JSON.stringify(seg)}]`;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/**
 * RFC 3339 §5.6 `date-time` with a real calendar check: days per month incl. leap years, hours
 * 00–23, and second 60 only where a leap second can be (23:59:60 in UTC). `T`/`Z` may be lowercase
 * (§5.6 NOTE); at most 9 fraction digits (nanoseconds); `-00:00` (§4.3) is accepted.
 */
export function isRfc3339DateTime(s: string): boolean {
  // The pattern fixes every position but the fraction: fields are read by offset from either end.
  if (!DATE_TIME.test(s)) return false;
  const month = twoDigits(s, 5);
  const day = twoDigits(s, 8);
  const hour = twoDigits(s, 11);
  const minute = twoDigits(s, 14);
  const second = twoDigits(s, 17);
  const year = twoDigits(s, 0) * 100 + twoDigits(s, 2);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  let offset = 0;
  const sign = s.charCodeAt(s.length - 6);
  if (sign === 0x2b || sign === 0x2d) {
    const offsetHours = twoDigits(s, s.length - 5);
    const offsetMinutes = twoDigits(s, s.length - 2);
    if (offsetHours > 23 || offsetMinutes > 59) return false;
    offset = (sign === 0x2d ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
  }
  if (second === 60) {
    const utcMinutes = (((hour * 60 + minute - offset) % 1440) + 1440) % 1440;
    if (utcMinutes !== 23 * 60 + 59) return false;
  }
  return true;
}

function twoDigits(s: string, at: number): number {
  return (s.charCodeAt(at) - 48) * 10 + s.charCodeAt(at + 1) - 48;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}
