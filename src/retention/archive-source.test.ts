/**
 * ArchiveSource (archive-source.ts) without S3: what the archiver reads is checked against the
 * log's signed tree before it may be uploaded into WORM storage or used for dates. A memory driver
 * holds the log; the "archive" is a map the test fills for evicted objects. (The archiver's run
 * against real S3 with these checks is in archiver.test.ts.)
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { decodeBundle } from '../core/tile.js';
import { checkpointHistoryKey } from '../log/log.js';
import { openTestEngine, sampleEvent } from '../log/test-helpers.js';
import { StorageError } from '../storage/errors.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import type { BlobStore } from '../storage/types.js';
import { ArchiveSource } from './archive-source.js';
import type { RetentionError } from './errors.js';

const SEALED = ['tile/0/000', 'tile/0/001', 'tile/entries/000', 'tile/entries/001'];

/** A log of 600 entries signed at 300 and at 600, its storage, and a source over it. */
async function setup(t: TestContext) {
  const driver = createMemoryDriver();
  const engine = await openTestEngine(driver);
  t.after(() => engine.close());
  await engine.createLog('acme');
  const events = Array.from({ length: 600 }, (_, i) => sampleEvent(i, 150));
  await engine.append('acme', events.slice(0, 300));
  await engine.log('acme').integrate();
  await engine.append('acme', events.slice(300));
  await engine.log('acme').integrate();
  const storage = driver.log('acme');
  const archived = new Map<string, Uint8Array>();
  const checkpoint = (await storage.blobs.get('checkpoint'))!;
  const open = (local: Pick<BlobStore, 'get'> = storage.blobs) =>
    ArchiveSource.open({
      log: 'acme',
      local: local as BlobStore,
      state: storage.state,
      archive: { getSealed: async (key: string) => archived.get(key) },
      checkpoint,
    });
  return { blobs: storage.blobs, archived, open };
}

const flipped = (bytes: Uint8Array, at: number) => {
  const out = Uint8Array.from(bytes);
  out[at]! ^= 1;
  return out;
};

function badObject(object: string, reason?: RegExp) {
  return (err: RetentionError) => {
    assert.equal(err.code, 'retention.bad_local_object');
    assert.equal(err.details?.object, object);
    if (reason) assert.match(err.message, reason);
    return true;
  };
}

test('an untouched log passes every check; the edge and bundles come back as stored', async (t) => {
  const { blobs, open } = await setup(t);
  const source = await openSource(open);
  assert.equal(source.size, 600);
  for (const key of [...SEALED, checkpointHistoryKey(300), checkpointHistoryKey(600)]) {
    await source.checkSealed(key, (await blobs.get(key))!);
  }
  assert.deepEqual(source.edgeObject('tile/entries/002.p/88'), await blobs.get('tile/entries/002.p/88'));
  assert.deepEqual(source.edgeObject('tile/0/002.p/88'), await blobs.get('tile/0/002.p/88'));
  assert.deepEqual(await source.bundle(1), decodeBundle((await blobs.get('tile/entries/001'))!));
  assert.equal((await source.bundle(2))?.length, 88);
});

test('damaged objects are refused, naming them; a read error is passed on as it is', async (t) => {
  const { blobs, archived, open } = await setup(t);
  const source = await openSource(open);
  const bundle = (await blobs.get('tile/entries/001'))!;
  await assert.rejects(
    source.checkSealed('tile/entries/001', flipped(bundle, 50)),
    badObject('tile/entries/001'),
  );
  const tile = (await blobs.get('tile/0/000'))!;
  await assert.rejects(source.checkSealed('tile/0/000', flipped(tile, 7)), badObject('tile/0/000'));
  // A history checkpoint under another size's name, or altered.
  const at300 = (await blobs.get(checkpointHistoryKey(300)))!;
  await assert.rejects(
    source.checkSealed(checkpointHistoryKey(600), at300),
    badObject(checkpointHistoryKey(600), /checkpoint of size 300/),
  );
  await assert.rejects(
    source.checkSealed(checkpointHistoryKey(300), flipped(at300, at300.length - 5)),
    badObject(checkpointHistoryKey(300)),
  );
  // A bundle evicted from local storage is read from the archive and checked the same way.
  const local = {
    get: async (key: string) => (key === 'tile/entries/000' ? undefined : blobs.get(key)),
  };
  const evicted = await openSource(() => open(local));
  archived.set('tile/entries/000', flipped((await blobs.get('tile/entries/000'))!, 80));
  await assert.rejects(evicted.bundle(0), badObject('tile/entries/000'));
  archived.set('tile/entries/000', (await blobs.get('tile/entries/000'))!);
  assert.equal((await evicted.bundle(0))?.length, 256);
  // An I/O error says nothing about the object: it is not turned into bad_local_object.
  const failing = {
    get: async (key: string) => {
      if (key.startsWith('tile/1/')) throw new StorageError('storage.io', 'EIO');
      return blobs.get(key);
    },
  };
  await assert.rejects(open(failing), (err: StorageError) => err.code === 'storage.io');
});

/** Opens the source, checking it opened over the whole signed tree. */
async function openSource(open: () => Promise<ArchiveSource>): Promise<ArchiveSource> {
  const source = await open();
  assert.equal(source.size, 600);
  return source;
}
