/**
 * Per-log policy and legal hold over HTTP, in process (issue 7): who may read and change them,
 * body validation, and that every change is an admin access carrying before/after.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { type Harness, startHarness } from './test-harness.js';

const DAY = 86_400_000;

describe('policy routes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
    await h.createLog('acme');
    await h.createLog('other');
  });
  after(() => h.close());

  const url = (log = 'acme') => `/v1/logs/${log}/policy`;
  const hold = (log = 'acme') => `/v1/logs/${log}/legal-hold`;

  it('GET returns defaults (365d min, no max, 30d archive, no hold)', async () => {
    const res = await h.req({ method: 'GET', url: url('other'), key: h.admin });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      log: 'other',
      retention: { min: 365 * DAY, max: null, min_floors: [] },
      archive: { after: 30 * DAY, target: null },
      legal_hold: null,
      updated_at: null,
      updated_by: null,
    });
  });

  it('PUT changes the policy, audits before/after, and GET shows it', async () => {
    h.accesses.length = 0;
    const res = await h.req({
      method: 'PUT',
      url: url(),
      key: h.admin,
      payload: { retention: { min: '7y', max: '10y' }, archive: { after: 'never' } },
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.deepEqual(body.retention, { min: 7 * 366 * DAY, max: 10 * 366 * DAY, min_floors: [] });
    assert.equal(body.archive.after, 'never');
    const audit = h.accesses.filter((a) => a.kind === 'admin');
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.method, 'PUT');
    assert.equal(audit[0]!.log, 'acme');
    const f = audit[0]!.filter as {
      before: { retention: { min: number } };
      after: { retention: { min: number } };
    };
    assert.equal(f.before.retention.min, 365 * DAY);
    assert.equal(f.after.retention.min, 7 * 366 * DAY);
    const got = await h.req({ method: 'GET', url: url(), key: h.admin });
    assert.deepEqual(got.json().retention, body.retention);
  });

  it('lowering retention.min keeps the old value as a floor for the entries already stored', async () => {
    const before = Date.now();
    const res = await h.req({
      method: 'PUT',
      url: url(),
      key: h.admin,
      payload: { retention: { min: '1y' } },
    });
    assert.equal(res.statusCode, 200, res.body);
    const floors = res.json().retention.min_floors as Array<{ min: number; before: string }>;
    assert.equal(floors.length, 1);
    assert.equal(floors[0]!.min, 7 * 366 * DAY, 'the 7y in force until now');
    assert.ok(Date.parse(floors[0]!.before) >= before - 1000 && Date.parse(floors[0]!.before) <= Date.now());
    // Raising it again adds no floor (raising never shortens anything).
    const up = await h.req({
      method: 'PUT',
      url: url(),
      key: h.admin,
      payload: { retention: { min: '2y' } },
    });
    assert.equal(up.json().retention.min_floors.length, 1);
  });

  const badBodies: Array<[string, unknown, string]> = [
    ['max below min', { retention: { min: '2y', max: '1y' } }, 'retention.invalid_policy'],
    ['bad duration', { retention: { min: 'seven years' } }, 'retention.invalid_policy'],
    // A negative number is named as a duration, not "must be string" (the union's first branch).
    ['negative duration', { retention: { min: -1 } }, 'retention.invalid_policy'],
    ['unknown field', { retention: { min: '1y' }, prune: true }, 'request.invalid'],
    ['wrong type', { archive: { after: true } }, 'request.invalid'],
    // This server has no S3 archive, so a log cannot name its own target.
    [
      'archive.target without an archive',
      { archive: { target: { bucket: 'acme' } } },
      'retention.invalid_policy',
    ],
    ['archive.target without a bucket', { archive: { target: { prefix: 'x' } } }, 'request.invalid'],
  ];
  for (const [name, payload, code] of badBodies) {
    it(`PUT refuses ${name} with ${code}`, async () => {
      const res = await h.req({ method: 'PUT', url: url('other'), key: h.admin, payload: payload as object });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, code);
    });
  }

  it('legal hold: set (audited), second set 409, release (audited), second release 409', async () => {
    h.accesses.length = 0;
    const set = await h.req({
      method: 'POST',
      url: hold(),
      key: h.admin,
      payload: { reason: 'litigation 42' },
    });
    assert.equal(set.statusCode, 200, set.body);
    const held = set.json().legal_hold;
    assert.equal(held.reason, 'litigation 42');
    assert.match(held.set_by, /./);
    assert.ok(!Number.isNaN(Date.parse(held.set_at)));
    // The other settings survive a hold.
    assert.equal(set.json().archive.after, 'never');

    const again = await h.req({ method: 'POST', url: hold(), key: h.admin, payload: { reason: 'x' } });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().code, 'retention.legal_hold_active');

    const rel = await h.req({ method: 'DELETE', url: hold(), key: h.admin });
    assert.equal(rel.statusCode, 200, rel.body);
    assert.equal(rel.json().legal_hold, null);
    const relAgain = await h.req({ method: 'DELETE', url: hold(), key: h.admin });
    assert.equal(relAgain.statusCode, 409);
    assert.equal(relAgain.json().code, 'retention.no_legal_hold');

    const audit = h.accesses.filter((a) => a.kind === 'admin');
    // The refused second set and release are recorded too, with their 409.
    assert.deepEqual(
      audit.map((a) => [a.method, a.status]),
      [
        ['POST', 200],
        ['POST', 409],
        ['DELETE', 200],
        ['DELETE', 409],
      ],
    );
    const released = audit[2]!.filter as {
      before: { legal_hold: { reason: string } };
      after: { legal_hold: null };
    };
    assert.equal(released.before.legal_hold.reason, 'litigation 42');
    assert.equal(released.after.legal_hold, null);
  });

  it('refuses an empty reason', async () => {
    const res = await h.req({ method: 'POST', url: hold('other'), key: h.admin, payload: { reason: '' } });
    assert.equal(res.statusCode, 400);
  });

  it('refuses a reason with a lone surrogate (the policy and _audit would hold different text)', async () => {
    for (const reason of ['\ud800', 'case \udc00 42']) {
      const res = await h.req({
        method: 'POST',
        url: hold('other'),
        key: h.admin,
        headers: { 'content-type': 'application/json' },
        // JSON.stringify escapes a lone surrogate (\ud800), as a client sending one would.
        payload: JSON.stringify({ reason }),
      });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().code, 'retention.invalid_policy');
      assert.equal(res.json().field, 'reason');
    }
    const policy = await h.req({ method: 'GET', url: url('other'), key: h.admin });
    assert.equal(policy.json().legal_hold, null);
    // A pair (an emoji) is a character like any other.
    const ok = await h.req({
      method: 'POST',
      url: hold('other'),
      key: h.admin,
      payload: { reason: 'case 🔒 7' },
    });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().legal_hold.reason, 'case 🔒 7');
    await h.req({ method: 'DELETE', url: hold('other'), key: h.admin });
  });

  it('auditors read but may not change; writers and readers may not read; scope applies', async () => {
    const auditor = h.key('auditor', ['acme']);
    assert.equal((await h.req({ method: 'GET', url: url(), key: auditor })).statusCode, 200);
    assert.equal((await h.req({ method: 'GET', url: url('other'), key: auditor })).statusCode, 403);
    for (const [method, u, payload] of [
      ['PUT', url(), { retention: { min: '1d' } }],
      ['POST', hold(), { reason: 'r' }],
      ['DELETE', hold(), undefined],
    ] as const) {
      const res = await h.req({ method, url: u, key: auditor, ...(payload ? { payload } : {}) });
      assert.equal(res.statusCode, 403, `${method} ${u}`);
    }
    for (const role of ['writer', 'reader'] as const) {
      assert.equal((await h.req({ method: 'GET', url: url(), key: h.key(role) })).statusCode, 403, role);
    }
    assert.equal((await h.req({ method: 'GET', url: url() })).statusCode, 401);
    const scopedAdmin = h.key('admin', ['other']);
    const res = await h.req({ method: 'POST', url: hold(), key: scopedAdmin, payload: { reason: 'r' } });
    assert.equal(res.statusCode, 403);
  });

  it('a key scoped to the log may set a legal hold but only an all-logs admin may lift one', async () => {
    const tenantAdmin = h.key('admin', ['other']);
    const set = await h.req({
      method: 'POST',
      url: hold('other'),
      key: h.admin,
      payload: { reason: 'compliance' },
    });
    assert.equal(set.statusCode, 200, set.body);
    h.accesses.length = 0;
    const lift = await h.req({ method: 'DELETE', url: hold('other'), key: tenantAdmin });
    assert.equal(lift.statusCode, 403, lift.body);
    assert.equal(lift.json().code, 'auth.forbidden');
    assert.match(lift.json().detail, /all logs/);
    assert.deepEqual(
      h.accesses.map((a) => [a.kind, a.status]),
      [['auth_failure', 403]],
      'the refused release is recorded',
    );
    const still = await h.req({ method: 'GET', url: url('other'), key: h.admin });
    assert.equal(still.json().legal_hold.reason, 'compliance');
    // Tightening stays open to the tenant's admin: it may set a hold of its own.
    await h.req({ method: 'DELETE', url: hold('other'), key: h.admin });
    const own = await h.req({
      method: 'POST',
      url: hold('other'),
      key: tenantAdmin,
      payload: { reason: 'own' },
    });
    assert.equal(own.statusCode, 200, own.body);
    assert.equal((await h.req({ method: 'DELETE', url: hold('other'), key: tenantAdmin })).statusCode, 403);
    assert.equal((await h.req({ method: 'DELETE', url: hold('other'), key: h.admin })).statusCode, 200);
  });

  it('a key scoped to the log may change its retention but not point its archive at a bucket', async () => {
    const tenantAdmin = h.key('admin', ['other']);
    const target = await h.req({
      method: 'PUT',
      url: url('other'),
      key: tenantAdmin,
      payload: { archive: { target: { bucket: 'someone-elses-bucket', prefix: 'x' } } },
    });
    assert.equal(target.statusCode, 403, target.body);
    assert.equal(target.json().code, 'auth.forbidden');
    const retention = await h.req({
      method: 'PUT',
      url: url('other'),
      key: tenantAdmin,
      payload: { retention: { min: '400d' } },
    });
    assert.equal(retention.statusCode, 200, retention.body);
  });

  it('404 for a log that does not exist', async () => {
    const res = await h.req({ method: 'GET', url: url('nope'), key: h.admin });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, 'log.not_found');
  });
});

// The local driver's compare-and-swap does real I/O between its read and its write, so concurrent
// changes interleave there as they do in a server (the memory driver's run without a pause).
describe('policy routes on the local driver', () => {
  let h: Harness;
  let root: string;
  const url = (log: string) => `/v1/logs/${log}/policy`;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'indelible-policy-'));
    h = await startHarness({ driver: await createLocalDriver({ root }) });
    await h.createLog('busy');
  });
  after(async () => {
    await h.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('concurrent valid changes all succeed, one after another (no 503 from a lost compare-and-swap)', async () => {
    h.accesses.length = 0;
    const days = Array.from({ length: 20 }, (_, i) => 10 + i);
    const answers = await Promise.all(
      days.map((d) =>
        h.req({ method: 'PUT', url: url('busy'), key: h.admin, payload: { archive: { after: `${d}d` } } }),
      ),
    );
    assert.deepEqual(
      answers.map((r) => r.statusCode),
      days.map(() => 200),
      answers.map((r) => r.body).join('\n'),
    );
    for (const [i, r] of answers.entries()) assert.equal(r.json().archive.after, days[i]! * DAY);
    // Serialized: each change's "before" is the previous change's "after" (the first: the default).
    const audit = h.accesses.filter((a) => a.kind === 'admin' && a.log === 'busy');
    const pairs = audit.map(
      (a) => a.filter as { before: { archive: { after: number } }; after: { archive: { after: number } } },
    );
    const chain = [30 * DAY, ...pairs.map((p) => p.after.archive.after)];
    assert.deepEqual(
      pairs.map((p) => p.before.archive.after),
      chain.slice(0, -1),
    );
  });
});
