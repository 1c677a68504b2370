/**
 * Bad input (DESIGN §5 invariant 5): every malformed, oversized or tricky request gets its
 * documented 4xx problem with a stable code (and the field or line where there is one), the log is
 * unchanged — same durable size, same signed checkpoint — and the server still answers.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type Harness, sampleEvent, startHarness } from './test-harness.js';

interface Case {
  name: string;
  method?: 'GET' | 'POST';
  url?: string;
  /** Raw body (string or bytes); objects are sent as JSON. */
  body?: string | Buffer | object;
  type?: string | null;
  headers?: Record<string, string>;
  status: number;
  code: string | RegExp;
  field?: string;
  /** Every field named (unknown or conflicting fields). */
  fields?: string[];
  line?: number;
}

const ev = (extra: Record<string, unknown> = {}) => ({ action: 'doc.read', actor: { id: 'u1' }, ...extra });
const nested = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

const BODY_LIMIT = 256 * 1024;
const MAX_BATCH = 50;

const cases: Case[] = [
  // Syntax and encoding
  { name: 'truncated JSON', body: '{"action":"x",', status: 400, code: 'request.malformed_json' },
  { name: 'empty JSON body', body: '', status: 400, code: 'request.malformed_json' },
  {
    name: 'malformed NDJSON line 3',
    body: `${JSON.stringify(ev())}\n${JSON.stringify(ev())}\n{"action":\n`,
    type: 'application/x-ndjson',
    status: 400,
    code: 'request.malformed_ndjson',
    line: 3,
  },
  {
    name: 'invalid event on NDJSON line 2',
    body: `${JSON.stringify(ev())}\n\n${JSON.stringify(ev({ action: 5 }))}\n`,
    type: 'application/x-ndjson',
    status: 400,
    code: 'event.invalid_type',
    field: 'events[1].action',
    line: 3,
  },
  {
    name: 'empty NDJSON body',
    body: '\n',
    type: 'application/x-ndjson',
    status: 400,
    code: 'request.invalid',
    field: 'events',
  },
  {
    name: 'invalid UTF-8',
    body: Buffer.concat([
      Buffer.from('{"action":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('","actor":{"id":"u"}}'),
    ]),
    status: 400,
    code: 'request.invalid_utf8',
  },
  {
    name: '__proto__ key',
    body: '{"action":"x","actor":{"id":"u"},"metadata":{"__proto__":{"polluted":true}}}',
    status: 400,
    code: 'request.invalid',
    field: 'metadata.__proto__',
  },
  // Shape of events
  { name: 'wrong type', body: ev({ action: 5 }), status: 400, code: 'event.invalid_type', field: 'action' },
  {
    name: 'missing actor.id',
    body: { action: 'x', actor: {} },
    status: 400,
    code: 'event.missing_field',
    field: 'actor.id',
  },
  {
    name: 'unknown top-level field',
    body: ev({ colour: 'red' }),
    status: 400,
    code: 'event.unknown_field',
    field: 'colour',
  },
  { name: 'an array instead of an event', body: [ev()], status: 400, code: 'event.not_object' },
  { name: 'a JSON string', body: '"hello"', status: 400, code: 'event.not_object' },
  {
    name: 'batch with an unknown field',
    body: { events: [ev()], extra: 1 },
    status: 400,
    code: 'request.invalid',
    field: 'extra',
  },
  {
    name: 'events not an array',
    body: { events: ev() },
    status: 400,
    code: 'request.invalid',
    field: 'events',
  },
  { name: 'empty batch', body: { events: [] }, status: 400, code: 'request.invalid', field: 'events' },
  {
    name: 'one bad event in a batch (nothing of the batch is appended)',
    body: { events: [ev(), ev(), ev({ outcome: 'maybe' })] },
    status: 400,
    code: 'event.invalid_value',
    field: 'events[2].outcome',
  },
  {
    name: 'unknown fields of an event in a batch are all named by its place',
    body: { events: [ev(), ev({ colour: 'red', actor: { id: 'u1' }, size: 3 })] },
    status: 400,
    code: 'event.unknown_field',
    field: 'events[1].colour',
    fields: ['events[1].colour', 'events[1].size'],
  },
  {
    name: 'conflicting fields of the event of a one-event NDJSON body are named by its place',
    body: `${JSON.stringify(ev({ target: { id: 't' }, targets: [] }))}\n`,
    type: 'application/x-ndjson',
    status: 400,
    code: 'event.conflicting_fields',
    field: 'events[0].targets',
    fields: ['events[0].target', 'events[0].targets'],
    line: 1,
  },
  {
    name: 'bad event in a one-event batch is named by its place',
    body: { events: [ev({ actor: { id: 7 } })] },
    status: 400,
    code: 'event.invalid_type',
    field: 'events[0].actor.id',
  },
  {
    name: 'number JCS cannot encode (1e400 parses as Infinity)',
    body: '{"action":"x","actor":{"id":"u"},"metadata":{"big":1e400}}',
    status: 400,
    code: /^(event\.not_canonicalizable|event\.invalid_value|jcs\.non_finite_number)$/,
    field: 'metadata.big',
  },
  {
    name: 'metadata nested too deeply',
    body: ev({ metadata: nested(40) as object }),
    status: 400,
    code: 'event.too_deep',
  },
  {
    name: 'absurdly deep nesting',
    body: `{"action":"x","actor":{"id":"u"},"metadata":${'{"a":'.repeat(40_000)}1${'}'.repeat(40_000)}}`,
    status: 400,
    code: 'event.too_deep',
  },
  // Limits
  {
    name: 'oversize body',
    body: `{"action":"x","actor":{"id":"${'u'.repeat(BODY_LIMIT)}"}}`,
    status: 413,
    code: 'request.body_too_large',
  },
  {
    name: 'too many events in one request',
    body: { events: Array.from({ length: MAX_BATCH + 1 }, () => ev()) },
    status: 413,
    code: 'request.batch_too_large',
    field: 'events',
  },
  {
    name: 'JSON declared in another charset',
    body: ev(),
    type: 'application/json; charset=iso-8859-1',
    status: 415,
    code: 'request.unsupported_media_type',
  },
  {
    name: 'NDJSON declared in another charset',
    body: `${JSON.stringify(ev())}\n`,
    type: 'application/x-ndjson; charset="utf-16"',
    status: 415,
    code: 'request.unsupported_media_type',
  },
  {
    name: 'a malformed body sent where no route is: 404, the body never parsed',
    url: '/v1/nope',
    body: `{"a":1${'0'.repeat(1000)}`,
    status: 404,
    code: 'request.not_found',
  },
  {
    name: 'JSON declaring two charsets (the first would win silently)',
    body: ev(),
    type: 'application/json; charset=utf-8; charset=iso-8859-1',
    status: 415,
    code: 'request.unsupported_media_type',
  },
  {
    name: 'a compressed body (Content-Encoding gzip), which is not read as plain JSON',
    body: ev(),
    headers: { 'content-encoding': 'gzip' },
    status: 415,
    code: 'request.unsupported_media_type',
  },
  {
    name: 'an integer beyond 2^53 written with a fraction, stored rounded otherwise',
    body: '{"action":"x","actor":{"id":"u"},"metadata":{"n":9007199254740993.0}}',
    status: 400,
    code: 'request.imprecise_number',
    field: 'metadata.n',
  },
  {
    name: 'an integer beyond 2^53 that would be stored rounded',
    body: '{"action":"x","actor":{"id":"u"},"metadata":{"n":9007199254740993}}',
    status: 400,
    code: 'request.imprecise_number',
    field: 'metadata.n',
  },
  {
    name: 'a member name twice in one object (JSON.parse would keep the last silently)',
    body: '{"action":"x","actor":{"id":"alice","id":"mallory"}}',
    status: 400,
    code: 'request.duplicate_name',
    field: 'actor.id',
  },
  {
    name: 'too many events in one NDJSON request',
    body: `${JSON.stringify(ev())}\n`.repeat(MAX_BATCH + 2),
    type: 'application/x-ndjson',
    status: 413,
    code: 'request.batch_too_large',
    field: 'events',
  },
  {
    name: 'oversize record',
    body: ev({ metadata: { blob: 'x'.repeat(70_000) } }),
    status: 413,
    code: 'event.too_large',
  },
  // Content types
  {
    name: 'text/plain body',
    body: JSON.stringify(ev()),
    type: 'text/plain',
    status: 415,
    code: 'request.unsupported_media_type',
  },
  {
    name: 'XML body',
    body: '<event/>',
    type: 'application/xml',
    status: 415,
    code: 'request.unsupported_media_type',
  },
  {
    name: 'form body',
    body: 'a=1',
    type: 'application/x-www-form-urlencoded',
    status: 415,
    code: 'request.unsupported_media_type',
  },
  {
    name: 'no body at all',
    body: undefined,
    type: null,
    status: 400,
    code: 'request.invalid',
    field: 'body',
  },
  // Query and headers of ingest
  {
    name: 'unknown wait value',
    url: '/v1/logs/acme/events?wait=forever',
    body: ev(),
    status: 400,
    code: 'request.invalid',
    field: 'wait',
  },
  {
    name: 'unknown ingest query parameter',
    url: '/v1/logs/acme/events?fast=1',
    body: ev(),
    status: 400,
    code: 'request.invalid',
    field: 'fast',
  },
  {
    name: 'Idempotency-Key too long',
    body: ev(),
    headers: { 'idempotency-key': 'k'.repeat(300) },
    status: 400,
    code: 'request.invalid',
    field: 'Idempotency-Key',
  },
  { name: 'unknown log', url: '/v1/logs/nope/events', body: ev(), status: 404, code: 'log.not_found' },
  // Conflicts
  {
    name: 'event id reused with other content',
    body: ev({ id: 'fixed-1', action: 'other' }),
    status: 409,
    code: 'log.id_conflict',
    field: 'id',
  },
  {
    name: 'event id reused with other content, in a batch: the event is named',
    body: { events: [ev(), ev({ id: 'fixed-1', action: 'other' })] },
    status: 409,
    code: 'log.id_conflict',
    field: 'events[1].id',
  },
  {
    name: 'event id reused with other content, on NDJSON line 2 of a one-event body',
    body: `\n${JSON.stringify(ev({ id: 'fixed-1', action: 'other' }))}\n`,
    type: 'application/x-ndjson',
    status: 409,
    code: 'log.id_conflict',
    field: 'events[0].id',
    line: 2,
  },
  {
    name: 'one event id twice in a batch with other content',
    body: { events: [ev({ id: 'twice' }), ev(), ev({ id: 'twice', action: 'other' })] },
    status: 409,
    code: 'log.id_conflict',
    field: 'events[2].id',
  },
  // Tile path tricks
  ...[
    'tile/0/000/extra',
    'tile/0/0001',
    'tile/00/000',
    'tile/0/01',
    'tile/0/x000/001',
    'tile/0/000.p/0',
    'tile/0/000.p/256',
    'tile/0/000.p/007',
    'tile/64/000',
    'tile/entries/000.p/0',
    'tile/0/000.p/',
    'tile/0/-01',
    'tile/0/000%00',
  ].map(
    (p): Case => ({
      name: `tile path ${p}`,
      method: 'GET',
      url: `/v1/logs/acme/${p}`,
      status: 400,
      code: 'tile.invalid_path',
    }),
  ),
  {
    name: 'well-formed tile beyond the tree',
    method: 'GET',
    url: '/v1/logs/acme/tile/0/001',
    status: 404,
    code: 'tile.not_found',
  },
  {
    name: 'partial tile wider than the tree',
    method: 'GET',
    url: '/v1/logs/acme/tile/0/000.p/200',
    status: 404,
    code: 'tile.not_found',
  },
  // Bad indices
  ...['-1', '1.5', 'abc', '01', '1e3', '0x10', '99999999999999999999', '9007199254740992', '%20%201'].map(
    (i): Case => ({
      name: `entry index ${i}`,
      method: 'GET',
      url: `/v1/logs/acme/entries/${i}`,
      status: 400,
      code: 'request.invalid',
      field: 'index',
    }),
  ),
  {
    name: 'entry index beyond the log',
    method: 'GET',
    url: '/v1/logs/acme/entries/5000',
    status: 404,
    code: 'log.out_of_range',
  },
  {
    name: 'inclusion: negative index',
    method: 'GET',
    url: '/v1/logs/acme/proofs/inclusion?index=-1&tree_size=1',
    status: 400,
    code: 'request.invalid',
    field: 'index',
  },
  {
    name: 'inclusion: float tree size',
    method: 'GET',
    url: '/v1/logs/acme/proofs/inclusion?index=0&tree_size=1.0',
    status: 400,
    code: 'request.invalid',
    field: 'tree_size',
  },
  {
    name: 'inclusion: huge tree size',
    method: 'GET',
    url: '/v1/logs/acme/proofs/inclusion?index=0&tree_size=9007199254740993',
    status: 400,
    code: 'request.invalid',
    field: 'tree_size',
  },
  {
    name: 'inclusion: missing tree size',
    method: 'GET',
    url: '/v1/logs/acme/proofs/inclusion?index=0',
    status: 400,
    code: 'request.invalid',
    field: 'tree_size',
  },
  {
    name: 'inclusion: repeated parameter',
    method: 'GET',
    url: '/v1/logs/acme/proofs/inclusion?index=0&index=1&tree_size=2',
    status: 400,
    code: 'request.invalid',
    field: 'index',
  },
  {
    name: 'inclusion: index not below tree size',
    method: 'GET',
    url: '/v1/logs/acme/proofs/inclusion?index=2&tree_size=2',
    status: 422,
    code: 'request.unprocessable',
    field: 'index',
  },
  {
    name: 'inclusion: tree size 0',
    method: 'GET',
    url: '/v1/logs/acme/proofs/inclusion?index=0&tree_size=0',
    status: 422,
    code: 'request.unprocessable',
    field: 'tree_size',
  },
  {
    name: 'inclusion: tree size beyond the checkpoint',
    method: 'GET',
    url: '/v1/logs/acme/proofs/inclusion?index=0&tree_size=5000',
    status: 404,
    code: 'log.out_of_range',
    field: 'tree_size',
  },
  {
    name: 'consistency: from 0',
    method: 'GET',
    url: '/v1/logs/acme/proofs/consistency?from=0&to=2',
    status: 422,
    code: 'request.unprocessable',
    field: 'from',
  },
  {
    name: 'consistency: from > to',
    method: 'GET',
    url: '/v1/logs/acme/proofs/consistency?from=3&to=2',
    status: 422,
    code: 'request.unprocessable',
    field: 'from',
  },
  {
    name: 'consistency: to beyond the checkpoint',
    method: 'GET',
    url: '/v1/logs/acme/proofs/consistency?from=1&to=5000',
    status: 404,
    code: 'log.out_of_range',
    field: 'to',
  },
  {
    name: 'receipt: index beyond the log',
    method: 'GET',
    url: '/v1/logs/acme/receipts/5000',
    status: 404,
    code: 'log.out_of_range',
  },
  {
    name: 'receipt: bad index',
    method: 'GET',
    url: '/v1/logs/acme/receipts/-5',
    status: 400,
    code: 'request.invalid',
    field: 'index',
  },
  // Search and export
  {
    name: 'search: unknown parameter',
    method: 'GET',
    url: '/v1/logs/acme/events?actr=u1',
    status: 400,
    code: 'request.invalid',
    field: 'actr',
  },
  {
    name: 'search: limit 0',
    method: 'GET',
    url: '/v1/logs/acme/events?limit=0',
    status: 400,
    code: 'index.invalid_query',
    field: 'limit',
  },
  {
    name: 'search: limit too big',
    method: 'GET',
    url: '/v1/logs/acme/events?limit=100000',
    status: 400,
    code: 'index.invalid_query',
    field: 'limit',
  },
  {
    name: 'search: tampered cursor',
    method: 'GET',
    url: '/v1/logs/acme/events?cursor=AAAA',
    status: 400,
    code: 'index.invalid_cursor',
  },
  {
    name: 'search: bad since',
    method: 'GET',
    url: '/v1/logs/acme/events?since=yesterday',
    status: 400,
    code: 'index.invalid_query',
    field: 'since',
  },
  {
    name: 'search: bad order',
    method: 'GET',
    url: '/v1/logs/acme/events?order=up',
    status: 400,
    code: 'request.invalid',
    field: 'order',
  },
  {
    name: 'export: from > to',
    method: 'GET',
    url: '/v1/logs/acme/export?from=5&to=2',
    status: 422,
    code: 'request.unprocessable',
    field: 'from',
  },
  {
    name: 'export: bad filter',
    method: 'GET',
    url: '/v1/logs/acme/export?since=never',
    status: 400,
    code: 'index.invalid_query',
    field: 'since',
  },
];

describe('bad input changes nothing', () => {
  let h: Harness;
  let state: { size: number; checkpoint: string };
  before(async () => {
    h = await startHarness({ config: { bodyLimit: BODY_LIMIT, maxBatchEvents: MAX_BATCH } });
    await h.createLog('acme');
    const res = await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events?wait=checkpoint',
      key: h.admin,
      payload: { events: [sampleEvent(1), sampleEvent(2), ev({ id: 'fixed-1' })] },
    });
    assert.equal(res.statusCode, 201);
    state = await snapshot();
  });
  after(() => h.close());

  /** The harness's server on a real socket (raw requests that inject would normalize), once. */
  let address: Promise<string> | undefined;
  async function listeningPort(): Promise<string> {
    address ??= h.app.listen({ host: '127.0.0.1', port: 0 });
    return new URL(await address).port;
  }

  async function snapshot() {
    const cp = await h.req({ method: 'GET', url: '/v1/logs/acme/checkpoint' });
    return { size: h.engine.log('acme').size, checkpoint: cp.body };
  }

  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const method = c.method ?? 'POST';
      const headers: Record<string, string> = { ...c.headers };
      let payload: string | Buffer | undefined;
      if (c.body !== undefined) {
        payload = typeof c.body === 'string' || Buffer.isBuffer(c.body) ? c.body : JSON.stringify(c.body);
      }
      if (c.type !== null && method === 'POST') headers['content-type'] = c.type ?? 'application/json';
      const res = await h.req({
        method,
        url: c.url ?? '/v1/logs/acme/events',
        key: h.admin,
        headers,
        ...(payload === undefined ? {} : { payload }),
      });
      assert.equal(res.statusCode, c.status, res.body);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      const p = res.json();
      if (typeof c.code === 'string') assert.equal(p.code, c.code);
      else assert.match(p.code, c.code);
      assert.equal(p.status, c.status);
      assert.equal(p.type, `urn:indelible:problem:${p.code}`);
      assert.equal(typeof p.title, 'string');
      assert.equal(typeof p.detail, 'string');
      if (c.field !== undefined) assert.equal(p.field, c.field);
      if (c.fields !== undefined) assert.deepEqual(p.fields, c.fields);
      if (c.line !== undefined) assert.equal(p.line, c.line);
      assert.doesNotMatch(res.body, /\bat .*\.(ts|js):\d+/, 'no stack traces');
      assert.deepEqual(await snapshot(), state, 'the log is unchanged');
    });
  }

  // HTTP clients (and app.inject) normalize dot segments; a raw request line does not.
  it('refuses dot segments in a raw request line, encoded or not', async () => {
    const port = await listeningPort();
    for (const path of [
      'tile/../checkpoint',
      'tile/%2e%2e/checkpoint',
      'tile/0/%2E%2E/%2e%2e/x',
      'tile/..%2f..%2fkey',
    ]) {
      const res = await rawGet(port, `/v1/logs/acme/${path}`);
      assert.equal(res.status, 400, `${path}: ${res.body}`);
      assert.equal(JSON.parse(res.body).code, 'tile.invalid_path');
    }
    assert.deepEqual(await snapshot(), state);
  });

  it('refuses two Content-Type headers in either order (which one is meant is ambiguous)', async () => {
    const port = Number(await listeningPort());
    const body = JSON.stringify(ev());
    for (const [first, second] of [
      ['application/json', 'text/plain'],
      ['text/plain', 'application/json'],
    ]) {
      const out = await rawPost(port, body, [
        `Authorization: Bearer ${h.admin}`,
        `Content-Type: ${first}`,
        `Content-Type: ${second}`,
      ]);
      assert.match(out, /^HTTP\/1\.1 415 /);
      assert.match(out, /"code":"request\.unsupported_media_type"/);
    }
    assert.deepEqual(await snapshot(), state);
  });

  it('refuses two Authorization headers in either order (which key is meant is ambiguous)', async () => {
    const port = Number(await listeningPort());
    const reader = h.key('reader', ['acme']);
    const body = JSON.stringify(ev());
    for (const [first, second] of [
      [h.admin, reader],
      [reader, h.admin],
    ]) {
      const out = await rawPost(port, body, [
        `Authorization: Bearer ${first}`,
        `Authorization: Bearer ${second}`,
        'Content-Type: application/json',
      ]);
      assert.match(out, /^HTTP\/1\.1 401 /);
      assert.match(out, /"code":"auth\.unauthenticated"/);
    }
    assert.deepEqual(await snapshot(), state);
  });

  it('takes NDJSON only where events are appended: elsewhere 415, naming the route', async () => {
    const res = await h.req({
      method: 'POST',
      url: '/v1/logs',
      key: h.admin,
      headers: { 'content-type': 'application/x-ndjson' },
      payload: '{"name":"from-ndjson"}\n',
    });
    assert.equal(res.statusCode, 415, res.body);
    assert.equal(res.json().code, 'request.unsupported_media_type');
    assert.match(res.json().detail, /POST \/v1\/logs takes application\/json/);
    assert.equal((await h.req({ method: 'GET', url: '/v1/logs/from-ndjson', key: h.admin })).statusCode, 404);
  });

  it('refuses a transfer coding other than chunked (Node decodes only that framing)', async () => {
    const port = Number(await listeningPort());
    const body = JSON.stringify(ev());
    const chunked = `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const send = (coding: string) =>
      rawExchange(
        port,
        `POST /v1/logs/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.admin}\r\n` +
          `Content-Type: application/json\r\nTransfer-Encoding: ${coding}\r\nConnection: close\r\n\r\n${chunked}`,
      );
    for (const coding of ['gzip, chunked', 'deflate, chunked']) {
      const out = await send(coding);
      assert.match(out, /^HTTP\/1\.1 415 /, coding);
      assert.match(out, /"code":"request\.unsupported_media_type"/);
      assert.match(out, /Transfer-Encoding/);
    }
    assert.deepEqual(await snapshot(), state);
    // Plain chunked is fine; the snapshot moves on to include that append.
    const ok = await send('chunked');
    assert.match(ok, /^HTTP\/1\.1 201 /, ok);
    state = await snapshot();
  });

  it('refuses two Idempotency-Key headers, same or different (Node would join them into a third key)', async () => {
    const port = Number(await listeningPort());
    const body = JSON.stringify(ev());
    for (const [first, second] of [
      ['k-twice', 'k-twice'],
      ['k-a', 'k-b'],
    ]) {
      const out = await rawPost(port, body, [
        `Authorization: Bearer ${h.admin}`,
        'Content-Type: application/json',
        `Idempotency-Key: ${first}`,
        `Idempotency-Key: ${second}`,
      ]);
      assert.match(out, /^HTTP\/1\.1 400 /);
      assert.match(out, /"code":"request\.invalid"/);
      assert.match(out, /"field":"Idempotency-Key"/);
    }
    assert.deepEqual(await snapshot(), state);
  });

  // Refused before any route runs: by Fastify's URL decoding and parameter limit, and by Node's HTTP
  // parser. Each is still problem+json with a stable code, and changes nothing.
  it('requests refused before routing are problem+json too', async () => {
    const port = Number(await listeningPort());
    const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
    const cases: Array<[string, string, number, RegExp]> = [
      ['a path that does not decode', get('/v1/logs/%zz/checkpoint'), 400, /not a valid url/],
      ['a path parameter over 100 characters', get(`/v1/logs/${'a'.repeat(101)}/checkpoint`), 414, /param/],
      [
        'a negative Content-Length',
        'POST /v1/logs/acme/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
        400,
        /not valid HTTP\/1\.1 \(HPE_/,
      ],
      [
        'Content-Length with Transfer-Encoding',
        'POST /v1/logs/acme/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}',
        400,
        /not valid HTTP\/1\.1/,
      ],
      [
        'a control character in a header',
        'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n',
        400,
        /HPE_/,
      ],
      [
        'an Expect other than 100-continue',
        'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n',
        417,
        /Expect "foo" is not supported; only 100-continue is/,
      ],
      [
        'headers over the limit',
        `GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
        /too large/,
      ],
    ];
    for (const [name, raw, status, detail] of cases) {
      const res = await rawExchange(port, raw);
      const head = res.slice(0, res.indexOf('\r\n\r\n'));
      const body = res.slice(res.indexOf('\r\n\r\n') + 4);
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), `${name}: ${res}`);
      assert.match(head, /\r\ncontent-type: application\/problem\+json/i, name);
      const p = JSON.parse(body);
      assert.equal(p.code, 'request.rejected', name);
      assert.equal(p.status, status, name);
      assert.equal(p.type, 'urn:indelible:problem:request.rejected', name);
      assert.match(p.detail, detail, name);
    }
    assert.deepEqual(await snapshot(), state);
  });

  it('still answers and appends after all of that', async () => {
    assert.equal((await h.req({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const res = await h.req({ method: 'POST', url: '/v1/logs/acme/events', key: h.admin, payload: ev() });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().entries[0].index, state.size);
    // UTF-8 named explicitly, in any case, is what JSON is anyway.
    const utf8 = await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events',
      key: h.admin,
      headers: { 'content-type': 'application/json; Charset="UTF-8"' },
      payload: JSON.stringify(ev()),
    });
    assert.equal(utf8.statusCode, 201, utf8.body);
  });
});

function rawGet(port: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(port), path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw `POST /v1/logs/acme/events` with exactly these header lines (repeats included) and `body`. */
function rawPost(port: number, body: string, headers: readonly string[]): Promise<string> {
  return rawExchange(
    port,
    `POST /v1/logs/acme/events HTTP/1.1\r\nHost: x\r\n${headers.map((h) => `${h}\r\n`).join('')}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Writes `raw` to a new connection and returns everything the server sends until it closes. */
function rawExchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(raw));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      out += c;
      // A keep-alive answer (Fastify's own errors) does not close: stop once the body is complete.
      const end = out.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(out.slice(0, end));
      if (end >= 0 && length && Buffer.byteLength(out.slice(end + 4)) >= Number(length[1])) socket.end();
    });
    // The server closes at once after a parser error; a reset may then end a complete answer.
    socket.on('error', (err) => (out === '' ? reject(err) : resolve(out)));
    socket.on('close', () => resolve(out));
  });
}

describe('a request whose body stalls', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ config: { requestTimeoutMs: 400 } });
    await h.createLog('acme');
  });
  after(() => h.close());

  it('gets 408 and its connection closed once requestTimeoutMs has passed; nothing is appended', async () => {
    const port = new URL(await h.app.listen({ host: '127.0.0.1', port: 0 })).port;
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        // Headers, then the start of a chunked body, then nothing more (a slow-body client).
        socket.write(
          `POST /v1/logs/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.admin}\r\n` +
            'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"act\r\n',
        );
      });
      let out = '';
      socket.setEncoding('utf8').on('data', (d: string) => (out += d));
      socket.on('error', (err) => (out === '' ? reject(err) : resolve(out)));
      socket.on('close', () => resolve(out));
      // Without a limit the socket would stay open: fail rather than hang.
      setTimeout(() => socket.destroy(new Error('still open after 10 s')), 10_000).unref();
    });
    const elapsed = Date.now() - started;
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /application\/problem\+json/);
    assert.match(answer, /"code":"request\.rejected"/);
    assert.ok(elapsed >= 350 && elapsed < 5_000, `closed after ${elapsed} ms`);
    assert.equal(h.engine.log('acme').size, 0);
    assert.equal((await h.req({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });
});

describe('a malformed request pipelined behind a valid append', () => {
  let h: Harness;
  let port: number;
  before(async () => {
    h = await startHarness();
    await h.createLog('acme');
    port = Number(new URL(await h.app.listen({ host: '127.0.0.1', port: 0 })).port);
  });
  after(() => h.close());

  /** Writes `raw` and returns everything the server sends until it closes the connection. */
  const untilClosed = (raw: string) =>
    new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(raw));
      let out = '';
      socket.setEncoding('latin1').on('data', (d: string) => (out += d));
      socket.on('error', () => resolve(out));
      socket.on('close', () => resolve(out));
      setTimeout(() => socket.destroy(), 10_000).unref();
    });
  const append = (body: string) =>
    `POST /v1/logs/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.admin}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  it('answers the append (201) before the 400: an appended event is never answered only by an error', async () => {
    const out = await untilClosed(`${append(JSON.stringify(ev()))}G ET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [201, 400], out);
    assert.match(out, /"code":"request\.rejected"/);
    assert.equal(h.engine.log('acme').size, 1);
  });

  it('answers two pipelined appends before the 400, in order', async () => {
    const out = await untilClosed(
      `${append(JSON.stringify(ev()))}${append(JSON.stringify(ev()))}POST /v1/logs HTTP/1.1\r\nContent-Length: -1\r\n\r\n`,
    );
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [201, 201, 400], out);
    assert.deepEqual(
      [...out.matchAll(/"index":(\d+)/g)].map((m) => Number(m[1])),
      [1, 2],
    );
    assert.equal(h.engine.log('acme').size, 3);
  });

  it('answers requests that were done while queued behind a slower one, all before the 400', async () => {
    // The health checks finish while the append waits for its checkpoint: each is sent in its turn.
    const healthz = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const out = await untilClosed(
      `${append(JSON.stringify(ev())).replace(' /v1/logs/acme/events ', ' /v1/logs/acme/events?wait=checkpoint ')}` +
        `${healthz.repeat(3)}G ET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [201, 200, 200, 200, 400], out);
  });

  it('answers a CONNECT with a 405 problem (Node would cut the connection), after the append before it', async () => {
    const alone = await untilClosed('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.match(alone, /^HTTP\/1\.1 405 /, alone);
    assert.match(alone, /\r\nContent-Type: application\/problem\+json\r\n/);
    assert.match(alone, /"code":"request\.rejected"/);
    const size = h.engine.log('acme').size;
    const out = await untilClosed(
      `${append(JSON.stringify(ev()))}CONNECT /healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.deepEqual(statuses, [201, 405], out);
    assert.equal(h.engine.log('acme').size, size + 1);
  });

  it('streams a large answer to its end before the 405 of a CONNECT or the 400 of a bad request', async () => {
    // The docs bundle (over a megabyte) is streamed: it fills the socket and waits for it to drain.
    const bundle = 'GET /docs/static/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\n\r\n';
    for (const [bad, status] of [
      ['CONNECT x:1 HTTP/1.1\r\n\r\n', 405],
      ['G ET / HTTP/1.1\r\n\r\n', 400],
    ] as const) {
      const out = await untilClosed(bundle + bad);
      const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      assert.deepEqual(statuses.slice(0, 1).concat(statuses.slice(-1)), [200, status], bad);
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(out)?.[1]);
      assert.ok(length > 1_000_000 && Buffer.byteLength(out, 'latin1') > length, bad);
    }
  });

  it('still refuses at once a request whose own chunked body is malformed; nothing is appended', async () => {
    const size = h.engine.log('acme').size;
    const started = Date.now();
    const out = await untilClosed(
      `POST /v1/logs/acme/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.admin}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    );
    assert.match(out, /^HTTP\/1\.1 400 /, out);
    assert.doesNotMatch(out, /HTTP\/1\.1 201 /);
    assert.ok(Date.now() - started < 5_000);
    assert.equal(h.engine.log('acme').size, size);
    assert.equal((await h.req({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });
});
