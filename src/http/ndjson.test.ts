import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isIndelibleError } from '../core/errors.js';
import { NdjsonBatch, parseJsonBody, parseNdjson } from './ndjson.js';

const buf = (s: string) => Buffer.from(s, 'utf8');

function codeOf(fn: () => unknown): {
  code: string;
  message: string;
  details: Record<string, unknown> | undefined;
} {
  try {
    fn();
  } catch (err) {
    assert.ok(isIndelibleError(err), `expected a coded error, got ${String(err)}`);
    return {
      code: err.code,
      message: err.message,
      details: err.details as Record<string, unknown> | undefined,
    };
  }
  assert.fail('expected an error');
}

describe('parseJsonBody', () => {
  it('parses JSON objects, arrays and scalars', () => {
    assert.deepEqual(parseJsonBody(buf('{"a":[1,2,{"b":null}]}')), { a: [1, 2, { b: null }] });
    assert.equal(parseJsonBody(buf(' 7 ')), 7);
  });

  it('keeps non-ASCII text exactly', () => {
    assert.deepEqual(parseJsonBody(buf('{"name":"Zoë 🦀 日本"}')), { name: 'Zoë 🦀 日本' });
  });

  const malformed: Array<[string, string]> = [
    ['truncated', '{"action":'],
    ['empty', ''],
    ['trailing garbage', '{"a":1} x'],
    ['single quotes', "{'a':1}"],
    ['BOM', '\ufeff{"a":1}'],
  ];
  for (const [name, text] of malformed) {
    it(`rejects ${name} as request.malformed_json`, () => {
      assert.equal(codeOf(() => parseJsonBody(buf(text))).code, 'request.malformed_json');
    });
  }

  it('rejects invalid UTF-8 before decoding (no U+FFFD substitution)', () => {
    const bytes = Buffer.concat([buf('{"action":"'), Buffer.from([0xc3, 0x28]), buf('"}')]);
    assert.equal(codeOf(() => parseJsonBody(bytes)).code, 'request.invalid_utf8');
    // An overlong encoding of "/" and a lone surrogate encoded in UTF-8 (CESU) are invalid too.
    assert.equal(
      codeOf(() => parseJsonBody(Buffer.from([0x22, 0xc0, 0xaf, 0x22]))).code,
      'request.invalid_utf8',
    );
    assert.equal(
      codeOf(() => parseJsonBody(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))).code,
      'request.invalid_utf8',
    );
  });

  it('refuses own __proto__ keys anywhere, naming where', () => {
    const e = codeOf(() => parseJsonBody(buf('{"metadata":{"x":[{"__proto__":{"admin":true}}]}}')));
    assert.equal(e.code, 'request.invalid');
    assert.equal(e.details?.field, 'metadata.x[0].__proto__');
    const dotted = codeOf(() => parseJsonBody(buf('{"metadata":{"a.b":{"__proto__":1}}}')));
    assert.equal(dotted.details?.field, 'metadata["a.b"].__proto__');
  });

  it('refuses own __proto__ keys written with escapes', () => {
    for (const name of ['\\u005f_proto__', '__pr\\u006fto__', '\\u005F\\u005Fproto\\u005F\\u005F']) {
      const body = `{"a":[{"${name}":{"admin":true}}]}`;
      assert.deepEqual(Object.keys((JSON.parse(body) as { a: object[] }).a[0]!), ['__proto__'], body);
      const e = codeOf(() => parseJsonBody(buf(body)));
      assert.equal(e.code, 'request.invalid', body);
      assert.equal(e.details?.field, 'a[0].__proto__');
      assert.equal(codeOf(() => parseNdjson(buf(`{}\n${body}`))).details?.line, 2);
    }
  });

  it('accepts "__proto__" as a string value', () => {
    assert.deepEqual(parseJsonBody(buf('{"a":"__proto__"}')), { a: '__proto__' });
  });

  it('refuses absurd nesting when it must scan, without overflowing the stack', () => {
    const deep = `${'['.repeat(5000)}{"__proto__":1}${']'.repeat(5000)}`;
    assert.equal(codeOf(() => parseJsonBody(buf(deep))).code, 'request.invalid');
  });
});

describe('integers a JSON number cannot hold exactly', () => {
  it('are refused as request.imprecise_number, in JSON and NDJSON (with the line)', () => {
    for (const body of [
      '{"a":9007199254740993}',
      '{"a":[1,-9007199254740993]}',
      '{"a":{"b":123456789012345678901234567890}}',
      '{"a":100000000000000000000001}',
      // The same integers written with a fraction or an exponent are the same integers.
      '{"a":9007199254740993.0}',
      '{"a":9.007199254740993e15}',
      '{"a":-9007199254740993e0}',
      '{"a":90071992547409930e-1}',
      '{"a":12345678901234567890.000}',
    ]) {
      const e = codeOf(() => parseJsonBody(buf(body)));
      assert.equal(e.code, 'request.imprecise_number', body);
      assert.match(e.message, /cannot be stored exactly/);
    }
    // Beyond any finite double (BigInt(Infinity) would throw a RangeError: a 500), however long.
    for (const digits of [400, 4 * 2 ** 20]) {
      assert.equal(
        codeOf(() => parseJsonBody(buf(`{"a":1${'0'.repeat(digits)}}`))).code,
        'request.imprecise_number',
      );
    }
    // A nonzero number below the smallest double would be stored as 0.
    for (const body of ['{"a":1e-400}', '{"a":-2.5E-330}', `{"a":0.${'0'.repeat(400)}1}`]) {
      const u = codeOf(() => parseJsonBody(buf(body)));
      assert.equal(u.code, 'request.imprecise_number', body);
      assert.match(u.message, /too small for a JSON number/);
    }
    const e = codeOf(() => parseNdjson(buf('{"a":1}\n{"n":18446744073709551615}\n')));
    assert.equal(e.code, 'request.imprecise_number');
    assert.equal(e.details?.line, 2);
  });

  it('name the field where the number is, as other errors do (NDJSON: within its line)', () => {
    for (const [body, field] of [
      ['{"a":9007199254740993}', 'a'],
      ['{"a":[1,-9007199254740993]}', 'a[1]'],
      ['{"s":"9007199254740993","a":{"b.c":{"d":123456789012345678901234567890}}}', 'a["b.c"].d'],
      ['{"events":[{"x":1},{"m":{"n":[0,{"k":1e-400}]}}]}', 'events[1].m.n[1].k'],
      ['9007199254740993', ''],
    ] as const) {
      const e = codeOf(() => parseJsonBody(buf(body)));
      assert.equal(e.code, 'request.imprecise_number', body);
      assert.equal(e.details?.field, field, body);
    }
    const e = codeOf(() => parseNdjson(buf('{"a":1}\n{"x":{"n":18446744073709551615}}\n')));
    assert.deepEqual([e.details?.line, e.details?.field], [2, 'x.n']);
  });

  it('are found by a scan linear in the body: long digit runs, huge strings and many escapes', () => {
    // A regex over these ran in quadratic time (a million zeros) or overflowed its stack (a
    // 10-million-character string: a RangeError, i.e. a 500).
    const zeros = '0'.repeat(1_000_000);
    assert.equal(codeOf(() => parseJsonBody(buf(`{"a":1${zeros}1}`))).code, 'request.imprecise_number');
    assert.deepEqual(parseJsonBody(buf(`{"a":1.${zeros}1}`)), { a: 1 });
    assert.equal(codeOf(() => parseJsonBody(buf(`{"a":0.${zeros}1}`))).code, 'request.imprecise_number');
    const long = 'x'.repeat(10_400_000);
    assert.equal((parseJsonBody(buf(`{"a":"${long}","b":1e5}`)) as { b: number }).b, 1e5);
    const escapes = '\\"'.repeat(3_000_000);
    // The number after a string of escaped quotes is still found.
    assert.equal(
      codeOf(() => parseJsonBody(buf(`{"a":"${escapes}","b":9007199254740993}`))).code,
      'request.imprecise_number',
    );
  });

  it('pass when stored as the same number, in strings, or as decimal fractions (approximations anyway)', () => {
    const ok = [
      '{"a":9007199254740992}',
      '{"a":-9007199254740992}',
      '{"a":100000000000000000000}',
      '{"a":"9007199254740993"}',
      '{"a":"x\\"9007199254740993"}',
      '{"a":9007199254740993.5}',
      '{"a":1.0000000000000000001}',
      '{"a":1e30}',
      // Stored as 1e+30 (JCS writes the shortest text that reads back as the same double).
      '{"a":1.0E30}',
      '{"a":123456789012345678901234567890e-10}',
      '{"a":0e-400}',
      '{"a":5e-324}',
      '{"a":9007199254740992.000}',
      // Hex ids and UUIDs with digit-e-digit runs are strings, never numbers.
      '{"a":"4e29-1e5","b":"0x2e10","c":[1e2,2E-3]}',
    ];
    for (const body of ok) assert.deepEqual(parseJsonBody(buf(body)), JSON.parse(body), body);
    assert.equal(parseNdjson(buf('{"a":"12345678901234567890"}\n{"b":9007199254740991}')).events.length, 2);
  });
});

describe('duplicate member names (RFC 8259 §4, I-JSON RFC 7493 §2.3)', () => {
  it('are refused as request.duplicate_name, naming the place, in JSON and NDJSON (with the line)', () => {
    const cases: Array<[string, string, string]> = [
      ['{"a":1,"a":2}', 'a', 'a'],
      ['{"a":1,"b":{"c":1,"d":[{"x":1},{"y":2,"y":3}]}}', 'y', 'b.d[1].y'],
      // The same name written two ways is one name (JSON.parse keeps one member).
      ['{"actor":{"id":"u","\\u0069d":"v"}}', 'id', 'actor.id'],
      // Strings that look like structure, and whitespace around the separators, do not confuse it.
      ['{ "s" : "{\\":[,", "t" :"a:b\\\\", "t": 1 }', 't', 't'],
      ['{"events":[{"action":"x"},{"action":"y","actor":{},"action":"z"}]}', 'action', 'events[1].action'],
      // Colons written as escapes, which the quick colon count cannot see, alone or beside a repeat.
      ['{"x":1,"x":2,"y":"\\u003a"}', 'x', 'x'],
      ['{"a\\u003A":1,"a:":2}', 'a:', '["a:"]'],
      ['{"k\\u003a":"\\u003a\\u003a","k:":{"v":":"}}', 'k:', '["k:"]'],
      // Names that are not identifiers are bracketed, so a path reads one way (as in event errors).
      ['{"metadata":{"a.b":{"c":1,"c":2}}}', 'c', 'metadata["a.b"].c'],
      ['{"metadata":{"a":{"b.c":1,"b.c":2}}}', 'b.c', 'metadata.a["b.c"]'],
      ['{"metadata":{"":{"x":1,"x":2}}}', 'x', 'metadata[""].x'],
    ];
    for (const [body, name, field] of cases) {
      const e = codeOf(() => parseJsonBody(buf(body)));
      assert.equal(e.code, 'request.duplicate_name', body);
      assert.equal(e.details?.field, field, body);
      assert.match(e.message, new RegExp(`"${name}" appears twice`), body);
    }
    const e = codeOf(() => parseNdjson(buf('{"a":1}\n\n{"b":{"c":1,"c":1}}\n')));
    assert.equal(e.code, 'request.duplicate_name');
    assert.equal(e.details?.line, 3);
    assert.equal(e.details?.field, 'b.c');
  });

  it('pass when names repeat only across objects, inside strings, or with different case', () => {
    const ok = [
      '{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}',
      '{"a":"\\"a\\":1,\\"a\\":2","b":"::"}',
      '{"a":1,"A":2}',
      '{"a\\u003a":"\\u003a:","a:b":":\\u003A","c":{"\\u003a":1}}',
      '{"k":[":",{"k":":"}],"x":"\\\\"}',
      '[]',
      '"a:b"',
      '{}',
    ];
    for (const body of ok) assert.deepEqual(parseJsonBody(buf(body)), JSON.parse(body), body);
  });

  it('are told apart exactly in generated objects whose names and strings hold quotes, backslashes and structure', () => {
    // The generator knows whether it repeated a name; the parser must agree on every object.
    let state = 7; // mulberry32: a fixed seed, so a failure repeats
    const rnd = (n: number) => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const chars = ['a', 'b', '"', '\\', ':', ',', '{', '}', '[', ']', ' ', 'é'];
    const word = () => Array.from({ length: rnd(5) }, () => chars[rnd(chars.length)]).join('');
    const object = (depth: number): [string, boolean] => {
      const names: string[] = [];
      const members: string[] = [];
      let repeated = false;
      for (let i = 1 + rnd(4); i > 0; i--) {
        const name = (names.length > 0 && rnd(6) === 0 ? names[rnd(names.length)] : undefined) ?? word();
        repeated ||= names.includes(name);
        names.push(name);
        let value = JSON.stringify(word());
        if (depth < 3 && rnd(3) === 0) {
          const [inner, innerRepeated] = object(depth + 1);
          value = rnd(2) === 0 ? `[1,${inner}]` : inner;
          repeated ||= innerRepeated;
        }
        members.push(`${JSON.stringify(name)}${rnd(4) === 0 ? ' : ' : ':'}${value}`);
      }
      return [`{${members.join(',')}}`, repeated];
    };
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const [text, repeated] = object(0);
      let code: string | undefined;
      try {
        parseJsonBody(buf(text));
      } catch (err) {
        code = codeOf(() => {
          throw err;
        }).code;
      }
      assert.equal(code, repeated ? 'request.duplicate_name' : undefined, text);
      if (repeated) refused++;
    }
    assert.ok(refused > 500 && refused < 2500, `${refused} of 3000 generated with a repeated name`);
  });

  it('bodies nested 1000 deep or more are left to the validation that refuses their nesting, at once', () => {
    const deep = (depth: number, inner: string) => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
    // Not counted or scanned: events refuse such nesting with event.too_deep (bad-input.test.ts).
    assert.equal((parseJsonBody(buf(deep(5000, '{"a":1,"a":2}'))) as unknown[]).length, 1);
    // A million levels (2 MB): neither counted nor scanned (the scan spelled out paths at every level).
    assert.equal((parseJsonBody(buf(deep(1_000_000, '{"a":1,"a":2}'))) as unknown[]).length, 1);
    // A __proto__ member, escaped or not, is still refused first (with the nesting).
    for (const name of ['__proto__', '\\u005f_proto__']) {
      assert.equal(codeOf(() => parseJsonBody(buf(deep(5000, `{"${name}":1}`)))).code, 'request.invalid');
    }
    // Just under the limit, a repeat is found and named.
    const e = codeOf(() => parseJsonBody(buf(deep(998, '{"a":1,"a":2}'))));
    assert.equal(e.code, 'request.duplicate_name');
    assert.equal(e.details?.field, `…${`${'[0]'.repeat(998)}.a`.slice(-199)}`);
  });

  it('name the place by its end and the name by its start when they are long', () => {
    const name = 'n'.repeat(500);
    const e = codeOf(() => parseJsonBody(buf(`{"${name}":{"x":1,"x":2}}`)));
    assert.equal(e.details?.field, `…${name.slice(-197)}.x`);
    const f = codeOf(() => parseJsonBody(buf(`{"${name}":1,"${name}":2}`)));
    assert.match(f.message, new RegExp(`"${'n'.repeat(64)}" appears twice`));
  });
});

describe('parseNdjson', () => {
  it('parses one value per line with line numbers, skipping blank lines, accepting CRLF', () => {
    const b = parseNdjson(buf('{"a":1}\r\n\n  \n{"a":2}\n{"a":3}'));
    assert.ok(b instanceof NdjsonBatch);
    assert.deepEqual(b.events, [{ a: 1 }, { a: 2 }, { a: 3 }]);
    assert.deepEqual(b.lines, [1, 4, 5]);
  });

  it('skips only JSON white space as blank: a line of other Unicode space is malformed, naming it', () => {
    assert.deepEqual(parseNdjson(buf('{"a":1}\n \t\r\n{"a":2}')).events, [{ a: 1 }, { a: 2 }]);
    for (const space of ['\u00a0', '\u2028', '\u3000', '\ufeff']) {
      assert.throws(
        () => parseNdjson(buf(`{"a":1}\n${space}\n{"a":2}`)),
        (err: unknown) => {
          const e = err as { code: string; details: Record<string, unknown> };
          assert.equal(e.code, 'request.malformed_ndjson', JSON.stringify(space));
          assert.equal(e.details.line, 2);
          return true;
        },
      );
    }
  });

  it('treats a final newline as optional', () => {
    assert.deepEqual(parseNdjson(buf('{"a":1}\n')).events, [{ a: 1 }]);
    assert.deepEqual(parseNdjson(buf('{"a":1}')).events, [{ a: 1 }]);
  });

  it('returns no events for an empty body', () => {
    assert.deepEqual(parseNdjson(buf('')).events, []);
    assert.deepEqual(parseNdjson(buf('\n\n')).events, []);
  });

  it('names the 1-based line of a syntax error', () => {
    const e = codeOf(() => parseNdjson(buf('{"a":1}\n{"a":2}\n{"a":\n{"a":4}\n')));
    assert.equal(e.code, 'request.malformed_ndjson');
    assert.equal(e.details?.line, 3);
  });

  it('rejects a value split over two lines (NDJSON is one value per line)', () => {
    const e = codeOf(() => parseNdjson(buf('{"a":\n1}\n')));
    assert.equal(e.code, 'request.malformed_ndjson');
    assert.equal(e.details?.line, 1);
  });

  it('stops at the first line beyond maxEvents and counts the rest without parsing it', () => {
    const line = '{"a":1}';
    // Blank lines are not events: exactly 3 events fit, whatever the white space around them.
    assert.equal(parseNdjson(buf(`${line}\n\n${line}\r\n  \n${line}\n\n`), 3).events.length, 3);
    const e = codeOf(() => parseNdjson(buf(`${line}\n${line}\n\n${line}\n${line}\n \n${line}`), 3));
    assert.equal(e.code, 'request.batch_too_large');
    assert.equal(e.message, 'at most 3 events per request, got 5');
    assert.equal(e.details?.limit, 3);
    // Lines past the limit are never parsed: a syntax error there is not what is reported.
    const late = codeOf(() => parseNdjson(buf(`${line}\n${line}\n{"a":\n{"a":`), 2));
    assert.equal(late.code, 'request.batch_too_large');
    assert.equal(late.message, 'at most 2 events per request, got 4');
    // One within the limit still is.
    assert.equal(
      codeOf(() => parseNdjson(buf(`${line}\n{"a":\n${line}\n${line}`), 2)).code,
      'request.malformed_ndjson',
    );
  });

  it('rejects invalid UTF-8 and __proto__ keys (with the line)', () => {
    assert.equal(codeOf(() => parseNdjson(Buffer.from([0x7b, 0xff, 0x7d]))).code, 'request.invalid_utf8');
    const e = codeOf(() => parseNdjson(buf('{"a":1}\n{"__proto__":{}}\n')));
    assert.equal(e.code, 'request.invalid');
    assert.equal(e.details?.line, 2);
  });
});
