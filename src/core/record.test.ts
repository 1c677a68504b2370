// Records per DESIGN.md §3; leaf hash per RFC 6962 §2.1; UUIDv7 per RFC 9562 §5.7 (test vector from
// Appendix A.6). Expected texts and hashes are written out by hand or computed with node:crypto.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { type AuditEvent, RECORD_ENVELOPE_MAX_BYTES, validateEvent } from './event.js';
import { canonicalize } from './jcs.js';
import {
  buildRecord,
  buildRecordRun,
  formatTimestamp,
  isRecordTimestamp,
  newEventId,
  parseRecord,
  RecordError,
  type RecordErrorCode,
  type RecordInput,
  ZERO_HASH,
} from './record.js';

const ZEROS = '0'.repeat(64);
const PREV1 = 'ab'.repeat(32);
const hexBytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const leafHashHex = (bytes: Uint8Array) =>
  createHash('sha256')
    .update(Buffer.from([0]))
    .update(bytes)
    .digest('hex');

const EVENT: AuditEvent = {
  action: 'document.update',
  actor: { id: 'u1', name: 'Zoë' },
  outcome: 'success',
  metadata: { z: [1, 2.5, -0], a: null },
};

test('buildRecord writes the DESIGN §3 record in JCS key order and hashes it per RFC 6962', () => {
  const r = buildRecord({
    log: 'acme',
    index: 41,
    id: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
    receivedAt: '2026-11-27T07:00:00.123Z',
    prev: hexBytes(PREV1),
    event: EVENT,
  });
  const expected =
    '{"event":{"action":"document.update","actor":{"id":"u1","name":"Zoë"},"metadata":{"a":null,"z":[1,2.5,0]},' +
    '"outcome":"success"},"id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","index":41,"log":"acme",' +
    `"prev":"${PREV1}","received_at":"2026-11-27T07:00:00.123Z","v":1}`;
  assert.equal(r.text, expected);
  assert.deepEqual(Buffer.from(r.bytes), Buffer.from(expected, 'utf8'));
  assert.equal(Buffer.from(r.leafHash).toString('hex'), leafHashHex(r.bytes));
});

test('the first record chains to 64 zeros', () => {
  assert.deepEqual([...ZERO_HASH], new Array(32).fill(0));
  const r = buildRecord({
    log: '_audit',
    index: 0,
    id: 'x',
    receivedAt: '1970-01-01T00:00:00.000Z',
    prev: ZERO_HASH,
    event: { action: 'a', actor: { id: 'u' } },
  });
  assert.equal(
    r.text,
    `{"event":{"action":"a","actor":{"id":"u"}},"id":"x","index":0,"log":"_audit","prev":"${ZEROS}","received_at":"1970-01-01T00:00:00.000Z","v":1}`,
  );
  assert.equal(parseRecord(r.bytes).prev, ZEROS);
});

test('the record envelope never exceeds RECORD_ENVELOPE_MAX_BYTES, so accepted events always fit', () => {
  const worst = {
    log: 'l'.repeat(63),
    index: Number.MAX_SAFE_INTEGER,
    id: 'i'.repeat(128),
    receivedAt: '2026-11-27T07:00:00.123Z',
    prev: hexBytes(PREV1),
  };
  const event = { action: 'a', actor: { id: 'u' } };
  const r = buildRecord({ ...worst, event });
  assert.equal(r.bytes.length - canonicalize(event).length, RECORD_ENVELOPE_MAX_BYTES);
  // The largest event validateEvent accepts yields a record of exactly 65535 bytes.
  const fixed = '{"action":"a","actor":{"id":"u"},"metadata":{"p":""}}'.length;
  const biggest = { ...event, metadata: { p: 'x'.repeat(65535 - RECORD_ENVELOPE_MAX_BYTES - fixed) } };
  assert.equal(buildRecord({ ...worst, event: validateEvent(biggest) }).bytes.length, 65535);
});

function assertRecordError(
  fn: () => unknown,
  code: RecordErrorCode,
  field: string | undefined,
  what: string,
): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof RecordError, `${what}: ${err}`);
      assert.equal(err.code, code, what);
      assert.equal(err.details?.field, field, what);
      return true;
    },
    what,
  );
}

test('buildRecord rejects malformed inputs with the field named', () => {
  const ok: RecordInput = {
    log: 'acme',
    index: 1,
    id: 'e1',
    receivedAt: '2026-11-27T07:00:00.123Z',
    prev: hexBytes(PREV1),
    event: { action: 'a', actor: { id: 'u' } },
  };
  const cases: [string, Partial<RecordInput>, RecordErrorCode, string | undefined][] = [
    ['uppercase log', { log: 'Acme' }, 'record.invalid_field', 'log'],
    ['empty log', { log: '' }, 'record.invalid_field', 'log'],
    ['64-char log', { log: 'a'.repeat(64) }, 'record.invalid_field', 'log'],
    ['log with a slash', { log: 'a/b' }, 'record.invalid_field', 'log'],
    ['log starting with a dot', { log: '.a' }, 'record.invalid_field', 'log'],
    ['negative index', { index: -1 }, 'record.invalid_field', 'index'],
    ['fractional index', { index: 1.5 }, 'record.invalid_field', 'index'],
    ['unsafe index', { index: 2 ** 53 }, 'record.invalid_field', 'index'],
    ['NaN index', { index: Number.NaN }, 'record.invalid_field', 'index'],
    ['empty id', { id: '' }, 'record.invalid_field', 'id'],
    ['id with a quote', { id: 'a"b' }, 'record.invalid_field', 'id'],
    ['129-char id', { id: 'a'.repeat(129) }, 'record.invalid_field', 'id'],
    ['receivedAt without ms', { receivedAt: '2026-11-27T07:00:00Z' }, 'record.invalid_field', 'received_at'],
    [
      'receivedAt with an offset',
      { receivedAt: '2026-11-27T07:00:00.123+00:00' },
      'record.invalid_field',
      'received_at',
    ],
    [
      'receivedAt not a date',
      { receivedAt: '2026-02-30T07:00:00.123Z' },
      'record.invalid_field',
      'received_at',
    ],
    [
      'receivedAt lowercase',
      { receivedAt: '2026-11-27t07:00:00.123z' },
      'record.invalid_field',
      'received_at',
    ],
    ['short prev', { prev: new Uint8Array(31) }, 'record.invalid_field', 'prev'],
    ['non-zero prev at index 0', { index: 0 }, 'record.invalid_field', 'prev'],
    ['event an array', { event: [] as unknown as AuditEvent }, 'record.invalid_field', 'event'],
    [
      'id differs from event.id',
      { event: { id: 'e2', action: 'a', actor: { id: 'u' } } },
      'record.id_mismatch',
      'id',
    ],
    [
      'NaN in the event',
      { event: { action: 'a', actor: { id: 'u' }, metadata: { x: Number.NaN } } },
      'record.not_canonicalizable',
      'event.metadata.x',
    ],
    [
      'record over 64 KiB',
      { event: { action: 'a', actor: { id: 'u' }, metadata: { p: 'x'.repeat(65535) } } },
      'record.too_large',
      undefined,
    ],
  ];
  for (const [name, patch, code, field] of cases) {
    assertRecordError(() => buildRecord({ ...ok, ...patch }), code, field, name);
  }
});

const BASE_TEXT = `{"event":{"action":"a","actor":{"id":"u"}},"id":"e1","index":0,"log":"acme","prev":"${ZEROS}","received_at":"2026-11-27T07:00:00.123Z","v":1}`;

test('parseRecord accepts a hand-written record, as text and as bytes', () => {
  const expected = {
    event: { action: 'a', actor: { id: 'u' } },
    id: 'e1',
    index: 0,
    log: 'acme',
    prev: ZEROS,
    received_at: '2026-11-27T07:00:00.123Z',
    v: 1,
  };
  assert.deepEqual(parseRecord(BASE_TEXT), expected);
  assert.deepEqual(parseRecord(new TextEncoder().encode(BASE_TEXT)), expected);
});

test('parseRecord rejects anything but a record in its own JCS form', () => {
  const sub = (from: string, to: string) => {
    assert.ok(BASE_TEXT.includes(from), from);
    return BASE_TEXT.replace(from, to);
  };
  const cases: [string, string | Uint8Array, RecordErrorCode, string | undefined][] = [
    ['invalid UTF-8', Uint8Array.from([0x7b, 0xff, 0x7d]), 'record.invalid_utf8', undefined],
    ['a BOM', new TextEncoder().encode(`\ufeff${BASE_TEXT}`), 'record.invalid_json', undefined],
    ['not JSON', '{"v":1', 'record.invalid_json', undefined],
    ['an array', '[]', 'record.invalid_json', undefined],
    ['a trailing newline', `${BASE_TEXT}\n`, 'record.not_canonical', undefined],
    ['whitespace', sub('"v":1', '"v": 1'), 'record.not_canonical', undefined],
    [
      'keys out of order',
      sub('"id":"e1","index":0', '"index":0,"id":"e1"'),
      'record.not_canonical',
      undefined,
    ],
    ['a duplicate key', sub('"v":1', '"v":1,"v":1'), 'record.not_canonical', undefined],
    ['v written 1.0', sub('"v":1', '"v":1.0'), 'record.not_canonical', undefined],
    ['an escaped letter', sub('"log":"acme"', '"log":"\\u0061cme"'), 'record.not_canonical', undefined],
    ['a lone surrogate escape', sub('"action":"a"', '"action":"\\ud800"'), 'record.not_canonical', undefined],
    ['v 2', sub('"v":1', '"v":2'), 'record.unsupported_version', 'v'],
    ['v "1"', sub('"v":1', '"v":"1"'), 'record.unsupported_version', 'v'],
    ['no prev', sub(`"prev":"${ZEROS}",`, ''), 'record.missing_field', 'prev'],
    ['an unknown field', sub('"v":1', '"v":1,"w":0'), 'record.unknown_field', 'w'],
    ['a bad log', sub('"log":"acme"', '"log":"ACME"'), 'record.invalid_field', 'log'],
    ['a negative index', sub('"index":0', '"index":-1'), 'record.invalid_field', 'index'],
    ['a fractional index', sub('"index":0', '"index":0.5'), 'record.invalid_field', 'index'],
    ['a string index', sub('"index":0', '"index":"0"'), 'record.invalid_field', 'index'],
    ['a bad id', sub('"id":"e1"', '"id":"e 1"'), 'record.invalid_field', 'id'],
    ['a bad received_at', sub('07:00:00.123Z', '07:00:00Z'), 'record.invalid_field', 'received_at'],
    [
      'uppercase prev',
      sub(`"index":0,"log":"acme","prev":"${ZEROS}"`, `"index":1,"log":"acme","prev":"${'AB'.repeat(32)}"`),
      'record.invalid_field',
      'prev',
    ],
    ['short prev', sub(`"prev":"${ZEROS}"`, `"prev":"${'0'.repeat(62)}"`), 'record.invalid_field', 'prev'],
    [
      'non-zero prev at index 0',
      sub(`"prev":"${ZEROS}"`, `"prev":"${PREV1}"`),
      'record.invalid_field',
      'prev',
    ],
    ['an event without action', sub('"action":"a",', ''), 'record.invalid_event', 'event.action'],
    [
      'an event with an unknown field',
      sub('"actor":{"id":"u"}', '"actor":{"id":"u"},"b c":1'),
      'record.invalid_event',
      'event["b c"]',
    ],
    ['more than 64 KiB', new Uint8Array(65536), 'record.too_large', undefined],
    ['more than 64 KiB of text', 'x'.repeat(65536), 'record.too_large', undefined],
    [
      'more than 64 KiB of UTF-8',
      sub('"action":"a"', `"action":"${'é'.repeat(33000)}"`),
      'record.too_large',
      undefined,
    ],
  ];
  for (const [name, input, code, field] of cases)
    assertRecordError(() => parseRecord(input), code, field, name);
  const mismatched = sub('{"action":"a","actor":{"id":"u"}}', '{"action":"a","actor":{"id":"u"},"id":"e2"}');
  assertRecordError(() => parseRecord(mismatched), 'record.id_mismatch', 'id', 'event id mismatch');
});

// Random valid events: strings of any code points (well-formed), metadata of arbitrary JSON.
const text = fc.string({ unit: 'binary', maxLength: 12 });
const eventArb = fc
  .record(
    {
      id: fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/),
      action: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
      actor: fc.record(
        {
          id: fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
          name: text,
          email: text,
          ip: text,
          user_agent: text,
        },
        { requiredKeys: ['id'] },
      ),
      targets: fc.array(
        fc.record({ id: fc.string({ minLength: 1 }), type: text }, { requiredKeys: ['id'] }),
        { maxLength: 4 },
      ),
      outcome: fc.constantFrom('success', 'failure', 'denied', 'error', 'unknown'),
      occurred_at: fc.integer({ min: 0, max: 253402300799999 }).map((ms) => new Date(ms).toISOString()),
      source: fc.record({ service: text, host: text, request_id: text }, { requiredKeys: [] }),
      metadata: fc.dictionary(text, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
    },
    { requiredKeys: ['action', 'actor'] },
  )
  .map((e) => validateEvent(e));

const recordInputArb = fc
  .record({
    event: eventArb,
    log: fc.stringMatching(/^[a-z0-9_][a-z0-9._-]{0,62}$/),
    index: fc.oneof(fc.constant(0), fc.maxSafeNat()),
    receivedAt: fc
      .integer({ min: -62167219200000, max: 253402300799999 })
      .map((ms) => new Date(ms).toISOString()),
    prev: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    uuid: fc.uuid({ version: 7 }),
  })
  .map(
    ({ uuid, ...r }): RecordInput => ({
      ...r,
      id: r.event.id ?? uuid,
      prev: r.index === 0 ? new Uint8Array(32) : r.prev,
    }),
  );

test('property: the fast record assembly equals canonicalize of the whole record, and parses back', () => {
  fc.assert(
    fc.property(recordInputArb, (input) => {
      const r = buildRecord(input);
      const whole = {
        v: 1,
        log: input.log,
        index: input.index,
        id: input.id,
        received_at: input.receivedAt,
        prev: Buffer.from(input.prev).toString('hex'),
        event: input.event,
      };
      assert.equal(r.text, canonicalize(whole));
      assert.equal(Buffer.from(r.leafHash).toString('hex'), leafHashHex(r.bytes));
      const parsed = parseRecord(r.bytes);
      assert.equal(canonicalize(parsed), r.text);
      assert.equal(parsed.prev, whole.prev);
    }),
    { numRuns: 1000 },
  );
});

/** The records of a run as DESIGN §3 defines them, one by one: canonicalize + node:crypto. */
function expectedRun(
  log: string,
  first: number,
  receivedAt: string,
  prev: Uint8Array,
  events: AuditEvent[],
  ids: string[],
) {
  let prevHex = Buffer.from(prev).toString('hex');
  return events.map((event, i) => {
    const text = canonicalize({
      v: 1,
      log,
      index: first + i,
      id: ids[i],
      received_at: receivedAt,
      prev: prevHex,
      event,
    });
    const bytes = Buffer.from(text, 'utf8');
    prevHex = leafHashHex(bytes);
    return { bytes, leafHex: prevHex };
  });
}

function checkRun(run: ReturnType<typeof buildRecordRun>, expected: ReturnType<typeof expectedRun>): void {
  assert.equal(run.records.length, expected.length);
  assert.equal(run.leafHashes.length, expected.length * 32);
  expected.forEach((e, i) => {
    assert.deepEqual(Buffer.from(run.records[i]!), e.bytes, `record ${i}`);
    assert.equal(run.leafHashHex[i], e.leafHex, `leaf hash hex ${i}`);
    assert.equal(Buffer.from(run.leafHashes.subarray(i * 32, i * 32 + 32)).toString('hex'), e.leafHex);
  });
}

test('property: buildRecordRun builds the same chained records as DESIGN §3, one by one', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ event: eventArb, uuid: fc.uuid({ version: 7 }) }), { minLength: 1, maxLength: 8 }),
      fc.stringMatching(/^[a-z0-9_][a-z0-9._-]{0,62}$/),
      fc.oneof(fc.constant(0), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER - 8 })),
      fc.integer({ min: 0, max: 253402300799999 }).map((ms) => new Date(ms).toISOString()),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.boolean(),
      (items, log, first, receivedAt, randomPrev, giveHex) => {
        const prev = first === 0 ? new Uint8Array(32) : randomPrev;
        const events = items.map((it) => it.event);
        const ids = items.map((it) => it.event.id ?? it.uuid);
        const run = buildRecordRun({
          log,
          firstIndex: first,
          receivedAt,
          prev,
          prevHex: giveHex ? Buffer.from(prev).toString('hex') : undefined,
          events: events.map((e, i) => ({ id: ids[i]!, eventJson: canonicalize(e) })),
        });
        checkRun(run, expectedRun(log, first, receivedAt, prev, events, ids));
        for (const r of run.records) parseRecord(r);
      },
    ),
    // No shrinking: these events are large, and shrinking one takes minutes; the seed reproduces it.
    { numRuns: 300, endOnFailure: true },
  );
});

test('buildRecordRun grows its buffer for text that is not ASCII', () => {
  // 3-byte characters make each record about three times longer in bytes than in UTF-16 units.
  const events: AuditEvent[] = Array.from({ length: 5 }, (_, i) => ({
    action: 'a',
    actor: { id: `u${i}` },
    metadata: { note: '€'.repeat(3000 + i), emoji: '😀' },
  }));
  const ids = events.map((_, i) => `e${i}`);
  const prev = hexBytes(PREV1);
  const run = buildRecordRun({
    log: 'acme',
    firstIndex: 7,
    receivedAt: '2026-11-27T07:00:00.123Z',
    prev,
    events: events.map((e, i) => ({ id: ids[i]!, eventJson: canonicalize(e) })),
  });
  checkRun(run, expectedRun('acme', 7, '2026-11-27T07:00:00.123Z', prev, events, ids));
});

test('buildRecordRun rejects what buildRecord rejects', () => {
  const ok = {
    log: 'acme',
    firstIndex: 1,
    receivedAt: '2026-11-27T07:00:00.123Z',
    prev: hexBytes(PREV1),
    events: [
      { id: 'e1', eventJson: '{"action":"a","actor":{"id":"u"}}' },
      { id: 'e2', eventJson: '{"action":"a","actor":{"id":"u"}}' },
    ],
  };
  const huge = canonicalize({ action: 'a', actor: { id: 'u' }, metadata: { p: 'é'.repeat(33000) } });
  const cases: [string, Partial<typeof ok>, RecordErrorCode, string | undefined][] = [
    ['bad log', { log: 'Acme' }, 'record.invalid_field', 'log'],
    ['negative index', { firstIndex: -1 }, 'record.invalid_field', 'index'],
    ['index past 2^53', { firstIndex: Number.MAX_SAFE_INTEGER }, 'record.invalid_field', 'index'],
    ['bad timestamp', { receivedAt: '2026-11-27T07:00:00Z' }, 'record.invalid_field', 'received_at'],
    ['short prev', { prev: new Uint8Array(31) }, 'record.invalid_field', 'prev'],
    ['non-zero prev at index 0', { firstIndex: 0 }, 'record.invalid_field', 'prev'],
    [
      'bad second id',
      { events: [ok.events[0]!, { id: 'a"b', eventJson: '{}' }] },
      'record.invalid_field',
      'id',
    ],
    [
      'record over 64 KiB',
      { events: [ok.events[0]!, { id: 'e2', eventJson: huge }] },
      'record.too_large',
      undefined,
    ],
  ];
  for (const [name, patch, code, field] of cases) {
    assertRecordError(() => buildRecordRun({ ...ok, ...patch }), code, field, name);
  }
});

test('formatTimestamp writes RFC 3339 UTC with milliseconds', () => {
  const table: [number, string][] = [
    [0, '1970-01-01T00:00:00.000Z'],
    [1795762800123, '2026-11-27T07:00:00.123Z'],
    [951868799999, '2000-02-29T23:59:59.999Z'],
    [-1, '1969-12-31T23:59:59.999Z'],
    [-62167219200000, '0000-01-01T00:00:00.000Z'],
    [253402300799999, '9999-12-31T23:59:59.999Z'],
  ];
  for (const [ms, s] of table) {
    assert.equal(formatTimestamp(ms), s);
    assert.equal(isRecordTimestamp(s), true, s);
  }
  for (const ms of [253402300800000, -62167219200001, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assertRecordError(() => formatTimestamp(ms), 'record.invalid_timestamp', undefined, String(ms));
  }
  for (const s of [
    '2026-11-27T07:00:00Z',
    '2026-11-27T07:00:00.1234Z',
    '2026-02-29T00:00:00.000Z',
    '1990-12-31T23:59:60.000Z',
    '2026-11-27T24:00:00.000Z',
    '+012026-11-27T07:00:00.000Z',
    42,
  ]) {
    assert.equal(isRecordTimestamp(s), false, String(s));
  }
});

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('newEventId makes RFC 9562 UUIDv7s: version 7, variant 0b10, big-endian milliseconds', (t) => {
  // RFC 9562 Appendix A.6: unix_ts_ms 0x017F22E279B0 (Tuesday, February 22, 2022 2:22:22.00 PM GMT-05:00).
  const a6 = newEventId(0x017f22e279b0);
  assert.match(a6, UUID_V7);
  assert.ok(a6.startsWith('017f22e2-79b0-7'), a6);
  assert.ok(newEventId(0).startsWith('00000000-0000-7'));
  assert.ok(newEventId(2 ** 48 - 1).startsWith('ffffffff-ffff-7'));
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const id = newEventId(1795762800123);
    assert.match(id, UUID_V7);
    seen.add(id);
  }
  assert.equal(seen.size, 10_000);
  // Each random nibble position takes more than one value: the randomness reaches every byte.
  const ids = [...seen];
  for (const pos of [15, 16, 17, 20, 35])
    assert.ok(new Set(ids.map((id) => id[pos])).size > 1, `position ${pos}`);
  for (const bad of [-1, 2 ** 48, 1.5, Number.NaN]) {
    assertRecordError(() => newEventId(bad), 'record.invalid_timestamp', undefined, String(bad));
  }
  t.diagnostic(`uuidv7: ${seen.size} distinct ids`);
});

test('property: ids of later milliseconds sort after earlier ones', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 48 - 2 }),
      fc.integer({ min: 1, max: 2 ** 40 }),
      (ms, delta) => {
        const later = Math.min(ms + delta, 2 ** 48 - 1);
        assert.ok(newEventId(ms) < newEventId(later));
      },
    ),
  );
});
