import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openCheckpoint, signCheckpoint } from './checkpoint.js';
import { generateSignerKey, parseSignerKey, parseVerifierKey } from './note.js';
import {
  contradictsStatement,
  formatPruneStatement,
  openPruneStatement,
  PRUNE_ACTION,
  type PruneStatement,
  PruneStatementError,
  parsePruneStatement,
  signPruneStatement,
  statementFits,
  statementOfEvent,
} from './prune-statement.js';

const keys = generateSignerKey('example.com/acme');
const signer = parseSignerKey(keys.signerKey);
const verifier = parseVerifierKey(keys.verifierKey);
const root = new Uint8Array(32).fill(7);

const statement: PruneStatement = {
  origin: 'example.com/acme',
  minimumIndex: 512,
  treeSize: 1000,
  rootHash: root,
  receivedBefore: '2026-11-27T10:00:00.000Z',
};

const code = (c: string) => (err: unknown) => err instanceof PruneStatementError && err.code === c;

test('the statement text is exactly the documented format', () => {
  // 32 bytes of 0x07 in base64, written out by hand.
  assert.equal(
    formatPruneStatement(statement),
    'indelible.prune/v1\norigin example.com/acme\nminimum_index 512\ntree_size 1000\n' +
      'root_hash BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\nreceived_before 2026-11-27T10:00:00.000Z\n',
  );
});

test('a signed statement opens with the log key and round-trips', () => {
  const note = signPruneStatement(statement, signer);
  const opened = openPruneStatement(note, verifier, 'example.com/acme');
  assert.deepEqual(opened, statement);
});

test('a changed statement, another key or another origin is rejected', () => {
  const note = signPruneStatement(statement, signer);
  const forged = note.replace('minimum_index 512', 'minimum_index 768');
  assert.throws(() => openPruneStatement(forged, verifier), code('prune_statement.unverified'));
  const other = parseVerifierKey(generateSignerKey('example.com/acme').verifierKey);
  assert.throws(() => openPruneStatement(note, other), code('prune_statement.unverified'));
  assert.throws(
    () => openPruneStatement(note, verifier, 'example.com/other'),
    code('prune_statement.origin_mismatch'),
  );
  assert.throws(() => openPruneStatement('not a note', verifier), code('prune_statement.malformed'));
});

test('statements and checkpoints signed by the same key are never confused', () => {
  const statementNote = signPruneStatement(statement, signer);
  assert.throws(() => openCheckpoint(statementNote, verifier));
  const checkpointNote = signCheckpoint(
    { origin: 'example.com/acme', size: 1000, rootHash: root, extensions: [] },
    signer,
  );
  assert.throws(() => openPruneStatement(checkpointNote, verifier), code('prune_statement.malformed'));
});

test('impossible or non-canonical values are refused', () => {
  const text = formatPruneStatement(statement);
  const bad = [
    text.replace('minimum_index 512', 'minimum_index 500'), // not a whole bundle
    text.replace('minimum_index 512', 'minimum_index 0'), // prunes nothing
    text.replace('minimum_index 512', 'minimum_index 0512'), // leading zero
    text.replace('tree_size 1000', 'tree_size 256'), // below the minimum index
    text.replace('tree_size 1000', 'tree_size +1000'),
    text.replace('root_hash BwcH', 'root_hash AAAA'.slice(0, 13)), // short root
    text.replace('received_before 2026-11-27T10:00:00.000Z', 'received_before yesterday'),
    text.replace('origin example.com/acme', 'origin '),
    `${text}extra line\n`,
    text.slice(0, -1), // no final newline
    text.replace('indelible.prune/v1', 'indelible.prune/v2'),
    text.replace('tree_size 1000\n', ''), // a field missing
  ];
  for (const t of bad) assert.throws(() => parsePruneStatement(t), code('prune_statement.malformed'), t);
  assert.throws(
    () => formatPruneStatement({ ...statement, rootHash: new Uint8Array(31) }),
    code('prune_statement.malformed'),
  );
  assert.throws(
    () => formatPruneStatement({ ...statement, origin: 'two words' }),
    code('prune_statement.malformed'),
  );
});

test('statementOfEvent: only a prune record with a string statement carries one', () => {
  const note = signPruneStatement(statement, signer);
  assert.equal(statementOfEvent({ action: PRUNE_ACTION, metadata: { statement: note } }), note);
  assert.equal(statementOfEvent({ action: 'document.update', metadata: { statement: note } }), undefined);
  assert.equal(statementOfEvent({ action: PRUNE_ACTION, metadata: { statement: 42 } }), undefined);
  assert.equal(statementOfEvent({ action: PRUNE_ACTION }), undefined);
  assert.equal(statementOfEvent(null), undefined);
});

test('statementFits: same minimum index, a tree no larger than the verified one, held at or past it', () => {
  const at = { minimumIndex: 512, treeSize: 1000, statementIndex: 1000 };
  assert.equal(statementFits(statement, at), true);
  assert.equal(statementFits(statement, { ...at, treeSize: 5000 }), true);
  assert.equal(statementFits(statement, { ...at, minimumIndex: 768 }), false, 'another minimum index');
  assert.equal(statementFits(statement, { ...at, treeSize: 999 }), false, 'signs a larger tree');
  assert.equal(statementFits(statement, { ...at, statementIndex: 511 }), false, 'record pruned itself');
});

test('contradictsStatement: only at the statement tree size, only for another root', () => {
  let computed = 0;
  const rootOf = (r: Uint8Array) => () => {
    computed++;
    return r;
  };
  assert.equal(contradictsStatement(statement, 999, rootOf(new Uint8Array(32))), false);
  assert.equal(computed, 0, 'the root is not computed at other sizes');
  assert.equal(contradictsStatement(statement, 1000, rootOf(new Uint8Array(32).fill(7))), false);
  assert.equal(contradictsStatement(statement, 1000, rootOf(new Uint8Array(32).fill(8))), true);
});
