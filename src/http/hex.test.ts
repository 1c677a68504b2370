import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { hashesToHex, hashesToJsonArray } from './hex.js';

test('hashesToHex: each hash as 64 lowercase hex digits, in order', () => {
  const digests = ['a', 'b', 'c'].map((s) => createHash('sha256').update(s).digest());
  // Mixed kinds: a Buffer, a plain (on-heap) Uint8Array copy, and a view into a larger buffer.
  const big = new Uint8Array(100);
  big.set(digests[2]!, 40);
  const out = hashesToHex([digests[0]!, new Uint8Array(digests[1]!), big.subarray(40, 72)]);
  assert.deepEqual(out, [
    'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb',
    '3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d',
    '2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6',
  ]);
  assert.deepEqual(hashesToHex([]), []);
});

test('hashesToHex: refuses anything but 32-byte hashes', () => {
  assert.throws(() => hashesToHex([new Uint8Array(32), new Uint8Array(31)]), RangeError);
  assert.throws(() => hashesToHex([new Uint8Array(33)]), RangeError);
});

test('hashesToJsonArray: the JSON text of hashesToHex, refusing the same inputs', () => {
  const digests = ['a', 'b', 'c'].map((s) => createHash('sha256').update(s).digest());
  for (const hashes of [[], digests.slice(0, 1), digests]) {
    const text = hashesToJsonArray(hashes);
    assert.equal(text, JSON.stringify(hashesToHex(hashes)));
    assert.deepEqual(
      JSON.parse(text),
      hashes.map((h) => h.toString('hex')),
    );
  }
  assert.throws(() => hashesToJsonArray([new Uint8Array(32), new Uint8Array(31)]), RangeError);
});
