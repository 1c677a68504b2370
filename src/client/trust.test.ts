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

test('forks carry both notes: same size, failed proof, a rollback that cannot be proven', async () => {
  const trusted = checkpoint(honest.slice(0, 15));
  const cases: Array<[string, IndelibleClient, ReturnType<typeof checkpoint>]> = [
    ['same size, other root', stub(forked), checkpoint(forked.slice(0, 15))],
    ['larger, not an extension', stub(forked), checkpoint(forked)],
    ['smaller, not a prefix', stub(forked), checkpoint(forked.slice(0, 12))],
    ['smaller, no proof (rolled back)', stub('missing'), checkpoint(forked.slice(0, 12))],
  ];
  for (const [name, client, latest] of cases) {
    await assert.rejects(
      compareCheckpoints(client, 'log', trusted, latest),
      (e: ClientError) =>
        e.code === 'client.fork_detected' &&
        e.details?.trusted === trusted.note &&
        e.details?.latest === latest.note &&
        Array.isArray(e.details?.proof),
      name,
    );
  }
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
