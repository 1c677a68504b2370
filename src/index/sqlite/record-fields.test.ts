// What the index derives from a record (DESIGN.md §3 event fields). Expected tokens and texts are
// written by hand; the long-value key uses node:crypto directly, not the code under test.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { compactText, extractRecordFields, keyToken, targetIdsOf } from './record-fields.js';

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
