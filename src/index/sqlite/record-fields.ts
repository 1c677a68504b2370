/**
 * What the index derives from one record (DESIGN.md §3): the exact-match keys and the compact
 * free text it feeds the full-text index, and the columns it keeps beside the record.
 *
 * Strict about the wrapper, lenient about the event. The wrapper (`v`, `log`, `index`, `id`,
 * `received_at`) is written by our own server, so a mismatch means the engine handed us the wrong
 * entry and must stop. The event was validated at append time, but the log is the source of truth
 * and an index that refuses an entry the log holds would stall forever; so an odd event field (a
 * non-string actor id, say) is indexed as absent instead of rejected. Nothing here depends on SQLite.
 */
import { bytesEqual, sha256 } from '../../core/crypto.js';
import { toHex, utf8 } from '../../core/encoding.js';
import { type IndexEntry, IndexError } from '../types.js';
import { normalizeTimestamp } from './query-input.js';

const LEAF_PREFIX = new Uint8Array([0]);

/** An entry as the index stores it beside the record (what `verifyAgainst` compares). */
export interface StoredEntry {
  idx: number;
  leaf_hash: Uint8Array;
  id: string;
  received_at: string;
  record: string;
}

export interface RecordFields {
  id: string;
  /** `received_at` in the canonical form of `normalizeTimestamp` (string order = time order). */
  receivedAt: string;
  /** `action`, or null when the event has no string action. */
  action: string | null;
  /** Exact-match tokens (`keyToken`) for actor, action, outcome and every target id, space-separated. */
  keys: string;
  /** Words for free-text search, space-separated (see `compactText`). */
  text: string;
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function invalidEntry(index: number, message: string): IndexError {
  return new IndexError('index.invalid_entry', message, { details: { index } });
}

/** Parses a record and checks that it is the record of `log` at `index`. */
export function parseRecord(log: string, index: number, text: string): { record: Obj; event: Obj } {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (cause) {
    throw new IndexError('index.invalid_entry', 'record is not JSON', { cause, details: { index } });
  }
  if (!isObject(record)) throw invalidEntry(index, 'record is not a JSON object');
  if (record.v !== 1) throw invalidEntry(index, 'record version is not 1');
  if (record.log !== log) throw invalidEntry(index, 'record belongs to another log');
  if (record.index !== index) throw invalidEntry(index, 'record index differs from the entry index');
  if (typeof record.id !== 'string') throw invalidEntry(index, 'record id is not a string');
  if (!isObject(record.event)) throw invalidEntry(index, 'record event is not an object');
  return { record, event: record.event };
}

/**
 * Everything the index stores about one record. Deterministic: deleting a full-text row means
 * repeating exactly the keys and text it was inserted with, so any change to what this derives
 * MUST come with a schema migration that rebuilds the full-text table.
 */
export function extractRecordFields(log: string, index: number, text: string): RecordFields {
  const { record, event } = parseRecord(log, index, text);
  const receivedAt =
    typeof record.received_at === 'string' ? normalizeTimestamp(record.received_at) : undefined;
  if (receivedAt === undefined) throw invalidEntry(index, 'record received_at is not an RFC 3339 date-time');
  return { id: record.id as string, receivedAt, ...eventFields(event) };
}

// The entries of one commit share their received_at: the last one normalized, and its result.
let lastReceivedAt: string | undefined;
let lastNormalized = '';

/**
 * RecordFields of an entry whose event fields the caller derived ahead (IndexEntry.derived, from
 * SearchIndex.deriveEvent) and whose id and `received_at` it gives: what extractRecordFields would
 * return, without parsing the record. The record's wrapper is still checked, by its exact text
 * (DESIGN.md §3: the keys after the event are fixed, in JCS order), so the wrong entry is refused
 * here as parseRecord refuses it. Undefined when the entry carries no usable derived fields.
 */
export function derivedRecordFields(log: string, entry: IndexEntry): RecordFields | undefined {
  const { derived, id, receivedAt, index, record } = entry;
  if (!isEventFields(derived) || typeof id !== 'string' || typeof receivedAt !== 'string') return undefined;
  // `,"id":"…","index":…,"log":"…","prev":"<64 hex>","received_at":"…","v":1}` closes every record.
  const tail = `","received_at":"${receivedAt}","v":1}`;
  const head = `,"id":"${id}","index":${index},"log":"${log}","prev":"`;
  const headAt = record.length - tail.length - 64 - head.length;
  if (!record.startsWith('{"event":{') || !record.endsWith(tail) || !record.startsWith(head, headAt)) {
    throw invalidEntry(index, 'record is not the entry of this log, index, id and received_at');
  }
  if (receivedAt !== lastReceivedAt) {
    const normalized = normalizeTimestamp(receivedAt);
    if (normalized === undefined)
      throw invalidEntry(index, 'record received_at is not an RFC 3339 date-time');
    lastReceivedAt = receivedAt;
    lastNormalized = normalized;
  }
  return { id, receivedAt: lastNormalized, ...derived };
}

/**
 * Strings per entry when derived fields travel packed to the index worker (threaded-index.ts
 * packDerived, index-worker.ts unpack): id, received_at, action ('' for none), keys, text.
 */
export const DERIVED_FIELDS = 5;

/** True for a value eventFields made (IndexEntry.derived arrives untyped). */
export function isEventFields(v: unknown): v is EventFields {
  const f = v as EventFields | undefined;
  return (
    typeof f === 'object' &&
    f !== null &&
    typeof f.keys === 'string' &&
    typeof f.text === 'string' &&
    (f.action === null || typeof f.action === 'string')
  );
}

/** The part of RecordFields that comes from the event alone. */
export type EventFields = Pick<RecordFields, 'action' | 'keys' | 'text'>;

/**
 * The action, keys and text of an event. The append path calls it (SearchIndex.deriveEvent) on the
 * event it has just validated and canonicalized, before any await, so that the index need not parse
 * the record again. For plain JSON data (what JSON.parse makes) it gives exactly what
 * extractRecordFields derives from that event's record: arrays are walked by index as the JCS
 * encoder walks them, and metadata keys are taken in the order an object parsed from the record
 * has them (`recordKeyOrder`). record-fields.test.ts checks the two agree on tricky events.
 */
export function eventFields(event: Obj): EventFields {
  const action = str(event.action);
  const keys: string[] = [];
  const actor = isObject(event.actor) ? str(event.actor.id) : null;
  if (actor !== null) keys.push(keyToken('actor', actor));
  if (action !== null) keys.push(keyToken('action', action));
  const outcome = str(event.outcome);
  if (outcome !== null) keys.push(keyToken('outcome', outcome));
  for (const t of targetIdsOf(event)) keys.push(keyToken('target', t));
  return { action, keys: keys.join(' '), text: compactText(event) };
}

/** The target ids of an event (`target.id`, then every `targets[].id`), without duplicates. */
export function targetIdsOf(event: Obj): string[] {
  const ids: string[] = [];
  const add = (t: unknown) => {
    const id = isObject(t) ? str(t.id) : null;
    if (id !== null && !ids.includes(id)) ids.push(id);
  };
  add(event.target);
  const targets = event.targets;
  if (Array.isArray(targets)) for (let i = 0; i < targets.length; i++) add(targets[i]);
  return ids;
}

export type KeyKind = 'actor' | 'action' | 'outcome' | 'target';
const KIND_LETTER: Record<KeyKind, string> = { actor: 'a', action: 'c', outcome: 'o', target: 't' };
/** Values longer than this (in UTF-8 bytes) are keyed by a 160-bit prefix of their SHA-256. */
const MAX_HEX_KEY_BYTES = 48;

/**
 * The full-text token that stands for "field `kind` equals `value`" exactly: a kind letter, then
 * the value's UTF-8 in hex, which the unicode61 tokenizer keeps as one token and never folds.
 * Long values get `z` (not a hex digit, so no clash) and a SHA-256 prefix instead.
 */
export function keyToken(kind: KeyKind, value: string): string {
  // Actors, actions, outcomes and targets repeat from event to event: remember recent tokens.
  if (value.length > MAX_HEX_KEY_BYTES) return makeKeyToken(KIND_LETTER[kind], value);
  const memo = TOKEN_MEMO[kind];
  let token = memo.get(value);
  if (token === undefined) {
    token = makeKeyToken(KIND_LETTER[kind], value);
    if (memo.size >= TOKEN_MEMO_SIZE) memo.clear();
    memo.set(value, token);
  }
  return token;
}

/** Tokens of short values remembered per kind; bounded, so unusual values only cost a reset. */
const TOKEN_MEMO_SIZE = 4096;
const TOKEN_MEMO: Record<KeyKind, Map<string, string>> = {
  actor: new Map(),
  action: new Map(),
  outcome: new Map(),
  target: new Map(),
};

function makeKeyToken(letter: string, value: string): string {
  const ascii = asciiHex(value);
  if (ascii !== undefined) return letter + ascii;
  const bytes = utf8(value);
  if (bytes.length <= MAX_HEX_KEY_BYTES) return letter + toHex(bytes);
  return `${letter}z${toHex(sha256(bytes)).slice(0, 40)}`;
}

const HEX = '0123456789abcdef';

/** Hex of an ASCII string of at most MAX_HEX_KEY_BYTES characters, without a Buffer; else undefined. */
function asciiHex(value: string): string | undefined {
  if (value.length > MAX_HEX_KEY_BYTES) return undefined;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) return undefined;
    out += HEX[c >> 4]! + HEX[c & 15]!;
  }
  return out;
}

const ACTOR_FIELDS = ['id', 'type', 'name', 'email', 'ip', 'user_agent'] as const;
const TARGET_FIELDS = ['id', 'type', 'name'] as const;
const SOURCE_FIELDS = ['service', 'host', 'request_id'] as const;
/** DESIGN.md §3 caps metadata depth at 16; deeper values (which validation would have refused) are skipped. */
const MAX_METADATA_DEPTH = 16;

/**
 * The free-text document of an event: the values a person searches for, not the raw JSON, so the
 * full-text index holds no key names, quotes or braces. Covered: action, actor fields, target
 * fields, outcome, source fields, and every string or number in metadata. Not covered: ids that
 * have their own look-ups (the record id), timestamps (use since/until).
 */
export function compactText(event: Obj): string {
  // The words are collected and joined once: a string grown by `+=` is a chain of pieces in V8,
  // which costs far more memory than its text while the engine holds it for the index.
  const words: string[] = [];
  appendFields(words, event.actor, ACTOR_FIELDS);
  appendFields(words, event.target, TARGET_FIELDS);
  const targets = event.targets;
  if (Array.isArray(targets))
    for (let i = 0; i < targets.length; i++) appendFields(words, targets[i], TARGET_FIELDS);
  if (typeof event.outcome === 'string') words.push(event.outcome);
  appendFields(words, event.source, SOURCE_FIELDS);
  appendValues(words, event.metadata, 0);
  // Each word follows one space, after the action or after nothing.
  const action = typeof event.action === 'string' ? event.action : '';
  return words.length === 0 ? action : `${action} ${words.join(' ')}`;
}

function appendFields(words: string[], o: unknown, fields: readonly string[]): void {
  if (!isObject(o)) return;
  for (const f of fields) {
    const v = o[f];
    if (typeof v === 'string') words.push(v);
  }
}

function appendValues(words: string[], v: unknown, depth: number): void {
  if (typeof v === 'string') words.push(v);
  else if (typeof v === 'number') words.push(`${v}`);
  else if (typeof v !== 'object' || v === null || depth >= MAX_METADATA_DEPTH) return;
  else if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) appendValues(words, v[i], depth + 1);
  } else {
    for (const k of recordKeyOrder(v as Obj)) appendValues(words, (v as Obj)[k], depth + 1);
  }
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/;

/**
 * The keys of `o` in the order an object parsed from its RFC 8785 text enumerates them: array-index
 * keys first in numeric order (ECMAScript puts them first in every object), then the others in JCS
 * order (UTF-16 code units), which is their order in the text. An object parsed from a record
 * already has that order and is returned as is; an event built by a client usually does not.
 */
export function recordKeyOrder(o: Obj): string[] {
  const keys = Object.keys(o);
  let named = 0;
  while (named < keys.length && ARRAY_INDEX.test(keys[named]!) && Number(keys[named]) < 4294967295) named++;
  for (let i = named + 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return [...keys.slice(0, named), ...keys.slice(named).sort()];
  }
  return keys;
}

/** True when a stored row is the log's entry: same leaf hash, a record hashing to it, same id and time columns. */
export function storedEntryMatches(
  log: string,
  index: number,
  row: StoredEntry | undefined,
  truth: Uint8Array | undefined,
): boolean {
  if (row === undefined || truth === undefined || row.idx !== index || !bytesEqual(row.leaf_hash, truth)) {
    return false;
  }
  if (!bytesEqual(sha256(LEAF_PREFIX, utf8(row.record)), truth)) return false;
  try {
    const f = extractRecordFields(log, index, row.record);
    return f.id === row.id && f.receivedAt === row.received_at;
  } catch {
    return false;
  }
}

/** `entry` typed, or `index.invalid_entry`: it comes from the engine, but a bad one must not reach SQLite. */
export function checkEntry(entry: unknown): IndexEntry {
  const e = entry as Partial<IndexEntry> | null;
  const index = typeof e === 'object' && e !== null ? e.index : undefined;
  const fail = (message: string) =>
    new IndexError('index.invalid_entry', message, {
      details: { index: Number.isSafeInteger(index) ? index : null },
    });
  if (typeof e !== 'object' || e === null) throw fail('entry must be an object');
  if (!Number.isSafeInteger(index) || (index as number) < 0) {
    throw fail('entry index must be a safe non-negative integer');
  }
  if (!(e.leafHash instanceof Uint8Array) || e.leafHash.length !== 32) {
    throw fail('leaf hash must be 32 bytes');
  }
  if (typeof e.record !== 'string') throw fail('record must be a string');
  return e as IndexEntry;
}
