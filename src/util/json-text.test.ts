import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { arrayItems, nameSeparators, stringEnd } from './json-text.js';

describe('json-text', () => {
  it('stringEnd finds the closing quote past escaped quotes and escaped backslashes', () => {
    for (const [text, end] of [
      ['"abc"', 4],
      ['"a\\"b"', 5],
      ['"a\\\\"', 4],
      ['"a\\\\\\"b"', 7],
      ['"" ', 1],
    ] as const) {
      assert.equal(stringEnd(text, 0), end, text);
      assert.equal(JSON.parse(text.slice(0, end + 1)), JSON.parse(text.trim()), text);
    }
  });

  it('nameSeparators counts the colons outside strings', () => {
    assert.equal(nameSeparators('{"a":1,"b":{"c":"x:y"},"d" : "\\":"}'), 4);
    assert.equal(nameSeparators('["a:b",":"]'), 0);
    assert.equal(nameSeparators('7'), 0);
  });

  it('arrayItems gives each item as written, whatever its strings hold', () => {
    const items = [
      '{"a":"],[{,"}',
      '{ "b" : [1, 2, {"c": "\\"]"}] }',
      '"x\\\\"',
      '[[], {}]',
      '-1.5e3',
      'null',
      '{"d":"\\u005d"}',
    ];
    const text = `[\n  ${items.join(' ,\n  ')}\n]\n`;
    assert.deepEqual(arrayItems(text), items);
    assert.deepEqual(
      arrayItems(text).map((t) => JSON.parse(t)),
      JSON.parse(text),
    );
    assert.deepEqual(arrayItems('[]'), []);
    assert.deepEqual(arrayItems(' [ ] '), []);
    assert.deepEqual(arrayItems('[{}]'), ['{}']);
  });
});
