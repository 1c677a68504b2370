// RFC 8785 (JCS) conformance. Vectors (see test/vectors/jcs/README.md and test/vectors/k8s/README.md):
// - cyberphone/json-canonicalization @19d51d7 testdata/{input,output,outhex}: the RFC authors' cases;
// - es6testfile-first-10000.txt: the first 10,000 lines of cyberphone's ES6 number test file
//   (hex IEEE-754 bits → expected Number.prototype.toString text), incl. RFC 8785 Appendix B;
// - k8s/derived-jcs-hashes.json: JCS lengths and SHA-256 of real Kubernetes audit events, computed
//   with canonicalize@5.1.0 and @sigstore/core 3.2.1.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { readVectorJson, vectorPath } from '../testing/paths.js';
import {
  canonicalize,
  canonicalizeBytes,
  canonicalizeString,
  JCS_MAX_DEPTH,
  JcsError,
  type JcsErrorCode,
} from './jcs.js';

const CYBERPHONE = ['arrays', 'french', 'structures', 'unicode', 'values', 'weird'];

function cyberphone(...parts: string[]): Buffer {
  return readFileSync(vectorPath('jcs', 'cyberphone-testdata', 'testdata', ...parts));
}

test('cyberphone testdata: input → output, byte-exact, and equal to outhex', (t) => {
  for (const name of CYBERPHONE) {
    const input = JSON.parse(cyberphone('input', `${name}.json`).toString('utf8'));
    const expected = cyberphone('output', `${name}.json`);
    const hex = cyberphone('outhex', `${name}.txt`).toString('utf8').trim().split(/\s+/).join('');
    const actual = canonicalizeBytes(input);
    assert.equal(Buffer.from(actual).toString('hex'), expected.toString('hex'), `${name} vs output`);
    assert.equal(Buffer.from(actual).toString('hex'), hex, `${name} vs outhex`);
    assert.equal(canonicalize(input), expected.toString('utf8'), name);
  }
  t.diagnostic(`cyberphone cases: ${CYBERPHONE.length} checked`);
});

function doubleFromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

test('ES6 number serialization: first 10,000 lines of es6testfile', (t) => {
  const lines = readFileSync(vectorPath('jcs', 'es6-numbers', 'es6testfile-first-10000.txt'), 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  assert.equal(lines.length, 10000);
  let mismatches = 0;
  for (const line of lines) {
    const [bits, expected] = line.split(',') as [string, string];
    const actual = canonicalize(doubleFromBits(bits));
    if (actual !== expected) {
      mismatches++;
      assert.equal(actual, expected, `bits ${bits}`);
    }
    // Inside a structure too: numbers are not quoted or padded.
    assert.equal(canonicalize({ n: doubleFromBits(bits) }), `{"n":${expected}}`);
  }
  assert.equal(mismatches, 0);
  t.diagnostic(`es6 numbers: ${lines.length} checked`);
});

test('RFC 8785 Appendix B: NaN and ±Infinity must be errors', () => {
  const rows = ['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000'];
  for (const bits of rows) {
    const value = doubleFromBits(bits);
    assert.ok(!Number.isFinite(value), bits);
    assertJcsError(() => canonicalize(value), 'jcs.non_finite_number', []);
    assertJcsError(() => canonicalize({ a: [1, value] }), 'jcs.non_finite_number', ['a', 1]);
  }
});

interface DerivedHashes {
  events: { source: string; jcsLength: number; jcsSha256: string }[];
}

function loadK8sEvent(source: string): unknown {
  const m = /^(\S+)(?: line (\d+))?(?: items\[(\d+)\])?$/.exec(source);
  assert.ok(m, source);
  const text = readFileSync(vectorPath('k8s', m[1]!), 'utf8');
  let value: unknown = m[2] === undefined ? JSON.parse(text) : JSON.parse(text.split('\n')[Number(m[2])]!);
  if (m[3] !== undefined) value = (value as { items: unknown[] }).items[Number(m[3])];
  return value;
}

test('real Kubernetes audit events match independently computed JCS hashes', (t) => {
  const { events } = readVectorJson<DerivedHashes>('k8s', 'derived-jcs-hashes.json');
  for (const e of events) {
    const bytes = canonicalizeBytes(loadK8sEvent(e.source));
    assert.equal(bytes.length, e.jcsLength, e.source);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), e.jcsSha256, e.source);
  }
  t.diagnostic(`k8s events: ${events.length} checked`);
});

function assertJcsError(
  fn: () => unknown,
  code: JcsErrorCode,
  path?: (string | number)[],
  what?: string,
): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof JcsError, `${what}: ${err}`);
    assert.equal(err.code, code, what);
    if (path !== undefined) assert.deepEqual(err.path, path, what);
    return true;
  });
}

test('lone surrogates are rejected in strings and in keys, wherever they sit', () => {
  for (const s of ['\ud800', '\udfff', 'a\ud83d', '\ude02b', '\ude02\ud83d']) {
    assertJcsError(() => canonicalize(s), 'jcs.lone_surrogate', []);
    assertJcsError(() => canonicalizeString(s), 'jcs.lone_surrogate');
    assertJcsError(() => canonicalize({ x: { y: [0, s] } }), 'jcs.lone_surrogate', ['x', 'y', 1]);
    // A key cannot be cached on failure: the second attempt fails the same way.
    for (let i = 0; i < 2; i++) assertJcsError(() => canonicalize({ [s]: 1 }), 'jcs.lone_surrogate', [s]);
  }
  // A proper pair is fine and is written as raw UTF-8 (RFC 8785 §3.2.2.2).
  assert.deepEqual([...canonicalizeBytes('\ud83d\ude02')], [0x22, 0xf0, 0x9f, 0x98, 0x82, 0x22]);
});

class Point {
  x = 1;
}

test('values outside the JSON data model are unsupported_type, with their path', () => {
  const cases: [string, unknown, (string | number)[]][] = [
    ['undefined', undefined, []],
    ['undefined property', { a: 1, b: undefined }, ['b']],
    ['undefined element', [1, undefined], [1]],
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    ['array hole', [1, , 3], [1]],
    ['bigint', { n: 10n }, ['n']],
    ['function', { f() {} }, ['f']],
    ['symbol', [Symbol('s')], [0]],
    ['Date', { at: new Date(0) }, ['at']],
    ['Map', new Map(), []],
    ['Set', { s: new Set([1]) }, ['s']],
    ['RegExp', /x/, []],
    ['Uint8Array', { b: new Uint8Array(2) }, ['b']],
    ['boxed number', { n: Object(1) }, ['n']],
    ['boxed string', new String('s'), []],
    ['class instance', { p: new Point() }, ['p']],
  ];
  for (const [name, value, path] of cases) {
    assertJcsError(() => canonicalize(value), 'jcs.unsupported_type', path, name);
  }
});

test('plain and null-prototype objects are fine; own "__proto__" keys are ordinary keys', () => {
  const bare = Object.create(null) as { [k: string]: unknown };
  bare.b = 2;
  bare.a = [true, false, null];
  assert.equal(canonicalize(bare), '{"a":[true,false,null],"b":2}');
  assert.equal(canonicalize(JSON.parse('{"z":0,"__proto__":{"x":-0}}')), '{"__proto__":{"x":0},"z":0}');
  // Symbol keys are not JSON and are skipped, as JSON.stringify does.
  assert.equal(canonicalize({ [Symbol('s')]: 1, a: 1 }), '{"a":1}');
});

test('cycles are jcs.cyclic; shared (acyclic) references are fine', () => {
  const o: { [k: string]: unknown } = { a: 1 };
  o.self = o;
  assertJcsError(() => canonicalize(o), 'jcs.cyclic', ['self']);
  const arr: unknown[] = [1];
  arr.push({ back: arr });
  assertJcsError(() => canonicalize(arr), 'jcs.cyclic', [1, 'back']);
  const shared = { k: 'v' };
  assert.equal(canonicalize({ x: shared, y: [shared] }), '{"x":{"k":"v"},"y":[{"k":"v"}]}');
});

function nestArrays(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

test('nesting is limited (default 1000, root container = depth 1)', () => {
  assert.equal(canonicalize(nestArrays(1000)).length, 2001);
  assertJcsError(() => canonicalize(nestArrays(1001)), 'jcs.too_deep');
  assertJcsError(() => canonicalize(nestArrays(100_000)), 'jcs.too_deep');
  assert.equal(canonicalize({ a: { b: 1 } }, 2), '{"a":{"b":1}}');
  assertJcsError(() => canonicalize({ a: { b: [] } }, 2), 'jcs.too_deep', ['a', 'b']);
  assert.equal(canonicalize('scalar', 0), '"scalar"');
  assertJcsError(() => canonicalize([], 0), 'jcs.too_deep', []);
  for (const bad of [-1, 1.5, 1001, Number.NaN]) assert.throws(() => canonicalize(1, bad), RangeError);
});

test('escaping follows RFC 8785 §3.2.2.2 exactly', () => {
  const table: [string, string][] = [
    ['', '""'],
    ['"', '"\\""'],
    ['\\', '"\\\\"'],
    ['/', '"/"'],
    ['\b\t\n\f\r', '"\\b\\t\\n\\f\\r"'],
    ['\u0000\u0001\u000b\u001f', '"\\u0000\\u0001\\u000b\\u001f"'],
    ['\u007f\u0080\u2028\u2029\ufeff', '"\u007f\u0080\u2028\u2029\ufeff"'],
    ['</script>', '"</script>"'],
  ];
  for (const [input, expected] of table) assert.equal(canonicalize(input), expected, JSON.stringify(input));
  assert.equal(canonicalize(-0), '0');
  assert.equal(canonicalize([-0, 1e21, 1e-7, 0.1 + 0.2]), '[0,1e+21,1e-7,0.30000000000000004]');
});

// An independent oracle for the property tests: sort keys with an explicit code-unit comparison.
function codeUnitCompare(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function oracle(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(oracle).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as { [k: string]: unknown };
    const keys = Object.keys(o).sort(codeUnitCompare);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${oracle(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

// Strings of arbitrary UTF-16 code units, lone surrogates included.
const codeUnitString = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
});
const wellFormed = fc.string({ unit: 'binary' });

test('maxLength: a text of exactly that length is built, one longer is jcs.too_large wherever it grows', () => {
  const cases: unknown[] = [
    { a: 'x'.repeat(50), b: [1, 2, 3] },
    [{ k: 1 }, 'long string value', [true, null]],
    'just a string',
    { nested: { deeper: { deepest: ['a', 'bb', 'ccc'] } } },
  ];
  for (const v of cases) {
    const text = oracle(v);
    assert.equal(canonicalize(v, JCS_MAX_DEPTH, text.length), text);
    assertJcsError(() => canonicalize(v, JCS_MAX_DEPTH, text.length - 1), 'jcs.too_large');
  }
  // A container with more members than could fit is refused before its keys are sorted or read.
  const huge: Record<string, unknown> = {};
  for (let i = 0; i < 200_000; i++) huge[`k${i}`] = 0;
  let reads = 0;
  const watched = new Proxy(huge, {
    get(target, key, receiver) {
      reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  assert.throws(
    () => canonicalize(Object.setPrototypeOf({ m: watched }, Object.prototype), JCS_MAX_DEPTH, 65_536),
    (err: unknown) => err instanceof JcsError && err.code === 'jcs.too_large' && err.path.join('.') === 'm',
  );
  assert.equal(reads, 0, 'no member value was read');
  assertJcsError(() => canonicalize(new Array(40_000).fill(0), JCS_MAX_DEPTH, 65_536), 'jcs.too_large');
  // A limit the text fits under changes nothing.
  assert.equal(canonicalize(huge, JCS_MAX_DEPTH, 10_000_000), oracle(huge));
});

test('property: output equals a naive oracle and round-trips through JSON.parse', () => {
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom(null, true, false, 0, -0, 1e21, 5e-324),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      wellFormed,
      fc.array(tie('node'), { maxLength: 5 }),
      fc.dictionary(
        fc.oneof(wellFormed, fc.constantFrom('a', 'b', '10', '9', '\u00e9', '\ud83d\ude02')),
        tie('node'),
        {
          maxKeys: 6,
        },
      ),
    ),
  })).node;
  fc.assert(
    fc.property(value, (v) => {
      const text = canonicalize(v);
      assert.equal(text, oracle(v));
      assert.equal(canonicalize(JSON.parse(text)), text);
    }),
    { numRuns: 2000 },
  );
});

test('property: arbitrary input never yields invalid JSON — it canonicalizes or throws a JcsError', () => {
  const input = fc.oneof(
    fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true }),
    codeUnitString,
  );
  fc.assert(
    fc.property(input, (v) => {
      let text: string;
      try {
        text = canonicalize(v);
      } catch (err) {
        assert.ok(err instanceof JcsError, String(err));
        return;
      }
      assert.equal(canonicalize(JSON.parse(text)), text);
    }),
    { numRuns: 2000 },
  );
});

test('many distinct keys (beyond the key memo) still sort and escape correctly', () => {
  const o: { [k: string]: number } = {};
  for (let i = 0; i < 10_000; i++) o[`k"${i}`] = i;
  assert.equal(canonicalize(o), oracle(o));
});
