// Moving trust from one checkpoint to another (trust.ts): every relation between a trusted and a
// latest checkpoint, with signed checkpoints over real trees and a stub client serving the proofs
// (RFC 9162 §2.1.4.1 PROOF(m, D[n]), computed here from the leaves), and the state's JSON form.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signCheckpoint } from '../core/checkpoint.js';
import { toHex } from '../core/encoding.js';
import { hashLeaf, rootOf } from '../core/merkle.js';
import { generateSignerKey, parseSignerKey, parseVerifierKey } from '../core/note.js';
import { proveConsistency } from '../core/proof.js';
import type { IndelibleClient } from './client.js';
import { ClientError } from './errors.js';
import { compareCheckpoints, formatTrustedState, openVerified, parseTrustedState } from './trust.js';

const keys = generateSignerKey('example.com/log');
const signer = parseSignerKey(keys.signerKey);
const verifier = parseVerifierKey(keys.verifierKey);
const leaves = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => hashLeaf(new TextEncoder().encode(`${tag}${i}`)));

function checkpoint(tree: Uint8Array[]) {
  const note = signCheckpoint(
    { origin: 'example.com/log', size: tree.length, rootHash: rootOf(tree), extensions: [] },
    signer,
  );
  return openVerified(note, verifier, undefined, 'test checkpoint');
}

/** A client whose consistency proofs come from `tree` (the server's view), or that 404s. */
function stub(tree: Uint8Array[] | 'missing'): IndelibleClient {
  return {
    async consistencyProof(_log: string, from: number, to: number) {
      if (tree === 'missing' || to > tree.length)
        throw new ClientError('log.out_of_range', 'no', { status: 404 });
      const read = async (nodes: readonly { level: number; index: number }[]) =>
        nodes.map(({ level, index }) => rootOf(tree.slice(index * 2 ** level, (index + 1) * 2 ** level)));
      return { from, to, hashes: (await proveConsistency(from, to, read)).map(toHex) };
    },
    // Level-0 hash tiles only (these trees are small): the leaf hashes.
    async tile(_log: string, path: string) {
      const m = /^tile\/0\/000(?:\.p\/([0-9]+))?$/.exec(path);
      if (tree === 'missing' || m === null) throw new ClientError('log.not_found', 'no', { status: 404 });
      const width = m[1] === undefined ? 256 : Number(m[1]);
      return new Uint8Array(tree.slice(0, width).flatMap((h) => [...h]));
    },
  } as unknown as IndelibleClient;
}

const honest = leaves('a', 20);
const forked = [...honest.slice(0, 10), ...leaves('b', 10)];

test('same, extends and stale are told apart', async () => {
  const at10 = checkpoint(honest.slice(0, 10));
  const at20 = checkpoint(honest);
  const empty = checkpoint([]);
  assert.equal(await compareCheckpoints(stub(honest), 'log', at20, checkpoint(honest)), 'same');
  assert.equal(await compareCheckpoints(stub(honest), 'log', at10, at20), 'extends');
  assert.equal(await compareCheckpoints(stub(honest), 'log', empty, at10), 'extends');
  assert.equal(await compareCheckpoints(stub(honest), 'log', at20, at10), 'stale');
  assert.equal(await compareCheckpoints(stub(honest), 'log', at20, empty), 'stale');
});

test('forks carry both notes: same size, a proof that shows another prefix either way', async () => {
  const trusted = checkpoint(honest.slice(0, 15));
  const at16 = checkpoint(honest.slice(0, 16));
  const cases: Array<
    [string, IndelibleClient, ReturnType<typeof checkpoint>, ReturnType<typeof checkpoint>?]
  > = [
    ['same size, other root', stub(forked), checkpoint(forked.slice(0, 15))],
    ['larger, not an extension', stub(forked), checkpoint(forked)],
    // 16 is a power of two: the proof leaves that root out, the server's hash tile gives it.
    ['larger, not an extension of a power-of-two tree', stub(forked), checkpoint(forked), at16],
    // A server behind the trusted tree whose (honest) proof rebuilds the trusted root.
    ['smaller, proven not a prefix', stub(honest), checkpoint(forked.slice(0, 12))],
  ];
  for (const [name, client, latest, from = trusted] of cases) {
    await assert.rejects(
      compareCheckpoints(client, 'log', from, latest),
      (e: ClientError) =>
        e.code === 'client.fork_detected' &&
        e.details?.trusted === from.note &&
        e.details?.latest === latest.note &&
        Array.isArray(e.details?.proof),
      name,
    );
  }
});

/** A client whose consistency proofs come from `tree`, then changed by `alter`. */
function altered(tree: Uint8Array[], alter: (hashes: string[]) => string[]): IndelibleClient {
  const inner = stub(tree);
  return {
    async consistencyProof(log: string, from: number, to: number) {
      const p = await inner.consistencyProof(log, from, to);
      return { ...p, hashes: alter(p.hashes) };
    },
    tile: (log: string, path: string) => inner.tile(log, path),
  } as unknown as IndelibleClient;
}

/** A client whose consistency proof request fails with `err`. */
const failing = (err: ClientError) =>
  ({
    async consistencyProof() {
      throw err;
    },
  }) as unknown as IndelibleClient;

test('a proof not given, failing or too long is client.unproven_consistency (not a fork), with both notes', async () => {
  const trusted = checkpoint(honest.slice(0, 15));
  const at16 = checkpoint(honest.slice(0, 16));
  const grown = checkpoint(honest);
  const flip = (hashes: string[]) => [
    `${hashes[0]!.slice(0, 63)}${hashes[0]!.endsWith('0') ? '1' : '0'}`,
    ...hashes.slice(1),
  ];
  const cases: Array<
    [string, IndelibleClient, ReturnType<typeof checkpoint>, boolean, ReturnType<typeof checkpoint>?]
  > = [
    // An on-path proxy flipping one bit of an honest proof: the trees ARE consistent.
    ['larger, a bit flipped', altered(honest, flip), grown, true],
    // From a power-of-two size, the tile gives the server's prefix root, which is the trusted one.
    ['larger from 16, a bit flipped', altered(honest, flip), grown, true, at16],
    ['larger, a hash missing', altered(honest, (h) => h.slice(1)), grown, false],
    ['larger, hashes added', altered(honest, (h) => [...h, ...Array(1000).fill(h[0])]), grown, false],
    ['larger, empty', altered(honest, () => []), grown, false],
    ['larger, 404', failing(new ClientError('log.out_of_range', 'no', { status: 404 })), grown, false],
    ['larger, 500', failing(new ClientError('client.http', 'no', { status: 500 })), grown, false],
    ['larger, unreadable', failing(new ClientError('client.bad_response', 'no')), grown, false],
    ['smaller, 404 (rolled back or not)', stub('missing'), checkpoint(forked.slice(0, 12)), false],
    ['smaller, its own proof', stub(forked), checkpoint(forked.slice(0, 12)), true],
    [
      'smaller honest prefix, 500',
      failing(new ClientError('client.http', 'no', { status: 500 })),
      checkpoint(honest.slice(0, 12)),
      false,
    ],
  ];
  for (const [name, client, latest, proofKept, from = trusted] of cases) {
    await assert.rejects(
      compareCheckpoints(client, 'log', from, latest),
      (e: ClientError) => {
        assert.equal(e.code, 'client.unproven_consistency', name);
        assert.equal(e.details?.trusted, from.note, name);
        assert.equal(e.details?.latest, latest.note, name);
        assert.equal((e.details!.proof as string[]).length > 0, proofKept, name);
        assert.doesNotMatch(e.message, /fork/, name);
        return true;
      },
      name,
    );
  }
});

test('a signed checkpoint of size 0 whose root is not SHA-256("") is client.bad_checkpoint', async () => {
  const bogus = signCheckpoint(
    { origin: 'example.com/log', size: 0, rootHash: rootOf(honest), extensions: [] },
    signer,
  );
  assert.throws(() => openVerified(bogus, verifier, undefined, 'the latest checkpoint'), {
    code: 'client.bad_checkpoint',
    message: 'the latest checkpoint is for an empty tree but its root is not SHA-256("")',
  });
  assert.equal(openVerified(checkpoint([]).note, verifier, undefined, 'x').size, 0);
});

test('a checkpoint that does not verify is client.bad_checkpoint', () => {
  const note = checkpoint(honest).note.replace('\n20\n', '\n21\n');
  assert.throws(() => openVerified(note, verifier, undefined, 'x'), { code: 'client.bad_checkpoint' });
  const other = parseVerifierKey(generateSignerKey('example.com/log').verifierKey);
  assert.throws(() => openVerified(checkpoint(honest).note, other, undefined, 'x'), {
    code: 'client.bad_checkpoint',
  });
});

test('trusted state round-trips through JSON and is parsed strictly', () => {
  const state = {
    checkpoint: checkpoint(honest).note,
    walked: { size: 3, lastLeafHash: 'ab'.repeat(32), range: ['cd'.repeat(32), 'ef'.repeat(32)] },
  };
  assert.deepEqual(parseTrustedState(formatTrustedState(state)), state);
  assert.deepEqual(parseTrustedState(formatTrustedState({ checkpoint: 'x' })), { checkpoint: 'x' });
  for (const bad of [
    'nope',
    '[]',
    '{"checkpoint":"x"}',
    '{"version":2,"checkpoint":"x"}',
    '{"version":1}',
    '{"version":1,"checkpoint":"x","walked":{"size":-1,"last_leaf_hash":"","range":[]}}',
    `{"version":1,"checkpoint":"x","walked":{"size":1,"last_leaf_hash":"${'AB'.repeat(32)}","range":[]}}`,
    `{"version":1,"checkpoint":"x","walked":{"size":1,"last_leaf_hash":"${'ab'.repeat(32)}","range":[1]}}`,
  ]) {
    assert.throws(() => parseTrustedState(bad), { code: 'client.bad_state' }, bad);
  }
});
