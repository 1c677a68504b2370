// The browser twins of src/core/crypto.ts and encoding.ts must be drop-in replacements: the same
// exports, and the same answers on random and hostile inputs (Node's implementations are the
// reference here; RFC 8032 §7.1 TEST 1 and RFC 4648 §10 pin both to the standards).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import * as nodeCrypto from '../core/crypto.js';
import * as nodeEncoding from '../core/encoding.js';
import * as browserCrypto from './crypto.js';
import * as browserEncoding from './encoding.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

test('the browser modules export exactly what the core modules export', () => {
  assert.deepEqual(Object.keys(browserCrypto).sort(), Object.keys(nodeCrypto).sort());
  assert.deepEqual(Object.keys(browserEncoding).sort(), Object.keys(nodeEncoding).sort());
});

test('RFC 8032 §7.1 TEST 1 (empty message) signs and verifies identically', () => {
  const seed = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  const pub = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const sig = hex(
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  );
  for (const c of [nodeCrypto, browserCrypto]) {
    assert.deepEqual(c.ed25519PublicKey(seed), pub);
    assert.deepEqual(c.ed25519Sign(seed, new Uint8Array(0)), sig);
    assert.equal(c.ed25519Verify(pub, new Uint8Array(0), sig), true);
    assert.equal(c.ed25519Verify(pub, Uint8Array.of(0), sig), false);
    assert.equal(c.ed25519Verify(pub.subarray(1), new Uint8Array(0), sig), false);
  }
});

test('SHA-256 and Ed25519 agree with node:crypto on random inputs', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }),
      fc.nat(63),
      (seed, parts, flip) => {
        assert.deepEqual(browserCrypto.sha256(...parts), nodeCrypto.sha256(...parts));
        const msg = Uint8Array.from(Buffer.concat(parts));
        const out = new Uint8Array(40);
        browserCrypto.sha256Into(msg, out, 8);
        assert.deepEqual(out.subarray(8), nodeCrypto.sha256(msg));
        assert.equal(browserCrypto.sha256Hex(msg), nodeCrypto.sha256Hex(msg));
        const pub = browserCrypto.ed25519PublicKey(seed);
        assert.deepEqual(pub, nodeCrypto.ed25519PublicKey(seed));
        const sig = browserCrypto.ed25519Sign(seed, msg);
        assert.deepEqual(sig, nodeCrypto.ed25519Sign(seed, msg));
        const bad = sig.slice();
        bad[flip] = bad[flip]! ^ 1;
        for (const s of [sig, bad]) {
          assert.equal(browserCrypto.ed25519Verify(pub, msg, s), nodeCrypto.ed25519Verify(pub, msg, s));
        }
        assert.equal(browserCrypto.bytesEqual(sig, bad), false);
      },
    ),
    { numRuns: 100 },
  );
  assert.equal(browserCrypto.randomBytesArray(16).length, 16);
});

test('RFC 4648 §10 base64 vectors and strictness match the Node module', () => {
  const table: Array<[string, string]> = [
    ['', ''],
    ['f', 'Zg=='],
    ['fo', 'Zm8='],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg=='],
    ['fooba', 'Zm9vYmE='],
    ['foobar', 'Zm9vYmFy'],
  ];
  for (const [plain, b64] of table) {
    const bytes = new TextEncoder().encode(plain);
    assert.equal(browserEncoding.toBase64(bytes), b64);
    assert.deepEqual(browserEncoding.fromBase64(b64), bytes);
  }
  // Non-canonical padding bits, missing padding, whitespace, URL alphabet: rejected by both.
  for (const bad of ['Zh==', 'Zm9=', 'Zg', 'Zg= =', ' Zg==', 'Zm9v\n', '-_==', 'Z===', '====']) {
    assert.equal(browserEncoding.fromBase64(bad), undefined, bad);
    assert.equal(nodeEncoding.fromBase64(bad), undefined, bad);
  }
  for (const bad of ['0', 'zz', '0x00', 'g0']) {
    assert.equal(browserEncoding.fromHex(bad), undefined, bad);
    assert.equal(nodeEncoding.fromHex(bad), undefined, bad);
  }
});

test('hex and base64 agree with the Node module on random bytes and strings', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.string({ maxLength: 12 }), (bytes, s) => {
      assert.equal(browserEncoding.toHex(bytes), nodeEncoding.toHex(bytes));
      assert.equal(browserEncoding.toBase64(bytes), nodeEncoding.toBase64(bytes));
      assert.deepEqual(browserEncoding.fromHex(nodeEncoding.toHex(bytes)), bytes);
      assert.deepEqual(browserEncoding.fromBase64(nodeEncoding.toBase64(bytes)), bytes);
      assert.deepEqual(browserEncoding.fromBase64(s), nodeEncoding.fromBase64(s));
      assert.deepEqual(browserEncoding.fromHex(s), nodeEncoding.fromHex(s));
      assert.deepEqual(browserEncoding.utf8(s), nodeEncoding.utf8(s));
    }),
    { numRuns: 500 },
  );
});
