/**
 * Property-based bad input (DESIGN §5 invariant 5), in-process: random requests to every route —
 * methods, paths with odd segments, repeated and huge query parameters, content types and charsets,
 * content and transfer encodings, Idempotency-Key and Authorization oddities, and bodies from valid
 * events to truncated JSON, NDJSON, random bytes and prototype keys. For each: no 5xx but a 503 with
 * Retry-After; every error is problem+json with a known stable code; a request that is not 2xx
 * changes nothing (durable size, signed checkpoint and policy of every log, keys, idempotency
 * records); nothing is rejected or thrown unhandled; the server still answers. Fixed seed, a few
 * seconds: the longer runs behind it were made by hand.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { readLogPolicy } from '../retention/log-policy.js';
import { PROBLEMS } from './problem.js';
import { type Harness, sampleEvent, startHarness } from './test-harness.js';

const SEED = 20261129;
const RUNS = 400;
const TIME_LIMIT_MS = 8000;

describe('random requests (fast-check, fixed seed)', () => {
  let h: Harness;
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    h = await startHarness({ config: { bodyLimit: 64 * 1024, maxBatchEvents: 20 } });
    await h.createLog('acme');
    await h.createLog('empty');
    const seed = await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events',
      key: h.admin,
      headers: { 'idempotency-key': 'known-key' },
      payload: { events: [sampleEvent(1), { action: 'x', actor: { id: 'u' }, id: 'fixed-1' }] },
    });
    assert.equal(seed.statusCode, 201, seed.body);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    await h.close();
  });

  /** Everything a refused request must leave alone; every log's checkpoint first caught up. */
  async function state(): Promise<string> {
    const logs: unknown[] = [];
    for (const { name } of h.engine.listLogs()) {
      if (name.startsWith('_')) continue;
      const log = h.engine.log(name);
      await log.checkpointCovering(log.size);
      const { policy } = await readLogPolicy(h.engine.stateOf(name));
      logs.push([name, log.size, log.latestCheckpoint().note, policy]);
    }
    const keys = h.meta
      .prepare('SELECT id, role, logs, description, revoked_at FROM api_keys ORDER BY id')
      .all();
    const idempotency = h.meta
      .prepare('SELECT key_id, idem_key, fingerprint, response FROM idempotency_keys ORDER BY 1, 2')
      .all();
    return JSON.stringify({ logs, keys, idempotency });
  }

  it('never answers 5xx, always problem+json with a known code, and a refusal changes nothing', async () => {
    const secrets = {
      admin: h.admin,
      writer: h.key('writer', ['acme']),
      reader: h.key('reader', ['acme']),
      scoped: h.key('admin', ['empty']),
    };
    const readerId = h.keys.list().find((k) => k.role === 'reader')!.id;

    const odd = fc.constantFrom(
      '',
      '..',
      '%2e%2e',
      '%2E.',
      '%00',
      '%ff',
      '%zz',
      'acme%2fx',
      '%C3%A9',
      '%F0%9F%98%80',
      '%ED%A0%80',
      '9'.repeat(30),
      '-1',
      '1e999',
      'a'.repeat(101),
      '__proto__',
      'constructor',
      '_audit',
      'Acme',
      'nope',
    );
    const log = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('acme', 'empty') },
      { weight: 1, arbitrary: odd },
    );
    const num = fc.oneof(
      fc.nat({ max: 5 }).map(String),
      fc.constantFrom(
        '01',
        '-0',
        '+1',
        '1.0',
        '1e3',
        '9007199254740992',
        '9'.repeat(400),
        'NaN',
        '',
        '0x10',
        '%31',
      ),
    );
    const tile = fc.constantFrom(
      '0/000',
      '0/000.p/1',
      'entries/000.p/2',
      'entries/000',
      '0/x001/000',
      '64/000',
      '0/000.p/256',
      '0/%2e%2e/000',
      '0//000',
      '',
      'entries/000.p/3/x',
    );
    const route = fc.oneof(
      log.map((l) => ['POST', `/v1/logs/${l}/events`]),
      log.map((l) => ['POST', `/v1/logs/${l}/events`]),
      log.map((l) => ['GET', `/v1/logs/${l}/events`]),
      log.map((l) => ['GET', `/v1/logs/${l}/export`]),
      fc.tuple(log, num).map(([l, i]) => ['GET', `/v1/logs/${l}/entries/${i}`]),
      fc.tuple(log, num).map(([l, i]) => ['GET', `/v1/logs/${l}/receipts/${i}`]),
      log.map((l) => ['GET', `/v1/logs/${l}/proofs/inclusion`]),
      log.map((l) => ['GET', `/v1/logs/${l}/proofs/consistency`]),
      fc.tuple(log, tile).map(([l, t]) => ['GET', `/v1/logs/${l}/tile/${t}`]),
      log.map((l) => ['PUT', `/v1/logs/${l}/policy`]),
      log.map((l) => ['POST', `/v1/logs/${l}/legal-hold`]),
      log.map((l) => ['DELETE', `/v1/logs/${l}/legal-hold`]),
      log.map((l) => ['GET', `/v1/logs/${l}/pruning`]),
      log.map((l) => ['GET', `/v1/logs/${l}`]),
      fc.constant(['POST', '/v1/logs']),
      fc.constant(['POST', '/v1/keys']),
      fc.constant(['GET', '/v1/keys']),
      fc.oneof(odd, fc.constant(readerId)).map((id) => ['DELETE', `/v1/keys/${id}`]),
      fc.tuple(
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE'),
        fc.constantFrom(
          '/healthz',
          '/readyz',
          '/metrics',
          '/openapi.json',
          '/',
          '//v1/logs',
          '/v1/logs/',
          '/docs',
        ),
      ),
    );
    const query = fc.oneof(
      fc.constant(''),
      fc
        .array(
          fc.tuple(
            fc.constantFrom(
              'wait',
              'index',
              'tree_size',
              'from',
              'to',
              'limit',
              'cursor',
              'order',
              'actor',
              'q',
              'since',
              '__proto__',
              'index[]',
              'a[0]',
              '',
            ),
            fc.oneof(
              num,
              fc.constantFrom(
                'checkpoint',
                'asc',
                'u1',
                'AAAA',
                '"',
                'NEAR(',
                '%zz',
                '%00',
                'x'.repeat(3000),
              ),
            ),
          ),
          { maxLength: 4 },
        )
        .map((ps) => `?${ps.map(([k, v]) => `${k}=${v}`).join('&')}`),
    );
    const event = fc
      .record(
        {
          metadata: fc.jsonValue({ maxDepth: 3 }),
          id: fc.constantFrom('fixed-1', 'id-a', 'id-b'),
          outcome: fc.constantFrom('success', 'maybe'),
          colour: fc.constant('red'),
        },
        { requiredKeys: [] },
      )
      .map((e) => ({ action: 'doc.read', actor: { id: 'u1' }, ...e }));
    const json = fc.oneof(
      event.map((e) => JSON.stringify(e)),
      fc.array(event, { maxLength: 3 }).map((events) => JSON.stringify({ events })),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.constantFrom(
        '{"name":"acme"}',
        '{"name":"_audit"}',
        '{"name":"x","name":"y"}',
        '{"role":"admin","logs":["_audit"]}',
        '{"role":"root"}',
        '{"reason":"r"}',
        '{"retention":{"min":"-1d"}}',
        '\ufeff{"action":"x","actor":{"id":"u"}}',
        '{"action":"\\ud800","actor":{"id":"u"}}',
        '{"action":"x","actor":{"id":"u"},"metadata":{"__proto__":{}}}',
        '{"action":"x","actor":{"id":"u"},"metadata":{"n":1e400}}',
        `{"metadata":${'['.repeat(3000)}`,
      ),
    );
    const body = fc.oneof(
      { weight: 4, arbitrary: json },
      { weight: 2, arbitrary: json.chain((s) => fc.nat({ max: s.length }).map((n) => s.slice(0, n))) },
      { weight: 1, arbitrary: fc.array(json, { maxLength: 3 }).map((ls) => ls.join('\n')) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
    const request = fc.record({
      route,
      query,
      body,
      type: fc.constantFrom(
        'application/json',
        'application/json',
        'application/x-ndjson',
        'application/json; charset=latin1',
        'application/json; charset=utf-8; charset=utf-8',
        'text/plain',
        'application/jsonx',
        '',
        undefined,
      ),
      auth: fc.constantFrom(
        `Bearer ${secrets.admin}`,
        `Bearer ${secrets.admin}`,
        `Bearer ${secrets.writer}`,
        `Bearer ${secrets.reader}`,
        `Bearer ${secrets.scoped}`,
        undefined,
        'Bearer',
        `bearer ${secrets.admin}`,
        `Basic ${secrets.admin}`,
        `Bearer ${'x'.repeat(3000)}`,
      ),
      idem: fc.constantFrom(undefined, undefined, 'known-key', 'k1', 'k2', '', ' k', 'x'.repeat(256), 'é'),
      encoding: fc.constantFrom(undefined, undefined, undefined, 'gzip', 'br', 'identity', 'x'),
    });

    let before = await state();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const [method, path] = r.route as [string, string];
        const headers: Record<string, string> = {};
        if (r.type !== undefined) headers['content-type'] = r.type;
        if (r.auth !== undefined) headers.authorization = r.auth;
        if (r.idem !== undefined) headers['idempotency-key'] = r.idem;
        if (r.encoding !== undefined) headers['content-encoding'] = r.encoding;
        const res = await h.app.inject({
          method: method as 'GET',
          url: path + r.query,
          headers,
          ...(r.body === undefined ? {} : { payload: r.body }),
        });
        const what = `${method} ${path}${r.query.slice(0, 100)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
        assert.ok(res.statusCode < 500 || (res.statusCode === 503 && res.headers['retry-after']), what);
        if (res.statusCode >= 400 && method !== 'HEAD') {
          assert.match(String(res.headers['content-type']), /^application\/problem\+json/, what);
          const p = res.json();
          assert.ok(Object.hasOwn(PROBLEMS, p.code), what);
          assert.equal(p.status, res.statusCode, what);
          assert.equal(p.type, `urn:indelible:problem:${p.code}`, what);
        }
        const now = await state();
        if (res.statusCode < 200 || res.statusCode >= 300) assert.equal(now, before, `changed by ${what}`);
        before = now;
        assert.deepEqual(unhandled, []);
      }),
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false },
    );
    assert.equal((await h.req({ method: 'GET', url: '/healthz' })).statusCode, 200);
    const ok = await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events',
      key: h.admin,
      payload: sampleEvent(9),
    });
    assert.equal(ok.statusCode, 201, ok.body);
  });
});
