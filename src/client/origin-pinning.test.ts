// The checkpoint's origin is tied to the pinned key's name (Indelible names every log key after its
// log's origin), first use included (review G, A8): a checkpoint for another origin, validly signed
// by the key (a key misused for two logs), is not this log's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signCheckpoint } from '../core/checkpoint.js';
import { EMPTY_ROOT } from '../core/merkle.js';
import { generateSignerKey, parseSignerKey } from '../core/note.js';
import { IndelibleClient } from './client.js';
import type { ClientError } from './errors.js';
import { verifyRemoteLog } from './remote-verifier.js';
import { memoryTrustStore } from './trust.js';
import { VerifiedReader } from './verified-reads.js';

const keys = generateSignerKey('indelible.local/test/acme');
const signer = parseSignerKey(keys.signerKey);

/** A client whose server answers only the checkpoint: an empty tree of `origin`, signed by the key. */
function serving(origin: string): IndelibleClient {
  const note = signCheckpoint({ origin, size: 0, rootHash: EMPTY_ROOT, extensions: [] }, signer);
  return new IndelibleClient({
    url: 'http://server.invalid',
    fetch: async (url) => {
      if (!new URL(url).pathname.endsWith('/checkpoint')) return new Response('', { status: 404 });
      return new Response(note, { status: 200, headers: { 'content-type': 'text/plain' } });
    },
  });
}

const otherOrigin = (e: ClientError) => {
  assert.equal(e.code, 'client.bad_checkpoint', String(e));
  assert.equal(e.details?.reason, 'checkpoint.origin_mismatch', String(e));
  return true;
};

test("verifyRemoteLog: on first use, a checkpoint for another origin than the key's name fails", async () => {
  const opts = { log: 'acme', verifierKey: keys.verifierKey, entries: false };
  const ok = await verifyRemoteLog({ ...opts, client: serving('indelible.local/test/acme') });
  assert.equal(ok.checkpoint.origin, 'indelible.local/test/acme');
  await assert.rejects(verifyRemoteLog({ ...opts, client: serving('evil.example/other') }), otherOrigin);
  // A state pinned to another origin (saved before this check) is refused too, not carried on.
  const foreign = signCheckpoint(
    { origin: 'evil.example/other', size: 0, rootHash: EMPTY_ROOT, extensions: [] },
    signer,
  );
  await assert.rejects(
    verifyRemoteLog({
      ...opts,
      client: serving('indelible.local/test/acme'),
      state: { checkpoint: foreign },
    }),
    otherOrigin,
  );
});

test("VerifiedReader: on first use, a checkpoint for another origin than the key's name fails", async () => {
  const reader = (client: IndelibleClient) =>
    new VerifiedReader({ client, log: 'acme', verifierKey: keys.verifierKey });
  assert.equal(
    (await reader(serving('indelible.local/test/acme')).checkpoint()).origin,
    'indelible.local/test/acme',
  );
  await assert.rejects(reader(serving('evil.example/other')).checkpoint(), otherOrigin);
  // A trusted state pinned to another origin (saved before this check) is refused too.
  const foreign = signCheckpoint(
    { origin: 'evil.example/other', size: 0, rootHash: EMPTY_ROOT, extensions: [] },
    signer,
  );
  const stuck = new VerifiedReader({
    client: serving('indelible.local/test/acme'),
    log: 'acme',
    verifierKey: keys.verifierKey,
    trust: memoryTrustStore({ checkpoint: foreign }),
  });
  await assert.rejects(stuck.checkpoint(), otherOrigin);
});
