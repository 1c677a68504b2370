// Event validation against DESIGN.md §3. Real Kubernetes audit events (test/vectors/k8s, see its
// README: kube-apiserver webhook/log backend output and falcosecurity/falco fixtures) serve as
// metadata payloads.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { vectorPath } from '../testing/paths.js';
import {
  type AuditEvent,
  EventError,
  type EventErrorCode,
  type EventLimits,
  formatFieldPath,
  isRfc3339DateTime,
  RECORD_ENVELOPE_MAX_BYTES,
  resolveEventLimits,
  validateEvent,
  validateEventCanonical,
  validateEventShape,
} from './event.js';
import { canonicalize } from './jcs.js';

const base = { action: 'document.update', actor: { id: 'u1' } };
const ev = (extra: Record<string, unknown>) => ({ ...base, ...extra });
const target = (i: number) => ({ id: `t${i}`, type: 'document' });
const nest = (depth: number, leaf: unknown = 1): unknown =>
  depth === 0 ? leaf : { a: nest(depth - 1, leaf) };

const GOOD: [string, unknown][] = [
  ['minimal', base],
  [
    'every field',
    {
      id: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      action: 'document.update',
      actor: {
        id: 'u1',
        type: 'user',
        name: 'Alice',
        email: 'a@example.com',
        ip: '2001:db8::1',
        user_agent: 'curl/8',
      },
      target: { id: 'doc-1', type: 'document', name: 'Q3 plan' },
      outcome: 'success',
      occurred_at: '2026-11-27T07:00:00.123Z',
      source: { service: 'docs', host: 'docs-1', request_id: 'r-1' },
      metadata: { changed: ['title'], version: 3, ok: true, none: null, nested: { x: -0.5 } },
    },
  ],
  ['targets: 32', ev({ targets: Array.from({ length: 32 }, (_, i) => target(i)) })],
  ['targets: empty', ev({ targets: [] })],
  ['empty descriptive strings', ev({ actor: { id: 'u', name: '' }, source: {} })],
  ...['success', 'failure', 'denied', 'error', 'unknown'].map((o): [string, unknown] => [
    `outcome ${o}`,
    ev({ outcome: o }),
  ]),
  ['action of 128 chars', ev({ action: 'a'.repeat(128) })],
  ['action of 128 astral chars (256 UTF-16 units)', ev({ action: '😂'.repeat(128) })],
  ['actor.id of 1024 chars', ev({ actor: { id: 'x'.repeat(1024) } })],
  ['id: one char', ev({ id: 'a' })],
  ['id: 128 chars of the full charset', ev({ id: 'Az09._:-'.repeat(16) })],
  ['id: Kubernetes auditID', ev({ id: 'd2a97a82-f39e-41d0-8b31-dd74f42ac7fe' })],
  ['metadata: depth 16', ev({ metadata: nest(16) })],
  [
    'metadata: depth 16 through arrays',
    ev({ metadata: { a: JSON.parse(`${'['.repeat(15)}${']'.repeat(15)}`) } }),
  ],
  ['metadata: empty', ev({ metadata: {} })],
  [
    'metadata: own "__proto__" key',
    JSON.parse('{"action":"a","actor":{"id":"u"},"metadata":{"__proto__":{"x":1}}}'),
  ],
  [
    'null-prototype objects',
    Object.assign(Object.create(null), {
      action: 'a',
      actor: Object.assign(Object.create(null), { id: 'u' }),
    }),
  ],
];

const OCCURRED_AT_GOOD = [
  '2026-11-27T07:00:00Z',
  '2026-11-27t07:00:00z',
  '2026-11-27T07:00:00.1Z',
  '2026-11-27T07:00:00.123456789Z',
  '2026-11-27T07:00:00+05:30',
  '2026-11-27T07:00:00-00:00',
  '2024-02-29T12:00:00Z',
  '2000-02-29T12:00:00Z',
  '1990-12-31T23:59:60Z', // RFC 3339 §5.8
  '1990-12-31T15:59:60-08:00', // RFC 3339 §5.8, the same leap second
  '1937-01-01T12:00:27.87+00:20', // RFC 3339 §5.8
  '1991-01-01T00:59:60+01:00', // 23:59:60 UTC
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
];

const OCCURRED_AT_BAD = [
  '',
  '2026-11-27',
  '2026-11-27T07:00:00',
  '2026-11-27 07:00:00Z',
  '2026-11-27T07:00Z',
  '2026-11-27T07:00:00.Z',
  '2026-11-27T07:00:00.1234567890Z',
  '2026-11-27T07:00:00+0530',
  '2026-11-27T07:00:00+05',
  '2026-11-27T07:00:00+24:00',
  '2026-11-27T07:00:00+05:60',
  '26-11-27T07:00:00Z',
  '2026-1-27T07:00:00Z',
  '2026-00-10T07:00:00Z',
  '2026-13-10T07:00:00Z',
  '2026-11-00T07:00:00Z',
  '2026-11-31T07:00:00Z',
  '2026-02-29T07:00:00Z',
  '1900-02-29T07:00:00Z',
  '2026-11-27T24:00:00Z',
  '2026-11-27T07:60:00Z',
  '2026-11-27T07:00:61Z',
  '2026-11-27T12:00:60Z',
  '1990-12-31T23:59:60+01:00',
  '1990-12-31T23:59:60-00:01',
  '2026-11-27T07:00:00Z ',
  '２０２６-11-27T07:00:00Z',
];

type Bad = [string, unknown, EventErrorCode, string | undefined, Partial<EventLimits>?];

const BAD: Bad[] = [
  ['null', null, 'event.not_object', undefined],
  ['array', [base], 'event.not_object', undefined],
  ['string', '{}', 'event.not_object', undefined],
  ['Date', new Date(), 'event.not_object', undefined],
  ['unknown top-level field', ev({ user: 'x' }), 'event.unknown_field', 'user'],
  ['unknown odd top-level field', ev({ 'a b': 1 }), 'event.unknown_field', '["a b"]'],
  ['unknown actor field', ev({ actor: { id: 'u', role: 'x' } }), 'event.unknown_field', 'actor.role'],
  ['unknown target field', ev({ target: { id: 't', owner: 'x' } }), 'event.unknown_field', 'target.owner'],
  [
    'unknown targets[1] field',
    ev({ targets: [target(0), { id: 't', x: 1 }] }),
    'event.unknown_field',
    'targets[1].x',
  ],
  ['unknown source field', ev({ source: { region: 'eu' } }), 'event.unknown_field', 'source.region'],
  ['no action', { actor: { id: 'u' } }, 'event.missing_field', 'action'],
  ['no actor', { action: 'a' }, 'event.missing_field', 'actor'],
  ['no actor.id', ev({ actor: { name: 'n' } }), 'event.missing_field', 'actor.id'],
  ['no target.id', ev({ target: { type: 't' } }), 'event.missing_field', 'target.id'],
  ['no targets[2].id', ev({ targets: [target(0), target(1), {}] }), 'event.missing_field', 'targets[2].id'],
  ['action not a string', ev({ action: 5 }), 'event.invalid_type', 'action'],
  ['actor a string', ev({ actor: 'u' }), 'event.invalid_type', 'actor'],
  ['actor null', ev({ actor: null }), 'event.invalid_type', 'actor'],
  ['actor an array', ev({ actor: [{ id: 'u' }] }), 'event.invalid_type', 'actor'],
  ['actor.id a number', ev({ actor: { id: 7 } }), 'event.invalid_type', 'actor.id'],
  ['actor.name null', ev({ actor: { id: 'u', name: null } }), 'event.invalid_type', 'actor.name'],
  ['target a string', ev({ target: 't' }), 'event.invalid_type', 'target'],
  ['targets an object', ev({ targets: target(0) }), 'event.invalid_type', 'targets'],
  ['targets[0] a string', ev({ targets: ['t'] }), 'event.invalid_type', 'targets[0]'],
  [
    'targets[1].name a number',
    ev({ targets: [target(0), { id: 't', name: 1 }] }),
    'event.invalid_type',
    'targets[1].name',
  ],
  ['outcome a boolean', ev({ outcome: true }), 'event.invalid_type', 'outcome'],
  ['outcome null', ev({ outcome: null }), 'event.invalid_type', 'outcome'],
  ['outcome undefined', ev({ outcome: undefined }), 'event.invalid_type', 'outcome'],
  ['occurred_at a number', ev({ occurred_at: 1764226800000 }), 'event.invalid_type', 'occurred_at'],
  ['source an array', ev({ source: [] }), 'event.invalid_type', 'source'],
  ['metadata an array', ev({ metadata: [] }), 'event.invalid_type', 'metadata'],
  ['metadata null', ev({ metadata: null }), 'event.invalid_type', 'metadata'],
  ['metadata a string', ev({ metadata: '{}' }), 'event.invalid_type', 'metadata'],
  ['metadata a Map', ev({ metadata: new Map() }), 'event.invalid_type', 'metadata'],
  ['id a number', ev({ id: 42 }), 'event.invalid_type', 'id'],
  ['empty action', ev({ action: '' }), 'event.invalid_value', 'action'],
  ['action of 129 chars', ev({ action: 'a'.repeat(129) }), 'event.invalid_value', 'action'],
  ['action of 129 astral chars', ev({ action: '😂'.repeat(129) }), 'event.invalid_value', 'action'],
  ['empty actor.id', ev({ actor: { id: '' } }), 'event.invalid_value', 'actor.id'],
  ['empty target.id', ev({ target: { id: '' } }), 'event.invalid_value', 'target.id'],
  [
    'actor.user_agent of 1025 chars',
    ev({ actor: { id: 'u', user_agent: 'x'.repeat(1025) } }),
    'event.invalid_value',
    'actor.user_agent',
  ],
  [
    'source.host of 1025 chars',
    ev({ source: { host: 'h'.repeat(1025) } }),
    'event.invalid_value',
    'source.host',
  ],
  ['outcome not in the enum', ev({ outcome: 'ok' }), 'event.invalid_value', 'outcome'],
  ['outcome in the wrong case', ev({ outcome: 'Success' }), 'event.invalid_value', 'outcome'],
  ['empty id', ev({ id: '' }), 'event.invalid_value', 'id'],
  ['id with a space', ev({ id: 'a b' }), 'event.invalid_value', 'id'],
  ['id with a slash', ev({ id: 'a/b' }), 'event.invalid_value', 'id'],
  ['id with a newline', ev({ id: 'ab\n' }), 'event.invalid_value', 'id'],
  ['id of 129 chars', ev({ id: 'a'.repeat(129) }), 'event.invalid_value', 'id'],
  ['target and targets', ev({ target: target(0), targets: [] }), 'event.conflicting_fields', 'targets'],
  [
    '33 targets',
    ev({ targets: Array.from({ length: 33 }, (_, i) => target(i)) }),
    'event.too_many_targets',
    'targets',
  ],
  ['metadata depth 17', ev({ metadata: nest(17) }), 'event.too_deep', `metadata${'.a'.repeat(16)}`],
  [
    'metadata depth 17 via arrays',
    ev({ metadata: { l: [[{ m: nest(12, []) }]] } }),
    'event.too_deep',
    `metadata.l[0][0].m${'.a'.repeat(12)}`,
  ],
  ['NaN in metadata', ev({ metadata: { x: Number.NaN } }), 'event.not_canonicalizable', 'metadata.x'],
  [
    'Infinity in metadata',
    ev({ metadata: { a: [0, Number.POSITIVE_INFINITY] } }),
    'event.not_canonicalizable',
    'metadata.a[1]',
  ],
  ['lone surrogate in action', ev({ action: 'a\ud800' }), 'event.not_canonicalizable', 'action'],
  [
    'lone surrogate in actor.name',
    ev({ actor: { id: 'u', name: '\udc00' } }),
    'event.not_canonicalizable',
    'actor.name',
  ],
  [
    'lone surrogate in a metadata key',
    ev({ metadata: { '\ud800': 1 } }),
    'event.not_canonicalizable',
    'metadata["\\ud800"]',
  ],
  ['undefined in metadata', ev({ metadata: { u: undefined } }), 'event.not_canonicalizable', 'metadata.u'],
  ['Date in metadata', ev({ metadata: { when: new Date(0) } }), 'event.not_canonicalizable', 'metadata.when'],
  ['BigInt in metadata', ev({ metadata: { n: 1n } }), 'event.not_canonicalizable', 'metadata.n'],
  [
    'custom limit: targets',
    ev({ targets: [target(0), target(1), target(2)] }),
    'event.too_many_targets',
    'targets',
    { maxTargets: 2 },
  ],
  [
    'custom limit: action',
    ev({ action: 'abcdefghijk' }),
    'event.invalid_value',
    'action',
    { maxActionLength: 10 },
  ],
  [
    'custom limit: field',
    ev({ actor: { id: 'u', name: 'abcdef' } }),
    'event.invalid_value',
    'actor.name',
    { maxFieldLength: 5 },
  ],
  [
    'custom limit: depth',
    ev({ metadata: { a: { b: [1] } } }),
    'event.too_deep',
    'metadata.a.b',
    { maxMetadataDepth: 2 },
  ],
  [
    'custom limit: size',
    ev({ metadata: { s: 'x'.repeat(700) } }),
    'event.too_large',
    undefined,
    { maxRecordBytes: 1000 },
  ],
];

function assertEventError(
  fn: () => unknown,
  code: EventErrorCode,
  field: string | undefined,
  what: string,
): EventError {
  let caught: EventError | undefined;
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof EventError, `${what}: ${err}`);
      assert.equal(err.code, code, what);
      assert.equal(err.details?.field, field, what);
      caught = err;
      return true;
    },
    what,
  );
  return caught!;
}

test('good events are accepted unchanged (same object, same key order)', (t) => {
  const goods: [string, unknown][] = [
    ...GOOD,
    ...OCCURRED_AT_GOOD.map((at): [string, unknown] => [at, ev({ occurred_at: at })]),
  ];
  for (const [name, input] of goods) {
    const keys = JSON.stringify(input);
    const accepted: AuditEvent = validateEvent(input);
    assert.equal(accepted, input, name);
    assert.equal(JSON.stringify(accepted), keys, name);
    const both = validateEventCanonical(input);
    assert.equal(both.event, input, name);
    assert.equal(both.eventJson, canonicalize(input), name);
  }
  t.diagnostic(`good events: ${goods.length} accepted`);
});

test('bad events are rejected with a stable code and the offending field', (t) => {
  const bads: Bad[] = [
    ...BAD,
    ...OCCURRED_AT_BAD.map(
      (at): Bad => [
        `occurred_at ${JSON.stringify(at)}`,
        ev({ occurred_at: at }),
        'event.invalid_value',
        'occurred_at',
      ],
    ),
  ];
  for (const [name, input, code, field, limits] of bads) {
    assertEventError(() => validateEvent(input, limits), code, field, name);
  }
  t.diagnostic(`bad events: ${bads.length} rejected`);
});

test('validateEventCanonical returns the RFC 8785 text of the event', () => {
  const input = { metadata: { b: 1e21, a: '\u0007' }, actor: { name: 'é', id: 'u' }, action: 'x' };
  assert.equal(
    validateEventCanonical(input).eventJson,
    '{"action":"x","actor":{"id":"u","name":"é"},"metadata":{"a":"\\u0007","b":1e+21}}',
  );
});

test('validateEventShape checks structure only, not depth, JCS values or size', () => {
  const deep = ev({ metadata: nest(40) });
  assert.equal(validateEventShape(deep), deep);
  assert.equal(validateEventShape(ev({ metadata: { x: Number.NaN } })).action, base.action);
  assertEventError(() => validateEvent(deep), 'event.too_deep', `metadata${'.a'.repeat(16)}`, 'full');
  assertEventError(
    () => validateEventShape({ actor: { id: 'u' } }),
    'event.missing_field',
    'action',
    'shape',
  );
  assertEventError(
    () => validateEventShape(ev({ targets: [target(0)] }), { maxTargets: 0 }),
    'event.too_many_targets',
    'targets',
    'shape',
  );
});

test('every unknown field is named, at the top level and inside nested objects', () => {
  const err = assertEventError(
    () => validateEvent(ev({ zeta: 1, alpha: 2, 'x.y': 3 })),
    'event.unknown_field',
    'zeta',
    'top',
  );
  assert.deepEqual(err.details?.fields, ['zeta', 'alpha', '["x.y"]']);
  const inner = assertEventError(
    () => validateEvent(ev({ actor: { id: 'u', a: 1, b: 2 } })),
    'event.unknown_field',
    'actor.a',
    'actor',
  );
  assert.deepEqual(inner.details?.fields, ['actor.a', 'actor.b']);
});

test('isRfc3339DateTime agrees with the tables', () => {
  for (const s of OCCURRED_AT_GOOD) assert.equal(isRfc3339DateTime(s), true, s);
  for (const s of OCCURRED_AT_BAD) assert.equal(isRfc3339DateTime(s), false, s);
});

test('property: isRfc3339DateTime accepts every real instant, with any offset, and no impossible date', () => {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  fc.assert(
    fc.property(
      fc.integer({ min: -62167219200000, max: 253402300799999 }),
      fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
      (ms, off) => {
        const iso = new Date(ms).toISOString();
        assert.equal(isRfc3339DateTime(iso), true, iso);
        const sign = off < 0 ? '-' : '+';
        const withOffset = `${iso.slice(0, -1)}${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
        assert.equal(isRfc3339DateTime(withOffset), true, withOffset);
      },
    ),
  );
  // Day 29..31 of every month of a leap and a common year, against the calendar of Date.
  for (const year of [2023, 2024, 1900, 2000]) {
    for (let month = 1; month <= 12; month++) {
      for (let day = 28; day <= 31; day++) {
        const date = new Date(Date.UTC(year, month - 1, day));
        const real = date.getUTCMonth() === month - 1;
        const s = `${year}-${pad(month)}-${pad(day)}T00:00:00Z`;
        assert.equal(isRfc3339DateTime(s), real, s);
      }
    }
  }
});

test('size limit: the canonical event may use maxRecordBytes minus the record envelope, in UTF-8 bytes', () => {
  assert.equal(RECORD_ENVELOPE_MAX_BYTES, 364);
  const budget = 65535 - 364;
  // JCS puts keys in order: {"action":"a","actor":{"id":"u"},"metadata":{"p":"…"}}
  const prefix = '{"action":"a","actor":{"id":"u"},"metadata":{"p":"';
  const fixed = prefix.length + '"}}'.length;
  const sized = (fill: string) => ({ action: 'a', actor: { id: 'u' }, metadata: { p: fill } });
  validateEvent(sized('x'.repeat(budget - fixed)));
  const over = assertEventError(
    () => validateEvent(sized('x'.repeat(budget - fixed + 1))),
    'event.too_large',
    undefined,
    'ascii',
  );
  // Over by a character: found while encoding, before the text is finished, so no exact size.
  assert.equal(over.details?.limit, budget);
  assert.match(over.message, new RegExp(`over ${budget} bytes`));
  // 'é' is 2 bytes, '€' 3, '😂' 4 (2 UTF-16 units): the limit counts bytes.
  for (const [ch, bytes] of [
    ['é', 2],
    ['€', 3],
    ['😂', 4],
  ] as const) {
    const n = Math.floor((budget - fixed) / bytes);
    const pad = 'x'.repeat(budget - fixed - n * bytes);
    validateEvent(sized(ch.repeat(n) + pad));
    assertEventError(() => validateEvent(sized(`${ch.repeat(n)}${pad}x`)), 'event.too_large', undefined, ch);
  }
  // Escapes count as written: "\u0000" is 6 bytes.
  const n = Math.floor((budget - fixed) / 6);
  validateEvent(sized('\u0000'.repeat(n)));
  assertEventError(
    () => validateEvent(sized('\u0000'.repeat(n + 1))),
    'event.too_large',
    undefined,
    'escapes',
  );
});

test('an event with far more metadata members than could fit is event.too_large, naming the limit', () => {
  // jcs.test.ts checks that such a container is refused before a member is read.
  const metadata: Record<string, number> = {};
  for (let i = 0; i < 100_000; i++) metadata[`m${i}`] = i;
  const err = assertEventError(
    () => validateEvent({ action: 'a', actor: { id: 'u' }, metadata }),
    'event.too_large',
    undefined,
    'members',
  );
  assert.equal(err.details?.limit, 65535 - RECORD_ENVELOPE_MAX_BYTES);
});

function k8sEvents(): [string, unknown][] {
  const dir = vectorPath('k8s');
  const out: [string, unknown][] = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
    const lines = readFileSync(vectorPath('k8s', f), 'utf8').split('\n');
    for (const [i, line] of lines.entries())
      if (line.trim() !== '') out.push([`${f}:${i}`, JSON.parse(line)]);
  }
  out.push([
    'synthetic-webhook-eventlist-3-items.json',
    JSON.parse(readFileSync(vectorPath('k8s', 'synthetic-webhook-eventlist-3-items.json'), 'utf8')),
  ]);
  for (const f of readdirSync(vectorPath('k8s', 'falco-trace-files'))) {
    out.push([f, JSON.parse(readFileSync(vectorPath('k8s', 'falco-trace-files', f), 'utf8'))]);
  }
  return out;
}

test('real Kubernetes audit events are accepted as metadata', (t) => {
  const events = k8sEvents();
  for (const [name, k8s] of events) {
    const input = { action: 'k8s.audit', actor: { id: 'kube-apiserver' }, metadata: k8s as object };
    assert.equal(validateEvent(input), input, name);
  }
  assert.ok(events.length >= 11);
  t.diagnostic(`k8s payloads: ${events.length} accepted`);
});

test('a too-deep real payload names the first container past the limit (JCS key order)', () => {
  // Line 1 of the v1.20 webhook capture nests 12 levels; this path was found by hand in the vector.
  const line = readFileSync(
    vectorPath('k8s', 'webhook-eventlist-apiserver-v1.20-create-pod.jsonl'),
    'utf8',
  ).split('\n')[1]!;
  const input = { action: 'k8s.audit', actor: { id: 'kube-apiserver' }, metadata: JSON.parse(line) };
  validateEvent(input, { maxMetadataDepth: 12 });
  assertEventError(
    () => validateEvent(input, { maxMetadataDepth: 11 }),
    'event.too_deep',
    'metadata.items[0].responseObject.metadata.managedFields[0].fieldsV1["f:spec"]["f:containers"]["k:{\\"name\\":\\"webhook-audit\\"}"]["."]',
    'k8s',
  );
});

test('formatFieldPath', () => {
  assert.equal(formatFieldPath([]), '');
  assert.equal(formatFieldPath(['actor', 'id']), 'actor.id');
  assert.equal(formatFieldPath(['targets', 3, 'id']), 'targets[3].id');
  assert.equal(formatFieldPath(['metadata', 'a', 'b']), 'metadata.a.b');
  assert.equal(formatFieldPath(['metadata', 'k8s.io/x', '$ok', '1a']), 'metadata["k8s.io/x"].$ok["1a"]');
});

test('resolveEventLimits rejects nonsensical configuration', () => {
  assert.deepEqual(resolveEventLimits({ maxTargets: 5 }), {
    maxRecordBytes: 65535,
    maxMetadataDepth: 16,
    maxTargets: 5,
    maxActionLength: 128,
    maxFieldLength: 1024,
  });
  const bad: Partial<EventLimits>[] = [
    { maxRecordBytes: 65536 },
    { maxRecordBytes: 300 },
    { maxMetadataDepth: 1 },
    { maxMetadataDepth: 1000 },
    { maxTargets: -1 },
    { maxActionLength: 0 },
    { maxFieldLength: 1.5 },
    { maxTargets: Number.NaN },
  ];
  for (const limits of bad)
    assert.throws(() => validateEvent(base, limits), RangeError, JSON.stringify(limits));
});
