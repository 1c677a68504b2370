// VerifiedReader against real servers: entries and search results are proven against a checkpoint
// verified under the pinned key; trust persists in a state file across readers; served data that
// disagrees is client.inconsistent; and a forked server (same key, other history) fails the first
// read with client.fork_detected carrying both checkpoints.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openCheckpoint } from '../core/checkpoint.js';
import { parseVerifierKey } from '../core/note.js';
import { IndelibleClient } from './client.js';
import type { ClientError } from './errors.js';
import type { FetchLike } from './http.js';
import { fileTrustStore, loadTrustedState } from './state-file.js';
import { copyDir, initDir, scratch, serveDir, type TestServer, waitForIndex } from './test-support.js';
import { memoryTrustStore } from './trust.js';
import type { QueryOptions } from './types.js';
import { VerifiedReader } from './verified-reads.js';

const { root, cleanup } = scratch('vreads');
let a: TestServer;
let admin: IndelibleClient;
let vkey: string;
const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.stop().catch(() => {});
  cleanup();
});

const events = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => ({
    action: `${tag}.read`,
    actor: { id: `u${i % 4}` },
    target: { id: `d${i}` },
  }));

before(async () => {
  const dir = join(root, 'a');
  a = await serveDir(dir, await initDir(dir));
  servers.push(a);
  admin = new IndelibleClient({ url: a.url, apiKey: a.adminKey });
  vkey = (await admin.createLog('acme')).verifierKey;
  await admin.append('acme', events(300, 'seed'), { waitCheckpoint: true });
  await waitForIndex(admin, 'acme');
});

describe('VerifiedReader', () => {
  test('entry(), query() and queryAll() return verified records; trust persists in a file', async () => {
    const file = join(root, 'trust.json');
    const reader = new VerifiedReader({
      client: admin,
      log: 'acme',
      verifierKey: vkey,
      trust: fileTrustStore(file),
    });
    const e = await reader.entry(257);
    assert.equal(e.index, 257);
    assert.equal(e.record.log, 'acme');
    assert.equal(e.event.target?.id, 'd257');
    assert.equal(e.leafHash, (await admin.entry('acme', 257)).leafHash);
    const saved = await loadTrustedState(file);
    assert.equal(saved?.checkpoint, e.checkpoint.note);
    openCheckpoint(saved!.checkpoint, parseVerifierKey(vkey));

    const page = await reader.query({ actor: 'u1', limit: 50 });
    assert.equal(page.events.length, 50);
    assert.ok(page.events.every((v) => v.event.actor.id === 'u1' && v.record.index === v.index));
    let n = 0;
    for await (const v of reader.queryAll({ action: 'seed.read', limit: 100 })) {
      assert.equal(v.index, n++);
    }
    assert.equal(n, 300);

    // New entries, not yet in the trusted checkpoint: the reader moves on to a newer one, proven
    // consistent, and saves it.
    const r = await admin.append('acme', events(5, 'late'));
    const late = await new VerifiedReader({
      client: admin,
      log: 'acme',
      verifierKey: vkey,
      trust: fileTrustStore(file),
    }).entry(r.entries[4]!.index);
    assert.equal(late.event.action, 'late.read');
    assert.ok(late.checkpoint.size > e.checkpoint.size);
    assert.equal((await loadTrustedState(file))?.checkpoint, late.checkpoint.note);
  });

  test('served data that disagrees with the verified checkpoint is client.inconsistent', async () => {
    const rewrite =
      (match: RegExp, edit: (text: string) => string): FetchLike =>
      async (url, init) => {
        const res = await fetch(url, init);
        if (!match.test(new URL(url).pathname)) return res;
        return new Response(edit(await res.text()), { status: res.status, headers: res.headers });
      };
    const entryLie = new IndelibleClient({
      url: a.url,
      apiKey: a.adminKey,
      // The target id inside the record text (escaped in the JSON answer): a bare 'd10' could be
      // part of a random id or a hash, whose change the reader would never see as a lie.
      fetch: rewrite(/\/entries\/10$/, (t) => {
        assert.ok(t.includes('\\"d10\\"'), t);
        return t.replace('\\"d10\\"', '\\"d11\\"');
      }),
    });
    await assert.rejects(
      new VerifiedReader({ client: entryLie, log: 'acme', verifierKey: vkey }).entry(10),
      (e: ClientError) => e.code === 'client.inconsistent' && e.details?.index === 10,
    );
    const searchLie = new IndelibleClient({
      url: a.url,
      apiKey: a.adminKey,
      fetch: rewrite(/\/events$/, (t) => t.replace('"d12"', '"d13"')),
    });
    // A page may stop short at the index's 50 ms budget (a loaded CI machine): follow the cursor
    // until the page that holds entry 12, whose verification must throw.
    const liar = new VerifiedReader({ client: searchLie, log: 'acme', verifierKey: vkey });
    await assert.rejects(
      (async () => {
        let cursor: string | null | undefined;
        for (let pages = 0; pages < 100; pages++) {
          const page = await liar.query({ limit: 20, ...(cursor ? { cursor } : {}) });
          if (page.events.some((e) => e.index >= 12)) return;
          cursor = page.nextCursor;
          if (cursor === null) return;
        }
      })(),
      (e: ClientError) => e.code === 'client.inconsistent' && e.details?.index === 12,
    );
  });

  test('search results that do not match the query are client.inconsistent, naming the filter (review G, A5)', async () => {
    /** A server that answers `/events` for the query `edit` makes of the one asked. */
    const answering =
      (
        edit: (q: URLSearchParams) => void,
        body: (page: { events: unknown[] }) => void = () => {},
      ): FetchLike =>
      async (url, init) => {
        const u = new URL(url);
        if (!u.pathname.endsWith('/events')) return fetch(url, init);
        edit(u.searchParams);
        const res = await fetch(u.toString(), init);
        const page = (await res.json()) as { events: unknown[] };
        body(page);
        return new Response(JSON.stringify(page), { status: res.status, headers: res.headers });
      };
    const readerOf = (f: FetchLike) =>
      new VerifiedReader({
        client: new IndelibleClient({ url: a.url, apiKey: a.adminKey, fetch: f }),
        log: 'acme',
        verifierKey: vkey,
      });
    // A page may stop short at the index's 50 ms budget (a loaded CI machine): follow the cursor
    // until a page has results, whose verification must throw.
    const pages = async (reader: VerifiedReader, options: QueryOptions) => {
      let cursor: string | null | undefined = options.cursor;
      for (let n = 0; n < 100; n++) {
        const page = await reader.query({ ...options, ...(cursor ? { cursor } : {}) });
        if (page.events.length > 0) return page;
        cursor = page.nextCursor;
        if (cursor === null) break;
      }
      assert.fail('no results');
    };
    const rejects = (f: FetchLike, options: QueryOptions, filter: string) =>
      assert.rejects(pages(readerOf(f), options), (e: ClientError) => {
        assert.equal(e.code, 'client.inconsistent', String(e));
        assert.equal(e.details?.filter, filter, String(e));
        return true;
      });
    const set = (k: string, v: string) => (q: URLSearchParams) => q.set(k, v);
    const drop = (k: string) => (q: URLSearchParams) => q.delete(k);

    // actor=u1 answered with u2's events: each one proven in the log, and not what was asked.
    await rejects(answering(set('actor', 'u2')), { actor: 'u1' }, 'actor');
    await rejects(answering(set('target', 'd6')), { target: 'd5' }, 'target');
    await rejects(answering(drop('action')), { action: 'nothing.*' }, 'action');
    await rejects(answering(set('action', 'late.read')), { action: 'seed.read' }, 'action');
    await rejects(answering(drop('outcome')), { outcome: 'success' }, 'outcome');
    await rejects(answering(drop('since')), { since: '2999-01-01T00:00:00Z' }, 'since');
    await rejects(answering(drop('until')), { until: '2000-01-01T00:00:00+01:00' }, 'until');
    // The page's shape: in the query's order, after its cursor, within its limit.
    await rejects(
      answering(
        () => {},
        (p) => p.events.reverse(),
      ),
      { actor: 'u1', limit: 10 },
      'order',
    );
    await rejects(answering(set('limit', '20')), { actor: 'u1', limit: 10 }, 'limit');
    const honest = readerOf(fetch);
    const first = await pages(honest, { actor: 'u1', limit: 3 });
    assert.ok(first.nextCursor);
    await rejects(answering(drop('cursor')), { actor: 'u1', limit: 3, cursor: first.nextCursor }, 'cursor');

    // The same filters, answered honestly, pass: prefixes, targets, instants in another form.
    const atTen = (await honest.entry(10)).receivedAt;
    const plusOne = new Date(Date.parse(atTen) + 3_600_000).toISOString().replace('Z', '+01:00');
    for (const options of [
      { actor: 'u1' },
      { action: 'seed.*' },
      { action: '*' },
      { target: 'd5' },
      { since: plusOne.replace(/\.\d+/, '$&000'), until: '2999-01-01T00:00:00Z' },
    ] as QueryOptions[]) {
      const page = await pages(honest, { ...options, limit: 5 });
      assert.ok(page.events.length > 0, JSON.stringify(options));
    }
  });

  test('a forked server fails the first read with both checkpoints', async () => {
    // An insider copies the stopped data directory; the original goes on, the copy signs another
    // history with the same key.
    await a.stop();
    servers.splice(servers.indexOf(a), 1);
    const dirB = join(root, 'b');
    copyDir(a.dir, dirB);
    a = await serveDir(a.dir, a.adminKey);
    const b = await serveDir(dirB, a.adminKey);
    servers.push(a, b);
    const honest = new IndelibleClient({ url: a.url, apiKey: a.adminKey });
    const forger = new IndelibleClient({ url: b.url, apiKey: a.adminKey });
    await honest.append('acme', events(2, 'honest'), { waitCheckpoint: true });
    await forger.append('acme', events(3, 'forged'), { waitCheckpoint: true });

    const trust = memoryTrustStore();
    await new VerifiedReader({ client: honest, log: 'acme', verifierKey: vkey, trust }).entry(0);
    const trusted = trust.state!.checkpoint;

    const reader = new VerifiedReader({ client: forger, log: 'acme', verifierKey: vkey, trust });
    await assert.rejects(reader.entry(0), (e: ClientError) => {
      assert.equal(e.code, 'client.fork_detected');
      assert.equal(e.details?.trusted, trusted);
      assert.notEqual(e.details?.latest, trusted);
      openCheckpoint(e.details?.latest as string, parseVerifierKey(vkey));
      return true;
    });
    assert.equal(trust.state!.checkpoint, trusted, 'the fork is not trusted');
  });
});
