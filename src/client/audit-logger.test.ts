// AuditLogger against a real server: batching by size and age, retries after a connection cut
// after the server appended (no duplicates), Retry-After, final 4xx reported (one bad event of a
// batch alone), the overflow policies and close().
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AuditEvent } from '../core/event.js';
import { IndelibleClient } from './client.js';
import type { ClientError } from './errors.js';
import type { FetchLike } from './http.js';
import { initDir, loggedIds, scratch, serveDir, startFaultProxy, type TestServer } from './test-support.js';
import type { AppendedEntry } from './types.js';

const { root, cleanup } = scratch('logger');
let server: TestServer;
let admin: IndelibleClient;

before(async () => {
  const dir = `${root}/data`;
  server = await serveDir(dir, await initDir(dir));
  admin = new IndelibleClient({ url: server.url, apiKey: server.adminKey });
});
after(async () => {
  await server.stop();
  cleanup();
});

const event = (n: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({
  action: 'doc.update',
  actor: { id: `u${n % 5}` },
  metadata: { n },
  ...extra,
});

/** A fetch that counts event POSTs and can answer some of them itself. */
function countingFetch(answer?: (n: number) => Response | undefined): {
  fetch: FetchLike;
  posts: () => number;
} {
  let posts = 0;
  return {
    posts: () => posts,
    fetch: async (url, init) => {
      if (init.method === 'POST' && url.includes('/events')) {
        posts++;
        const canned = answer?.(posts);
        if (canned !== undefined) return canned;
      }
      return fetch(url, init);
    },
  };
}

const allIds = (log: string) => loggedIds(admin, log);

async function waitFor(cond: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('AuditLogger', () => {
  test('batches by size: 250 log() calls are 3 requests; ids are assigned, events not modified', async () => {
    await admin.createLog('batch');
    const { fetch, posts } = countingFetch();
    const client = new IndelibleClient({ url: server.url, apiKey: server.adminKey, fetch });
    const acked: AppendedEntry[] = [];
    const logger = client.logger('batch', {
      maxBatch: 100,
      maxDelayMs: 60_000,
      onAck: (e) => acked.push(...e),
    });
    const originals = Array.from({ length: 250 }, (_, i) => event(i));
    const ids = await Promise.all(originals.map((e) => logger.log(e)));
    await logger.flush();
    assert.equal(posts(), 3);
    assert.ok(
      originals.every((e) => e.id === undefined),
      'the caller’s objects are not modified',
    );
    for (const id of ids)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(
      acked.map((e) => e.id),
      ids,
    );
    assert.deepEqual(
      acked.map((e) => e.index),
      ids.map((_, i) => i),
    );
    await logger.close();
    await assert.rejects(logger.log(event(0)), (e: ClientError) => e.code === 'client.closed');
  });

  test('batches by age: a lone event goes after maxDelayMs without flush()', async () => {
    await admin.createLog('age');
    const acked: AppendedEntry[] = [];
    const logger = admin.logger('age', { maxBatch: 100, maxDelayMs: 50, onAck: (e) => acked.push(...e) });
    const started = Date.now();
    await logger.log(event(1));
    await waitFor(() => acked.length === 1);
    assert.ok(Date.now() - started >= 45);
    await logger.close();
  });

  test('a connection cut after the server appended: the retry returns the same entries, no duplicates', async () => {
    await admin.createLog('cut');
    const proxy = await startFaultProxy(server.url);
    try {
      proxy.fault('cut-response', 2, /^POST \/v1\/logs\/cut\/events/);
      const client = new IndelibleClient({ url: proxy.url, apiKey: server.adminKey });
      const acked: AppendedEntry[] = [];
      const logger = client.logger('cut', {
        maxBatch: 40,
        maxDelayMs: 60_000,
        retry: { initialDelayMs: 10 },
        onAck: (e) => acked.push(...e),
      });
      const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => logger.log(event(i))));
      await logger.close();
      // Two requests were cut after the server answered, and each was sent again.
      assert.equal(proxy.matched, 3 + 2);
      assert.deepEqual(
        acked.map((e) => e.id),
        ids,
      );
      const logged = await allIds('cut');
      assert.equal(logged.length, 100);
      assert.deepEqual(logged, ids);
      assert.equal((await admin.getLog('cut')).size, 100);
    } finally {
      await proxy.close();
    }
  });

  test('429 and 503 are retried no sooner than Retry-After', async () => {
    await admin.createLog('busy');
    const problem = (status: number, code: string) =>
      new Response(JSON.stringify({ code, status, detail: 'busy' }), {
        status,
        headers: { 'content-type': 'application/problem+json', 'retry-after': '1' },
      });
    const { fetch, posts } = countingFetch((n) =>
      n === 1 ? problem(503, 'log.pushback') : n === 2 ? problem(429, 'auth.rate_limited') : undefined,
    );
    const client = new IndelibleClient({ url: server.url, apiKey: server.adminKey, fetch });
    const logger = client.logger('busy', { retry: { initialDelayMs: 1 } });
    const started = Date.now();
    await logger.log(event(1));
    await logger.flush();
    assert.equal(posts(), 3);
    assert.ok(Date.now() - started >= 2000, `retried after ${Date.now() - started} ms`);
    await logger.close();
  });

  test('a final 4xx is not retried: the events go to onError and flush() rejects', async () => {
    await admin.createLog('refused');
    await admin.append('refused', event(0, { id: 'fixed-id' }));
    const { fetch, posts } = countingFetch();
    const client = new IndelibleClient({ url: server.url, apiKey: server.adminKey, fetch });
    const failed: { code: string; events: AuditEvent[] }[] = [];
    const logger = client.logger('refused', {
      onError: (err, events) => failed.push({ code: err.code, events }),
    });
    // Same id, different content: the server's 409 log.id_conflict.
    await logger.log(event(1, { id: 'fixed-id' }));
    await assert.rejects(logger.flush(), (e: ClientError) => {
      return e.code === 'client.delivery_failed' && e.details?.code === 'log.id_conflict';
    });
    assert.equal(posts(), 1);
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.code, 'log.id_conflict');
    assert.equal(failed[0]!.events[0]!.id, 'fixed-id');
    // The failure was reported once; the logger goes on.
    await logger.log(event(2));
    await logger.flush();
    await logger.close();
  });

  test('one event the server refuses is reported alone; the rest of its batch is delivered', async () => {
    await admin.createLog('partial');
    const failed: AuditEvent[] = [];
    // Locally allowed (a laxer limit), refused by the server's default 128-character action limit.
    const logger = admin.logger('partial', {
      maxBatch: 10,
      maxDelayMs: 60_000,
      eventLimits: { maxActionLength: 1000 },
      onError: (_err, events) => failed.push(...events),
    });
    const ids = await Promise.all(
      Array.from({ length: 5 }, (_, i) => logger.log(event(i, i === 2 ? { action: 'x'.repeat(200) } : {}))),
    );
    await assert.rejects(logger.flush(), (e: ClientError) => e.code === 'client.delivery_failed');
    assert.deepEqual(
      failed.map((e) => e.id),
      [ids[2]],
    );
    assert.deepEqual(await allIds('partial'), [ids[0], ids[1], ids[3], ids[4]]);
    await logger.close();
  });

  test('a 2xx answer that does not acknowledge the events is retried, not taken as an ack', async () => {
    await admin.createLog('unacked');
    let answered = 0;
    // A proxy (or a broken server) that answers the first append with a well-formed 201 naming no
    // entries, and the second with the entries of other events, without forwarding either.
    const client = new IndelibleClient({
      url: server.url,
      apiKey: server.adminKey,
      fetch: async (url, init) => {
        if (init.method !== 'POST' || !url.includes('/events')) return fetch(url, init);
        answered++;
        if (answered > 2) return fetch(url, init);
        const entry = {
          index: 0,
          id: 'someone-else',
          leaf_hash: '0'.repeat(64),
          received_at: '2026-01-01T00:00:00Z',
        };
        const entries = answered === 1 ? [] : [entry, entry];
        return new Response(JSON.stringify({ entries }), {
          status: 201,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    const failures: unknown[] = [];
    const logger = client.logger('unacked', {
      maxBatch: 2,
      maxDelayMs: 60_000,
      spoolDir: `${root}/unacked-spool`,
      retry: { initialDelayMs: 5 },
      onError: (err) => failures.push(err),
    });
    const ids = await Promise.all([logger.log(event(0)), logger.log(event(1))]);
    await logger.close();
    assert.deepEqual(failures, []);
    assert.equal(answered, 3);
    assert.deepEqual(await allIds('unacked'), ids);
  });

  test('a batch over the server’s limits (413) is split until it fits', async () => {
    await admin.createLog('split');
    const sizes: number[] = [];
    // A server that takes at most 2 events per request.
    const client = new IndelibleClient({
      url: server.url,
      apiKey: server.adminKey,
      fetch: async (url, init) => {
        const n = (JSON.parse(String(init.body)) as { events: unknown[] }).events.length;
        sizes.push(n);
        if (n <= 2) return fetch(url, init);
        const problem = { code: 'request.batch_too_large', status: 413, detail: 'at most 2', limit: 2 };
        return new Response(JSON.stringify(problem), {
          status: 413,
          headers: { 'content-type': 'application/problem+json' },
        });
      },
    });
    const logger = client.logger('split', { maxBatch: 8, maxDelayMs: 60_000 });
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => logger.log(event(i))));
    await logger.close();
    assert.deepEqual(sizes, [8, 4, 2, 2, 4, 2, 2]);
    assert.deepEqual(await allIds('split'), ids);
  });

  test("a proxy's own answers: a bare 413 splits, a 408 and an unreadable 2xx are retried, nothing lost", async () => {
    await admin.createLog('proxied');
    const sizes: number[] = [];
    let answered = 0;
    // A proxy with a body limit of 2 events that answers HTML, that times one request out, and that
    // forwards one append but answers it with a page nobody can read.
    const client = new IndelibleClient({
      url: server.url,
      apiKey: server.adminKey,
      fetch: async (url, init) => {
        if (init.method !== 'POST' || !url.includes('/events')) return fetch(url, init);
        const n = (JSON.parse(String(init.body)) as { events: unknown[] }).events.length;
        sizes.push(n);
        if (n > 2) return new Response('<html>413 Request Entity Too Large</html>', { status: 413 });
        answered++;
        if (answered === 1) return new Response('<html>408</html>', { status: 408 });
        if (answered === 2) {
          await fetch(url, init); // appended, but the answer is lost behind an HTML page
          return new Response('<html>ok</html>', { status: 200, headers: { 'content-type': 'text/html' } });
        }
        return fetch(url, init);
      },
    });
    const failures: unknown[] = [];
    const logger = client.logger('proxied', {
      maxBatch: 4,
      maxDelayMs: 60_000,
      retry: { initialDelayMs: 5 },
      onError: (err) => failures.push(err),
    });
    const ids = await Promise.all(Array.from({ length: 4 }, (_, i) => logger.log(event(i))));
    await logger.close();
    assert.deepEqual(failures, []);
    assert.deepEqual(await allIds('proxied'), ids, 'every event once, in order');
    assert.deepEqual(sizes.slice(0, 2), [4, 2]);
  });

  test('an invalid event is rejected by log() itself', async () => {
    const logger = admin.logger('partial');
    await assert.rejects(
      logger.log({ action: 'x' } as AuditEvent),
      (e: ClientError) => e.code === 'event.missing_field',
    );
    await logger.close();
  });

  describe('overflow policies (a server that never answers)', () => {
    // A fetch that hangs until released, so the queue fills up.
    function hangingClient() {
      const release: (() => void)[] = [];
      const client = new IndelibleClient({
        url: server.url,
        apiKey: server.adminKey,
        fetch: async (url, init) => {
          await new Promise<void>((r) => release.push(r));
          return fetch(url, init);
        },
      });
      const releaseAll = () => {
        for (const r of release.splice(0)) r();
      };
      return { client, releaseAll };
    }

    test('throw: log() rejects with client.queue_full', async () => {
      await admin.createLog('of-throw');
      const { client, releaseAll } = hangingClient();
      const logger = client.logger('of-throw', {
        maxBatch: 2,
        maxQueue: 4,
        maxDelayMs: 0,
        overflow: 'throw',
      });
      for (let i = 0; i < 4; i++) await logger.log(event(i));
      await assert.rejects(logger.log(event(4)), (e: ClientError) => e.code === 'client.queue_full');
      const closing = logger.close();
      await waitFor(() => {
        releaseAll();
        return logger.pending === 0;
      });
      await closing;
      assert.equal((await allIds('of-throw')).length, 4);
    });

    test('drop-newest and drop-oldest discard events and report them', async () => {
      for (const policy of ['drop-newest', 'drop-oldest'] as const) {
        const name = `of-${policy}`;
        await admin.createLog(name);
        const { client, releaseAll } = hangingClient();
        const dropped: AuditEvent[] = [];
        // A full batch goes at once; nothing goes early (so exactly one batch is in flight).
        const logger = client.logger(name, {
          maxBatch: 2,
          maxQueue: 4,
          maxDelayMs: 60_000,
          overflow: policy,
          onDrop: (events) => dropped.push(...events),
        });
        const ids = [];
        for (let i = 0; i < 6; i++) ids.push(await logger.log(event(i)));
        const closing = logger.close();
        await waitFor(() => {
          releaseAll();
          return logger.pending === 0;
        });
        await closing;
        // Two in flight (0, 1) and two queued; the two extra calls drop the newest (4, 5) or the
        // oldest queued (2, 3).
        const lost = policy === 'drop-newest' ? [ids[4], ids[5]] : [ids[2], ids[3]];
        assert.deepEqual(
          dropped.map((e) => e.id),
          lost,
        );
        assert.deepEqual(
          await allIds(name),
          ids.filter((id) => !lost.includes(id)),
        );
      }
    });

    test('block: log() waits for room, then everything is delivered in order', async () => {
      await admin.createLog('of-block');
      const { client, releaseAll } = hangingClient();
      const logger = client.logger('of-block', { maxBatch: 2, maxQueue: 2, maxDelayMs: 0 });
      const first = [logger.log(event(0)), logger.log(event(1))];
      await Promise.all(first);
      let thirdDone = false;
      const third = logger.log(event(2)).then((id) => {
        thirdDone = true;
        return id;
      });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(thirdDone, false, 'the third log() waits while the queue is full');
      const closing = logger.close();
      await waitFor(() => {
        releaseAll();
        return thirdDone && logger.pending === 0;
      });
      await closing;
      assert.deepEqual(await allIds('of-block'), [await first[0], await first[1], await third]);
    });
  });
});
