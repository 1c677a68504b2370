import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { hashesToJsonArray } from './hex.js';

// SHA-256 of "a", "b" and "c" (published test values, e.g. any sha256sum).
const HEX = [
  'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb',
  '3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d',
  '2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6',
];

test('hashesToJsonArray: a JSON array of each hash as 64 lowercase hex digits, in order', () => {
  const digests = ['a', 'b', 'c'].map((s) => createHash('sha256').update(s).digest());
  // Mixed kinds: a Buffer, a plain (on-heap) Uint8Array copy, and a view into a larger buffer.
  const big = new Uint8Array(100);
  big.set(digests[2]!, 40);
  const text = hashesToJsonArray([digests[0]!, new Uint8Array(digests[1]!), big.subarray(40, 72)]);
  assert.equal(text, `["${HEX[0]}","${HEX[1]}","${HEX[2]}"]`);
  assert.deepEqual(JSON.parse(text), HEX);
  assert.equal(hashesToJsonArray([digests[1]!]), `["${HEX[1]}"]`);
  assert.equal(hashesToJsonArray([]), '[]');
});

test('hashesToJsonArray: refuses anything but 32-byte hashes', () => {
  assert.throws(() => hashesToJsonArray([new Uint8Array(32), new Uint8Array(31)]), RangeError);
  assert.throws(() => hashesToJsonArray([new Uint8Array(33)]), RangeError);
});
