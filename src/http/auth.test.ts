/**
 * The role × route matrix of DESIGN §4 and the HTTP issue: missing or unknown key → 401; known key
 * without the right (role or scope) → 403; checkpoints, hash tiles, proofs and verifier keys public by
 * default. Roles: admin (logs, keys; all within scope), writer (append), reader (query, entries,
 * bundles, receipts, proofs), auditor (reader + export). Expectations are written from that text.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseBearer } from './auth.js';
import { type Harness, sampleEvent, startHarness } from './test-harness.js';

type Need = 'none' | 'public' | 'any-key' | 'in-scope' | 'global-admin' | 'append' | 'read' | 'export';

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** A function so that each call can create what it consumes (a log name, a key to revoke). */
  url: (h: Harness) => string;
  body?: (n: number) => unknown;
  need: Need;
  ok: number;
}

let counter = 0;
const routes: Route[] = [
  {
    method: 'POST',
    url: () => '/v1/logs',
    body: (n) => ({ name: `new-${n}` }),
    need: 'global-admin',
    ok: 201,
  },
  { method: 'GET', url: () => '/v1/logs', need: 'any-key', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme', need: 'in-scope', ok: 200 },
  {
    method: 'POST',
    url: () => '/v1/keys',
    body: () => ({ role: 'reader', logs: ['acme'] }),
    need: 'global-admin',
    ok: 201,
  },
  { method: 'GET', url: () => '/v1/keys', need: 'global-admin', ok: 200 },
  {
    method: 'DELETE',
    url: (h) => `/v1/keys/${h.keys.create({ role: 'reader' }).info.id}`,
    need: 'global-admin',
    ok: 204,
  },
  { method: 'POST', url: () => '/v1/logs/acme/events', body: (n) => sampleEvent(n), need: 'append', ok: 201 },
  { method: 'GET', url: () => '/v1/logs/acme/events', need: 'read', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme/entries/0', need: 'read', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme/tile/entries/000.p/2', need: 'read', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme/receipts/0', need: 'read', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme/export', need: 'export', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme/checkpoint', need: 'public', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme/tile/0/000.p/2', need: 'public', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme/key', need: 'public', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme/proofs/inclusion?index=0&tree_size=2', need: 'public', ok: 200 },
  { method: 'GET', url: () => '/v1/logs/acme/proofs/consistency?from=1&to=2', need: 'public', ok: 200 },
  { method: 'GET', url: () => '/metrics', need: 'global-admin', ok: 200 },
  { method: 'GET', url: () => '/healthz', need: 'none', ok: 200 },
  { method: 'GET', url: () => '/readyz', need: 'none', ok: 200 },
  { method: 'GET', url: () => '/openapi.json', need: 'none', ok: 200 },
];

type Role = 'admin' | 'writer' | 'reader' | 'auditor';
interface Principal {
  name: string;
  /** The Authorization header value, or undefined for none. */
  header: (h: Harness) => string | undefined;
  /** For a valid key: its role and whether its scope covers `acme`. */
  valid?: { role: Role; all: boolean; acme: boolean };
}

const bearer = (k: string) => `Bearer ${k}`;
const principals: Principal[] = [
  { name: 'no key', header: () => undefined },
  { name: 'malformed key', header: () => 'Bearer not-a-key' },
  { name: 'unknown key', header: () => bearer(`ik_${'A'.repeat(43)}`) },
  { name: 'Basic scheme', header: (h) => `Basic ${Buffer.from(`x:${h.admin}`).toString('base64')}` },
  {
    name: 'revoked admin key',
    header: (h) => {
      const { info, secret } = h.keys.create({ role: 'admin' });
      h.keys.revoke(info.id);
      return bearer(secret);
    },
  },
  {
    name: 'admin (all logs)',
    header: (h) => bearer(h.admin),
    valid: { role: 'admin', all: true, acme: true },
  },
  {
    name: 'admin (acme)',
    header: (h) => bearer(h.key('admin', ['acme'])),
    valid: { role: 'admin', all: false, acme: true },
  },
  {
    name: 'writer (acme)',
    header: (h) => bearer(h.key('writer', ['acme'])),
    valid: { role: 'writer', all: false, acme: true },
  },
  {
    name: 'reader (acme)',
    header: (h) => bearer(h.key('reader', ['acme'])),
    valid: { role: 'reader', all: false, acme: true },
  },
  {
    name: 'auditor (acme)',
    header: (h) => bearer(h.key('auditor', ['acme'])),
    valid: { role: 'auditor', all: false, acme: true },
  },
  {
    name: 'writer (all logs)',
    header: (h) => bearer(h.key('writer')),
    valid: { role: 'writer', all: true, acme: true },
  },
  {
    name: 'reader (beta)',
    header: (h) => bearer(h.key('reader', ['beta'])),
    valid: { role: 'reader', all: false, acme: false },
  },
  {
    name: 'auditor (beta)',
    header: (h) => bearer(h.key('auditor', ['beta'])),
    valid: { role: 'auditor', all: false, acme: false },
  },
  {
    name: 'writer (beta)',
    header: (h) => bearer(h.key('writer', ['beta'])),
    valid: { role: 'writer', all: false, acme: false },
  },
];

/** The contract: which principals may do what (DESIGN §4, the HTTP issue). */
function expected(p: Principal, r: Route): number {
  if (r.need === 'none') return r.ok;
  const presented = p.header !== principals[0]!.header;
  if (p.valid === undefined) return r.need === 'public' && !presented ? r.ok : 401;
  const { role, all, acme } = p.valid;
  const allowed: Record<Exclude<Need, 'none'>, boolean> = {
    public: true,
    'any-key': true,
    'in-scope': acme,
    'global-admin': role === 'admin' && all,
    append: acme && (role === 'writer' || role === 'admin'),
    read: acme && (role === 'reader' || role === 'auditor' || role === 'admin'),
    export: acme && (role === 'auditor' || role === 'admin'),
  };
  return allowed[r.need] ? r.ok : 403;
}

describe('role × route matrix (public reads on, the default)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    await h.createLog('acme');
    await h.createLog('beta');
    const res = await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events?wait=checkpoint',
      key: h.admin,
      payload: { events: [sampleEvent(1), sampleEvent(2)] },
    });
    assert.equal(res.statusCode, 201);
  });
  after(() => h.close());

  for (const p of principals) {
    it(`${p.name}`, async () => {
      const failures: string[] = [];
      for (const r of routes) {
        const header = p.header(h);
        const body = r.body?.(counter++);
        const res = await h.app.inject({
          method: r.method,
          url: r.url(h),
          headers: header === undefined ? {} : { authorization: header },
          ...(body === undefined ? {} : { payload: body as object }),
        });
        const want = expected(p, r);
        if (res.statusCode !== want)
          failures.push(`${r.method} ${r.url(h)}: ${res.statusCode}, expected ${want}`);
        if (want === 401) assert.equal(res.json().code, 'auth.unauthenticated');
        if (want === 403) assert.equal(res.json().code, 'auth.forbidden');
      }
      assert.deepEqual(failures, []);
    });
  }

  it('hands 401s and 403s to onAccess as auth failures', async () => {
    const before = h.accesses.filter((a) => a.kind === 'auth_failure').length;
    await h.req({ method: 'GET', url: '/v1/logs/acme/events' });
    const reader = h.key('reader', ['beta']);
    await h.req({ method: 'GET', url: '/v1/logs/acme/events', key: reader });
    const failures = h.accesses.filter((a) => a.kind === 'auth_failure').slice(before);
    assert.equal(failures.length, 2);
    assert.equal(failures[0]!.status, 401);
    assert.equal(failures[0]!.keyId, null);
    assert.equal(failures[1]!.status, 403);
    assert.equal(typeof failures[1]!.keyId, 'string');
    assert.equal(failures[1]!.log, 'acme');
  });
});

describe('public reads off', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ config: { publicReads: false } });
    await h.createLog('acme');
    await h.req({
      method: 'POST',
      url: '/v1/logs/acme/events?wait=checkpoint',
      key: h.admin,
      payload: sampleEvent(1),
    });
  });
  after(() => h.close());

  const publicUrls = [
    '/v1/logs/acme/checkpoint',
    '/v1/logs/acme/tile/0/000.p/1',
    '/v1/logs/acme/key',
    '/v1/logs/acme/proofs/inclusion?index=0&tree_size=1',
  ];
  for (const url of publicUrls) {
    it(`${url} needs a key in scope`, async () => {
      assert.equal((await h.req({ method: 'GET', url })).statusCode, 401);
      assert.equal((await h.req({ method: 'GET', url, key: h.key('reader', ['beta']) })).statusCode, 403);
      assert.equal((await h.req({ method: 'GET', url, key: h.key('reader', ['acme']) })).statusCode, 200);
      assert.equal((await h.req({ method: 'GET', url, key: h.key('auditor', ['acme']) })).statusCode, 200);
    });
  }
});

describe('per-key rate limits', () => {
  it('answer 429 auth.rate_limited with Retry-After once a key spends its burst; other keys are unaffected', async () => {
    const h = await startHarness({ config: { rateLimit: { ratePerSecond: 0.5, burst: 3 } } });
    try {
      await h.createLog('acme');
      const reader = h.key('reader', ['acme']);
      const statuses: number[] = [];
      let last: Awaited<ReturnType<Harness['req']>> | undefined;
      for (let i = 0; i < 4; i++) {
        last = await h.req({ method: 'GET', url: '/v1/logs/acme/events', key: reader });
        statuses.push(last.statusCode);
      }
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      assert.equal(last!.json().code, 'auth.rate_limited');
      assert.ok(Number(last!.headers['retry-after']) >= 1);
      const other = h.key('reader', ['acme']);
      assert.equal((await h.req({ method: 'GET', url: '/v1/logs/acme/events', key: other })).statusCode, 200);
    } finally {
      await h.close();
    }
  });
});

describe('parseBearer', () => {
  const table: Array<[string, string | undefined]> = [
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['Bearer  abc ', 'abc'],
    ['Bearer', undefined],
    ['Bearer ', undefined],
    ['Bearer a b', undefined],
    ['Basic abc', undefined],
    ['abc', undefined],
    [`Bearer ${'x'.repeat(600)}`, undefined],
  ];
  for (const [header, want] of table) {
    it(`${JSON.stringify(header.slice(0, 20))} → ${String(want)}`, () =>
      assert.equal(parseBearer(header), want));
  }
});
