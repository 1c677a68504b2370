// What the index derives from a record (DESIGN.md §3 event fields). Expected tokens and texts are
// written by hand; the long-value key uses node:crypto directly, not the code under test.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { AuditEvent } from '../../core/event.js';
import { buildRecord, formatTimestamp, ZERO_HASH } from '../../core/record.js';
import {
  compactText,
  derivedRecordFields,
  eventFields,
  extractRecordFields,
  keyToken,
  targetIdsOf,
} from './record-fields.js';

test('keyToken: kind letter and the UTF-8 hex of the value, or z and a SHA-256 prefix when long', () => {
  assert.equal(keyToken('actor', 'ab'), 'a6162');
  assert.equal(keyToken('action', 'user.login'), 'c757365722e6c6f67696e');
  assert.equal(keyToken('outcome', 'denied'), 'o64656e696564');
  assert.equal(keyToken('target', 'é'), 'tc3a9');
  assert.equal(keyToken('target', '日'), 'te697a5');
  assert.equal(keyToken('actor', 'A'), 'a41');
  assert.equal(keyToken('actor', 'x'.repeat(48)), `a${'78'.repeat(48)}`);
  const long = 'x'.repeat(49);
  assert.equal(keyToken('actor', long), `az${createHash('sha256').update(long).digest('hex').slice(0, 40)}`);
  // 17 three-byte characters are 51 UTF-8 bytes: over the limit although only 17 UTF-16 units.
  const wide = '日'.repeat(17);
  assert.equal(keyToken('target', wide), `tz${createHash('sha256').update(wide).digest('hex').slice(0, 40)}`);
});

test('compactText: the values people search for, in a fixed order, without keys or JSON syntax', () => {
  const event = {
    action: 'document.update',
    actor: { id: 'u1', type: 'user', name: 'Alice', email: 'a@x.io', ip: '1.2.3.4', user_agent: 'curl/8' },
    target: { id: 'd1', type: 'document', name: 'Plan' },
    targets: [{ id: 'd2' }, 'junk', { id: 3, name: 'Other' }],
    outcome: 'success',
    occurred_at: '2026-11-27T07:00:00Z',
    source: { service: 'docs', host: 'h1', request_id: 'r1' },
    metadata: { a: 'x', b: [1.5, { c: 'y' }], d: true, e: null, f: -2 },
    id: 'evt-1',
  };
  assert.equal(
    compactText(event),
    'document.update u1 user Alice a@x.io 1.2.3.4 curl/8 d1 document Plan d2 Other success docs h1 r1 x 1.5 y -2',
  );
  assert.equal(compactText({}), '');
  // Metadata nested past the depth limit is not searched.
  let deep: unknown = 'bottom';
  for (let i = 0; i < 20; i++) deep = { n: deep };
  assert.equal(compactText({ action: 'a', metadata: { m: deep } }), 'a');
});

test('targetIdsOf: target.id then targets[].id, strings only, without duplicates', () => {
  assert.deepEqual(
    targetIdsOf({ target: { id: 'a' }, targets: [{ id: 'b' }, { id: 'a' }, { id: 7 }, null] }),
    ['a', 'b'],
  );
  assert.deepEqual(targetIdsOf({ target: 'a', targets: 'b' }), []);
});

test('extractRecordFields: columns, keys and text of a record', () => {
  const record = JSON.stringify({
    event: { action: 'user.login', actor: { id: 'ab' }, outcome: 'denied', target: { id: 'é' } },
    id: 'evt-1',
    index: 4,
    log: 'acme',
    prev: '0'.repeat(64),
    received_at: '2026-11-27T07:00:00.123Z',
    v: 1,
  });
  assert.deepEqual(extractRecordFields('acme', 4, record), {
    id: 'evt-1',
    receivedAt: '2026-11-27T07:00:00.123000000Z',
    action: 'user.login',
    keys: 'a6162 c757365722e6c6f67696e o64656e696564 tc3a9',
    text: 'user.login ab é denied',
  });
});

test('derivedRecordFields (eventFields of the event) equals extractRecordFields from its record, key order included', () => {
  // The reference is the record path: canonicalize (core/jcs) → record text → JSON.parse → fields.
  // Metadata key order is what can differ: clients write keys in any order, a parsed record has
  // array-index keys first (numeric order), then the rest in RFC 8785 order.
  const events: Record<string, unknown>[] = [
    {
      action: 'doc.update',
      actor: { type: 'user', id: 'Zoë' },
      metadata: { z: 'last', 10: 'ten', a: 'first', 2: 'two', '01': 'zero-one', é: 'e', B: 'b', _: 'u' },
    },
    {
      action: 'x',
      actor: { id: 'a'.repeat(60) },
      targets: [{ id: 't2' }, { id: 't1' }, { id: 't2' }],
      metadata: { 4294967295: 'not an index', 4294967294: 'an index', ' ': 'space', '~': 'tilde' },
    },
    { action: 'n', actor: { id: 'u' }, metadata: { n: [-0, 0.1, 1e21, 5e-7, { y: 1, x: 2 }], s: 'q"\\\n' } },
    JSON.parse('{"action":"p","actor":{"id":"u"},"metadata":{"__proto__":"own","constructor":"c"}}'),
  ];
  // Seeded random metadata objects with mixed keys, nested.
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const KEYS = ['0', '1', '2', '9', '10', '100', 'a', 'b', 'A', 'Z', 'é', 'ä', '日', '-1', '1.5', 'x y'];
  const value = (depth: number): unknown => {
    const k = rnd(depth > 2 ? 3 : 5);
    if (k === 0) return `v${rnd(100)}`;
    if (k === 1) return rnd(1000) - 500;
    if (k === 2) return rnd(2) === 0;
    if (k === 3) return Array.from({ length: rnd(3) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = rnd(6); i > 0; i--) o[KEYS[rnd(KEYS.length)]!] = value(depth + 1);
    return o;
  };
  for (let i = 0; i < 300; i++) {
    events.push({ action: `a.${i}`, actor: { id: `u${i}` }, outcome: 'success', metadata: value(0) });
  }
  for (const [i, event] of events.entries()) {
    const receivedAt = formatTimestamp(1_800_000_000_000 + i);
    const r = buildRecord({
      log: 'acme',
      index: i,
      id: `e-${i}`,
      receivedAt,
      prev: ZERO_HASH,
      event: event as unknown as AuditEvent,
    });
    const entry = { index: i, leafHash: r.leafHash, record: r.text, id: `e-${i}`, receivedAt };
    assert.deepEqual(
      derivedRecordFields('acme', { ...entry, derived: eventFields(event) }),
      extractRecordFields('acme', i, r.text),
      `event ${i}: ${JSON.stringify(event)}`,
    );
  }
});

test('derivedRecordFields: the record must be the entry it is given as, else index.invalid_entry', () => {
  const receivedAt = formatTimestamp(1_800_000_000_000);
  const event = { action: 'a', actor: { id: 'u' } };
  const prev = new Uint8Array(32).fill(1);
  const r = buildRecord({ log: 'acme', index: 7, id: 'e-7', receivedAt, prev, event: event as AuditEvent });
  const entry = { index: 7, leafHash: r.leafHash, record: r.text, id: 'e-7', receivedAt };
  const good = { ...entry, derived: eventFields(event) };
  assert.equal(derivedRecordFields('acme', good)?.keys, 'a75 c61');
  const later = formatTimestamp(1_800_000_000_001);
  for (const [what, log, e] of [
    ['log', 'other', good],
    ['index', 'acme', { ...good, index: 8 }],
    ['id', 'acme', { ...good, id: 'e-8' }],
    ['received_at', 'acme', { ...good, receivedAt: later }],
  ] as const) {
    assert.throws(() => derivedRecordFields(log, e), { code: 'index.invalid_entry' }, what);
  }
  // Without all of derived, id and receivedAt the caller parses the record instead.
  assert.equal(derivedRecordFields('acme', entry), undefined);
  assert.equal(derivedRecordFields('acme', { ...good, id: undefined }), undefined);
});
