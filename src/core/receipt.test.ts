// Vectors: test/vectors/note (see its README) — the derived 5-leaf tree, its inclusion proofs and
// signed checkpoint (accepted by sigstore-js), and the C2SP tlog-proof.md example @ 5ba5ee83.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readVectorJson } from '../testing/paths.js';
import { fromHex, toBase64, utf8 } from './encoding.js';
import { parseVerifierKey, signerFromSeed, signNote } from './note.js';
import { formatReceipt, parseReceipt, type Receipt, ReceiptError, verifyReceipt } from './receipt.js';

interface DerivedVectors {
  leavesUtf8: string[];
  leafHashes: string[];
  treeSize: number;
  inclusionProofs: Array<{ leafIndex: number; treeSize: number; proof: string[] }>;
  signer: { name: string; ed25519SeedHex: string; vkey: string };
  checkpointNote: string;
}
const derived = readVectorJson<DerivedVectors>('note', 'derived-5-leaf-checkpoint-sigstore-verified.json');
const spec = readVectorJson<{ tlogProofSpecExample_formatOnly: string }>('note', 'c2sp-spec-examples.json');
const td = readVectorJson<{ ed25519KeyPairs: { Log: { vkey: string } } }>(
  'note',
  'transparency-dev-formats-vectors.json',
);

const origin = derived.signer.name;
const logVerifier = parseVerifierKey(derived.signer.vkey);
const logSigner = signerFromSeed(origin, fromHex(derived.signer.ed25519SeedHex)!);
const hex = (h: string) => fromHex(h)!;

function receiptFor(i: number, overrides: Partial<Receipt> = {}): string {
  const p = derived.inclusionProofs[i]!;
  return formatReceipt({
    index: p.leafIndex,
    proof: p.proof.map(hex),
    checkpoint: derived.checkpointNote,
    ...overrides,
  });
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ReceiptError, `expected ReceiptError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected a ReceiptError');
}

test('receipts for every leaf of the derived 5-leaf tree verify, by record and by leaf hash', (t) => {
  for (const p of derived.inclusionProofs) {
    const text = receiptFor(p.leafIndex);
    const byRecord = verifyReceipt(
      text,
      logVerifier,
      { record: utf8(derived.leavesUtf8[p.leafIndex]!) },
      origin,
    );
    assert.equal(byRecord.index, p.leafIndex);
    assert.equal(byRecord.checkpoint.size, derived.treeSize);
    assert.equal(byRecord.extra, undefined);
    const byHash = verifyReceipt(text, logVerifier, hex(derived.leafHashes[p.leafIndex]!));
    assert.equal(byHash.index, p.leafIndex);
  }
  t.diagnostic(`${derived.inclusionProofs.length} receipts verified`);
});

test('the receipt text has the exact tlog-proof layout', () => {
  const p = derived.inclusionProofs[4]!;
  const expected = `c2sp.org/tlog-proof@v1\nindex 4\n${Buffer.from(p.proof[0]!, 'hex').toString('base64')}\n\n${derived.checkpointNote}`;
  assert.equal(receiptFor(4), expected);
  const withExtra = receiptFor(0, { extra: utf8('vrf') });
  assert.ok(withExtra.startsWith('c2sp.org/tlog-proof@v1\nextra dnJm\nindex 0\n'));
  assert.deepEqual(verifyReceipt(withExtra, logVerifier, { record: utf8('alpha') }).extra, utf8('vrf'));
  // Empty extra data is "no extra data": the line is omitted.
  assert.equal(receiptFor(0, { extra: new Uint8Array(0) }), receiptFor(0));
});

test('the C2SP tlog-proof example parses and re-formats byte for byte', () => {
  const text = spec.tlogProofSpecExample_formatOnly;
  const r = parseReceipt(text);
  assert.equal(r.index, 73894);
  assert.equal(r.proof.length, 5);
  assert.equal(toBase64(r.proof[0]!), 'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=');
  assert.equal(toBase64(r.proof[4]!), 'AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=');
  assert.equal(toBase64(r.extra!), 'YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ');
  assert.ok(
    r.checkpoint.startsWith('example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n'),
  );
  assert.equal(r.checkpoint.split('\n\u2014 ').length, 5);
  assert.equal(formatReceipt(r), text);
  // Its signatures are elided ("[...]"), so the checkpoint note itself is malformed.
  assert.equal(
    code(() => verifyReceipt(text, logVerifier, new Uint8Array(32))),
    'receipt.malformed',
  );
});

test('tampered index, proof, checkpoint, leaf, or the wrong key each fail with a code', () => {
  const p0 = derived.inclusionProofs[0]!.proof.map(hex);
  const alpha = { record: utf8('alpha') };
  const flipped = p0.map((h, i) => (i === 1 ? Uint8Array.from(h, (b, j) => (j === 0 ? b ^ 1 : b)) : h));
  const tamperedNote = (from: string, to: string) => {
    assert.ok(derived.checkpointNote.includes(from));
    return derived.checkpointNote.replace(from, to);
  };
  const otherSigned = signNote(`${origin}\n5\n${toBase64(new Uint8Array(32))}\n`, [logSigner]);
  const cases: Array<[string, string, Parameters<typeof verifyReceipt>[2], string]> = [
    ['index of a sibling', receiptFor(0, { index: 1 }), alpha, 'receipt.inclusion_failed'],
    ['index at tree size', receiptFor(0, { index: 5 }), alpha, 'receipt.index_out_of_range'],
    ['index far out', receiptFor(0, { index: 2 ** 53 - 1 }), alpha, 'receipt.index_out_of_range'],
    ['proof of another leaf', receiptFor(4, { index: 0 }), alpha, 'receipt.inclusion_failed'],
    ['flipped proof bit', receiptFor(0, { proof: flipped }), alpha, 'receipt.inclusion_failed'],
    ['proof hash dropped', receiptFor(0, { proof: p0.slice(0, 2) }), alpha, 'receipt.inclusion_failed'],
    ['proof hash added', receiptFor(0, { proof: [...p0, p0[0]!] }), alpha, 'receipt.inclusion_failed'],
    [
      'proof reordered',
      receiptFor(0, { proof: [p0[1]!, p0[0]!, p0[2]!] }),
      alpha,
      'receipt.inclusion_failed',
    ],
    ['other record', receiptFor(0), { record: utf8('bravo') }, 'receipt.inclusion_failed'],
    ['other leaf hash', receiptFor(0), hex(derived.leafHashes[1]!), 'receipt.inclusion_failed'],
    [
      'checkpoint size edited',
      receiptFor(0, { checkpoint: tamperedNote('\n5\n', '\n6\n') }),
      alpha,
      'receipt.bad_signature',
    ],
    [
      'checkpoint root edited',
      receiptFor(0, { checkpoint: tamperedNote('J/taw', 'J/tax') }),
      alpha,
      'receipt.bad_signature',
    ],
    [
      'signed checkpoint with other root',
      receiptFor(0, { checkpoint: otherSigned }),
      alpha,
      'receipt.inclusion_failed',
    ],
    [
      'checkpoint unsigned by log',
      receiptFor(0, { checkpoint: tamperedNote('\u2014 example.com/audit-log', '\u2014 someone.else') }),
      alpha,
      'receipt.unverified',
    ],
    [
      'checkpoint body not a checkpoint',
      receiptFor(0, { checkpoint: signNote('hello\n', [logSigner]) }),
      alpha,
      'receipt.malformed',
    ],
  ];
  for (const [why, text, leaf, expected] of cases) {
    assert.equal(
      code(() => verifyReceipt(text, logVerifier, leaf, origin)),
      expected,
      why,
    );
  }
  assert.equal(
    code(() => verifyReceipt(receiptFor(0), parseVerifierKey(td.ed25519KeyPairs.Log.vkey), alpha)),
    'receipt.unverified',
  );
  assert.equal(
    code(() => verifyReceipt(receiptFor(0), logVerifier, alpha, 'example.com/other')),
    'receipt.origin_mismatch',
  );
  assert.equal(
    code(() => verifyReceipt(receiptFor(0), logVerifier, new Uint8Array(31))),
    'receipt.invalid',
  );
  assert.equal(
    code(() => verifyReceipt(receiptFor(0), logVerifier, {} as { record: Uint8Array })),
    'receipt.invalid',
  );
});

test('malformed receipt framing is rejected as receipt.malformed', (t) => {
  const good = receiptFor(0);
  const [header, indexLine, h1, h2, h3] = good.split('\n') as [string, string, string, string, string];
  const rest = `\n${derived.checkpointNote}`;
  const proofLines = `${h1}\n${h2}\n${h3}\n`;
  const bad: Array<[string, string]> = [
    ['empty', ''],
    ['no header', `${indexLine}\n${proofLines}${rest}`],
    ['other version', `c2sp.org/tlog-proof@v2\n${indexLine}\n${proofLines}${rest}`],
    ['header with CR', `${header}\r\n${indexLine}\n${proofLines}${rest}`],
    ['no index line', `${header}\n${proofLines}${rest}`],
    ['leading zero', `${header}\nindex 00\n${proofLines}${rest}`],
    ['sign', `${header}\nindex +0\n${proofLines}${rest}`],
    ['negative', `${header}\nindex -1\n${proofLines}${rest}`],
    ['hex', `${header}\nindex 0x0\n${proofLines}${rest}`],
    ['double space', `${header}\nindex  0\n${proofLines}${rest}`],
    ['beyond 2^53 - 1', `${header}\nindex 9007199254740992\n${proofLines}${rest}`],
    ['extra after index', `${header}\n${indexLine}\nextra dnJm\n${proofLines}${rest}`],
    ['empty extra', `${header}\nextra \n${indexLine}\n${proofLines}${rest}`],
    ['extra not base64', `${header}\nextra !!\n${indexLine}\n${proofLines}${rest}`],
    ['short proof hash', `${header}\n${indexLine}\n${toBase64(new Uint8Array(31))}\n${rest}`],
    ['long proof hash', `${header}\n${indexLine}\n${toBase64(new Uint8Array(33))}\n${rest}`],
    ['unpadded proof hash', `${header}\n${indexLine}\n${h1.slice(0, -1)}\n${rest}`],
    ['54 proof hashes', `${header}\n${indexLine}\n${`${h1}\n`.repeat(54)}${rest}`],
    ['no empty line', `${header}\n${indexLine}\n${proofLines}${derived.checkpointNote}`],
    ['no checkpoint', `${header}\n${indexLine}\n${proofLines}\n`],
    ['unterminated', `${header}\n${indexLine}`],
    [
      'checkpoint without signatures',
      `${header}\n${indexLine}\n${proofLines}\n${derived.checkpointNote.split('\n\n')[0]}\n`,
    ],
    ['control character', good.replace('index 0', 'index 0\u0000')],
  ];
  for (const [why, text] of bad) {
    assert.equal(
      code(() => parseReceipt(text)),
      'receipt.malformed',
      why,
    );
    assert.equal(
      code(() => verifyReceipt(text, logVerifier, { record: utf8('alpha') })),
      'receipt.malformed',
      why,
    );
  }
  assert.equal(parseReceipt(`${header}\nindex 0\n${rest}`).proof.length, 0);
  t.diagnostic(`${bad.length} malformed receipts`);
});

test('formatReceipt refuses parts that cannot form a receipt', () => {
  const ok: Receipt = { index: 0, proof: [], checkpoint: derived.checkpointNote };
  const bad: Array<Partial<Receipt>> = [
    { index: -1 },
    { index: 0.5 },
    { index: 2 ** 53 },
    { proof: [new Uint8Array(31)] },
    { proof: Array.from({ length: 54 }, () => new Uint8Array(32)) },
    { checkpoint: 'example.com/log\n1\n' },
    { checkpoint: '' },
    { checkpoint: derived.checkpointNote.slice(0, -1) },
  ];
  for (const b of bad)
    assert.equal(
      code(() => formatReceipt({ ...ok, ...b })),
      'receipt.invalid',
      JSON.stringify(b),
    );
});

test('property: parseReceipt(formatReceipt(r)) returns r', () => {
  const receipt = fc.record(
    {
      index: fc.maxSafeNat(),
      proof: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 53 }),
      checkpoint: fc.constant(derived.checkpointNote),
      extra: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    },
    { requiredKeys: ['index', 'proof', 'checkpoint'] },
  );
  fc.assert(
    fc.property(receipt, (r) => {
      assert.deepEqual(parseReceipt(formatReceipt(r)), { ...r });
    }),
    { numRuns: 1000 },
  );
});

test('property: random and mutated receipts either verify or throw a ReceiptError', (t) => {
  const seeds = [receiptFor(0), receiptFor(4, { extra: utf8('x') }), spec.tlogProofSpecExample_formatOnly];
  const unit = fc.constantFrom(
    '\n',
    '0',
    '1',
    '-',
    '+',
    '=',
    'A',
    '/',
    ' ',
    'index ',
    'extra ',
    '\u2014 ',
    '\u0000',
    '\ud800',
  );
  const mutated = fc
    .tuple(fc.constantFrom(...seeds), fc.nat(), fc.nat(), fc.string({ unit, maxLength: 6 }))
    .map(([s, a, b, ins]) => {
      const i = a % (s.length + 1);
      return s.slice(0, i) + ins + s.slice(Math.min(s.length, i + (b % 3)));
    });
  let ok = 0;
  let rejected = 0;
  fc.assert(
    fc.property(fc.oneof(mutated, fc.string({ unit: 'binary' }), fc.string({ unit })), (text) => {
      try {
        parseReceipt(text);
        const v = verifyReceipt(text, logVerifier, { record: utf8('alpha') });
        // Whatever survives a mutation must still state the one true fact: alpha is entry 0 of 5.
        assert.equal(v.index, 0);
        assert.equal(v.checkpoint.size, 5);
        ok++;
      } catch (err) {
        if (!(err instanceof ReceiptError)) throw err;
        rejected++;
      }
    }),
    { numRuns: 5000 },
  );
  t.diagnostic(`fuzz: ${ok} verified, ${rejected} rejected with a ReceiptError`);
});
