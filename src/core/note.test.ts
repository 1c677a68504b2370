// Vectors: test/vectors/note (see its README) — golang/mod sumdb/note tests @ fe2ec04f,
// transparency-dev/formats @ 0b850f1a, C2SP/C2SP signed-note.md @ 5ba5ee83, and our derived
// 5-leaf checkpoint (accepted by sigstore-js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readVectorJson } from '../testing/paths.js';
import { fromHex, toHex } from './encoding.js';
import {
  formatVerifierKey,
  generateSignerKey,
  keyId,
  NoteError,
  type NoteVerifier,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  signerFromSeed,
  signNote,
} from './note.js';

interface GoVectors {
  keys: {
    PeterNeumann: { vkey: string; skey: string; keyIdHex: string };
    EnochRoot: { vkey: string; seedHex: string; keyIdHex: string };
  };
  text: string;
  signatures: { PeterNeumann: string; EnochRoot: string };
  signedNotes: { peterOnly: string; peterAndEnoch: string };
  invalidVkeys_mustReject: Array<{ vkey?: string }>;
  openCases: Array<{ note: string; verifiers: Array<'PeterNeumann' | 'EnochRoot'>; expect: string }>;
  malformedNotes_mustReject: Array<{ note?: string; noteBase64?: string; why: string }>;
}
interface TdVectors {
  realSumGolangOrgCheckpoint: { vkey: string; note: string };
  extraEd25519SignaturesOverSumNote: { vkeys: string[]; signatureLines: string[] };
  ed25519KeyPairs: Record<string, { vkey?: string; skey?: string; vkeyGivenInTest?: string }>;
  ecdsaCheckpoints_type0x02: {
    rekor: { vkey: string; note: string };
    pixel6: { vkey: string; note: string };
    staticCtVkey_type0x05: string;
  };
}
interface SpecVectors {
  signedNoteSpecExample_verifiable: { vkey: string; note: string; signedText: string };
  signedNoteIntroExample_formatOnly: { note: string };
  tlogCheckpointSpecExample_formatOnly: { note: string };
  tlogCosignatureSpecExample_formatOnly: { note: string };
}
interface DerivedVectors {
  signer: { name: string; ed25519SeedHex: string; publicKeyHex: string; keyIdHex: string; vkey: string };
  checkpointNote: string;
}

const go = readVectorJson<GoVectors>('note', 'golang-sumdb-note-vectors.json');
const td = readVectorJson<TdVectors>('note', 'transparency-dev-formats-vectors.json');
const spec = readVectorJson<SpecVectors>('note', 'c2sp-spec-examples.json');
const derived = readVectorJson<DerivedVectors>('note', 'derived-5-leaf-checkpoint-sigstore-verified.json');

const peter = parseVerifierKey(go.keys.PeterNeumann.vkey);
const enoch = parseVerifierKey(go.keys.EnochRoot.vkey);
const byName = { PeterNeumann: peter, EnochRoot: enoch };

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof NoteError, `expected NoteError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected a NoteError');
}

test('every Ed25519 vkey in the vectors parses, has the published key ID and formats back', (t) => {
  const vkeys = [
    go.keys.PeterNeumann.vkey,
    go.keys.EnochRoot.vkey,
    td.realSumGolangOrgCheckpoint.vkey,
    ...td.extraEd25519SignaturesOverSumNote.vkeys,
    ...Object.values(td.ed25519KeyPairs).flatMap((p) =>
      [p.vkey, p.vkeyGivenInTest].filter((k) => k !== undefined),
    ),
    spec.signedNoteSpecExample_verifiable.vkey,
    derived.signer.vkey,
  ];
  for (const vkey of vkeys) {
    const v = parseVerifierKey(vkey);
    const [name, hex] = vkey.split('+');
    assert.equal(v.name, name);
    assert.equal(toHex(v.keyId), hex);
    assert.equal(toHex(keyId(v.name, v.publicKey)), hex);
    assert.equal(formatVerifierKey(v.name, v.publicKey), vkey);
  }
  assert.equal(
    toHex(keyId(derived.signer.name, fromHex(derived.signer.publicKeyHex)!)),
    derived.signer.keyIdHex,
  );
  t.diagnostic(`${vkeys.length} vkeys parsed and re-formatted`);
});

test('Go signer keys parse to the public half of their vkey; seeds give the published vkeys', (t) => {
  const pairs: Array<[string, string]> = [[go.keys.PeterNeumann.skey, go.keys.PeterNeumann.vkey]];
  for (const p of Object.values(td.ed25519KeyPairs)) {
    const vkey = p.vkey ?? p.vkeyGivenInTest;
    if (p.skey !== undefined && vkey !== undefined) pairs.push([p.skey, vkey]);
  }
  for (const [skey, vkey] of pairs) {
    const s = parseSignerKey(skey);
    assert.equal(formatVerifierKey(s.name, s.publicKey), vkey);
  }
  const enochSigner = signerFromSeed('EnochRoot', fromHex(go.keys.EnochRoot.seedHex)!);
  assert.equal(formatVerifierKey(enochSigner.name, enochSigner.publicKey), go.keys.EnochRoot.vkey);
  const d = signerFromSeed(derived.signer.name, fromHex(derived.signer.ed25519SeedHex)!);
  assert.equal(formatVerifierKey(d.name, d.publicKey), derived.signer.vkey);
  t.diagnostic(`${pairs.length} skey/vkey pairs, 2 seeds`);
});

test('signing the Go example text reproduces the published notes byte for byte', () => {
  const p = parseSignerKey(go.keys.PeterNeumann.skey);
  const e = signerFromSeed('EnochRoot', fromHex(go.keys.EnochRoot.seedHex)!);
  assert.equal(signNote(go.text, [p]), go.signedNotes.peterOnly);
  assert.equal(signNote(go.text, [p]), `${go.text}\n${go.signatures.PeterNeumann}`);
  assert.equal(signNote(go.text, [p, e]), go.signedNotes.peterAndEnoch);
});

test('generateSignerKey gives a working, Go-formatted key pair', () => {
  const { signerKey, verifierKey } = generateSignerKey('example.com/log');
  // Base64 of 0x01 followed by 32 bytes: 44 characters, no padding, the first 'A' and the second in Q–f.
  assert.match(signerKey, /^PRIVATE\+KEY\+example\.com\/log\+[0-9a-f]{8}\+A[Q-Za-f][A-Za-z0-9+/]{42}$/);
  assert.match(verifierKey, /^example\.com\/log\+[0-9a-f]{8}\+A[Q-Za-f][A-Za-z0-9+/]{42}$/);
  assert.equal(signerKey.split('+')[3], verifierKey.split('+')[1]);
  const s = parseSignerKey(signerKey);
  const v = parseVerifierKey(verifierKey);
  assert.deepEqual(openNote(signNote('hello\n', [s]), [v]).text, 'hello\n');
  assert.equal(
    code(() => generateSignerKey('bad name')),
    'note.invalid_key',
  );
});

test('invalid verifier keys are rejected (Go TestNewVerifier)', (t) => {
  let n = 0;
  for (const c of go.invalidVkeys_mustReject) {
    if (c.vkey === undefined) continue;
    assert.equal(
      code(() => parseVerifierKey(c.vkey!)),
      'note.invalid_key',
      c.vkey,
    );
    n++;
  }
  const vkey = go.keys.PeterNeumann.vkey;
  for (let i = 0; i <= vkey.length; i++) {
    for (let j = i; j <= vkey.length; j++) {
      if (j - i === vkey.length) continue;
      assert.equal(
        code(() => parseVerifierKey(vkey.slice(i, j))),
        'note.invalid_key',
        vkey.slice(i, j),
      );
      n++;
    }
  }
  for (let i = 0; i < vkey.length; i++) {
    const bumped = vkey.slice(0, i) + String.fromCharCode(vkey.charCodeAt(i) + 1) + vkey.slice(i + 1);
    assert.equal(
      code(() => parseVerifierKey(bumped)),
      'note.invalid_key',
      bumped,
    );
    n++;
  }
  // Other signature types are well-formed keys that this Ed25519-only module does not accept.
  const other = [
    td.ecdsaCheckpoints_type0x02.rekor.vkey,
    td.ecdsaCheckpoints_type0x02.pixel6.vkey,
    td.ecdsaCheckpoints_type0x02.staticCtVkey_type0x05,
  ];
  for (const k of other)
    assert.equal(
      code(() => parseVerifierKey(k)),
      'note.invalid_key',
    );
  assert.equal(
    code(() => parseVerifierKey(vkey.replace('c74f20a3', 'C74F20A3'))),
    'note.invalid_key',
  );
  assert.equal(
    code(() => parseSignerKey(go.keys.PeterNeumann.vkey)),
    'note.invalid_key',
  );
  assert.equal(
    code(() => parseSignerKey(go.keys.PeterNeumann.skey.replace('c74f20a3', 'c74f20a4'))),
    'note.invalid_key',
  );
  t.diagnostic(`${n + other.length} invalid vkeys rejected`);
});

test('Go openCases', (t) => {
  for (const c of go.openCases) {
    const verifiers = c.verifiers.map((n) => byName[n]);
    if (c.expect.startsWith('ok')) {
      const opened = openNote(c.note, verifiers);
      assert.equal(opened.text, go.text);
      assert.deepEqual(
        opened.verified.map((s) => s.name),
        c.verifiers,
      );
      assert.deepEqual(
        opened.unverified.map((s) => s.name),
        ['PeterNeumann', 'EnochRoot'].filter((n) => !(c.verifiers as string[]).includes(n)),
      );
    } else {
      const expected = c.expect.includes('no verifiable')
        ? 'note.no_verified_signature'
        : c.expect.includes('100 signatures')
          ? 'note.too_many_signatures'
          : 'note.bad_signature';
      assert.equal(
        code(() => openNote(c.note, verifiers)),
        expected,
        c.expect,
      );
    }
  }
  t.diagnostic(`${go.openCases.length} open cases`);
});

test('Go malformed notes are rejected as note.malformed', (t) => {
  for (const c of go.malformedNotes_mustReject) {
    const input = c.note ?? new Uint8Array(Buffer.from(c.noteBase64!, 'base64'));
    assert.equal(
      code(() => openNote(input, [peter])),
      'note.malformed',
      c.why,
    );
  }
  t.diagnostic(`${go.malformedNotes_mustReject.length} malformed notes`);
});

test('more syntax rules: signature lines, encodings, controls, byte input', () => {
  const sig = go.signatures.PeterNeumann;
  const ok = go.signedNotes.peterOnly;
  assert.equal(openNote(new TextEncoder().encode(ok), [peter]).text, go.text);
  const bad: Array<[string, string | Uint8Array]> = [
    ['CR line ending', ok.replace('\n\n', '\r\n\n')],
    ['tab in text', `\t${ok}`],
    ['lone surrogate', `\ud800${ok}`],
    ['hyphen instead of em dash', `${go.text}\n- ${sig.slice(2)}`],
    ['no space after dash', `${go.text}\n\u2014${sig.slice(2)}`],
    ['missing base64', `${go.text}\n\u2014 PeterNeumann\n`],
    ['empty base64', `${go.text}\n\u2014 PeterNeumann \n`],
    ['name with plus', `${go.text}\n\u2014 Peter+Neumann ${sig.split(' ')[2]}`],
    ['name with NBSP', `${go.text}\n\u2014 Peter\u00a0Neumann ${sig.split(' ')[2]}`],
    ['empty name', `${go.text}\n\u2014  ${sig.split(' ')[2]}`],
    ['signature of 4 bytes', `${go.text}\n\u2014 PeterNeumann x08gow==\n`],
    ['non-canonical base64', ok.replace('AM=\n', 'AN=\n')],
    ['unpadded base64', ok.replace('AM=\n', 'AM\n')],
    ['trailing blank line', `${ok}\n`],
    ['invalid UTF-8 bytes', Uint8Array.of(...new TextEncoder().encode(go.text), 0xc3, 0x28, 0x0a, 0x0a)],
  ];
  for (const [why, note] of bad)
    assert.equal(
      code(() => openNote(note, [peter])),
      'note.malformed',
      why,
    );
  // A leading BOM is kept as text (ignoreBOM), so the signature over the text no longer verifies.
  const bom = Uint8Array.of(0xef, 0xbb, 0xbf, ...new TextEncoder().encode(ok));
  assert.equal(
    code(() => openNote(bom, [peter])),
    'note.bad_signature',
  );
});

test('C2SP signed-note examples', () => {
  const ex = spec.signedNoteSpecExample_verifiable;
  const opened = openNote(ex.note, [parseVerifierKey(ex.vkey)]);
  assert.equal(opened.text, ex.signedText);
  // No vkeys are published for these: they parse, and their signatures count as unknown.
  for (const note of [
    spec.signedNoteIntroExample_formatOnly.note,
    spec.tlogCheckpointSpecExample_formatOnly.note,
    spec.tlogCosignatureSpecExample_formatOnly.note,
  ]) {
    assert.equal(
      code(() => openNote(note, [peter])),
      'note.no_verified_signature',
    );
  }
  // The quasimodo text holds a blank line of its own: the split is at the LAST one.
  const text = spec.signedNoteIntroExample_formatOnly.note.split('\n\n\u2014')[0]!;
  assert.ok(text.includes('\n\n'));
  const s = parseSignerKey(go.keys.PeterNeumann.skey);
  assert.equal(openNote(signNote(`${text}\n`, [s]), [peter]).text, `${text}\n`);
});

test('sum.golang.org checkpoint with extra signatures; ECDSA notes count as unknown keys', (t) => {
  const sum = parseVerifierKey(td.realSumGolangOrgCheckpoint.vkey);
  assert.equal(openNote(td.realSumGolangOrgCheckpoint.note, [sum]).verified[0]?.name, 'sum.golang.org');
  const extra = td.extraEd25519SignaturesOverSumNote;
  const note = `${td.realSumGolangOrgCheckpoint.note}${extra.signatureLines.join('\n')}\n`;
  const all = [sum, ...extra.vkeys.map(parseVerifierKey)];
  const opened = openNote(note, all);
  assert.deepEqual(
    opened.verified.map((s) => s.name),
    ['sum.golang.org', 'monkeys', 'bananas', 'witness'],
  );
  assert.deepEqual(
    opened.unverified.map((s) => s.name),
    ['random1', 'random2'],
  );
  assert.equal(openNote(note, [sum]).unverified.length, 5);

  const ecdsa = [td.ecdsaCheckpoints_type0x02.rekor.note, td.ecdsaCheckpoints_type0x02.pixel6.note];
  for (const n of ecdsa)
    assert.equal(
      code(() => openNote(n, all)),
      'note.no_verified_signature',
    );
  // An ECDSA signature next to a verifiable one is simply skipped.
  const rekorSig = ecdsa[0]!.split('\n\n')[1]!;
  const mixed = openNote(`${td.realSumGolangOrgCheckpoint.note}${rekorSig}`, [sum]);
  assert.deepEqual(
    mixed.unverified.map((s) => [s.name, toHex(s.keyId)]),
    [['rekor.sigstore.dev', 'c0d23d6a']],
  );
  t.diagnostic(`${opened.verified.length} verified + ${opened.unverified.length} unknown signatures`);
});

test('a known key with a bad signature rejects the note, even beside a good one', () => {
  const p = parseSignerKey(go.keys.PeterNeumann.skey);
  const tampered = go.signedNotes.peterOnly.replace('answer', 'Answer');
  assert.equal(
    code(() => openNote(tampered, [peter])),
    'note.bad_signature',
  );
  // A second, different signature line from the same key must verify too.
  const other = signNote('other text\n', [p]).split('\n\n')[1]!;
  assert.equal(
    code(() => openNote(`${go.signedNotes.peterOnly}${other}`, [peter])),
    'note.bad_signature',
  );
  // Same name, other key ID (or same key ID, other name) is an unknown key, not a bad signature.
  const otherId = go.signedNotes.peterOnly.replace('x08go/', 'x08gp/');
  assert.equal(
    code(() => openNote(otherId, [peter])),
    'note.no_verified_signature',
  );
});

test('signature count limit is 100 lines', () => {
  const p = parseSignerKey(go.keys.PeterNeumann.skey);
  const unknown = Array.from({ length: 99 }, (_, i) => `\u2014 unknown${i} AAAAAAA=\n`).join('');
  assert.equal(openNote(`${signNote(go.text, [p])}${unknown}`, [peter]).unverified.length, 99);
  assert.equal(
    code(() => openNote(`${signNote(go.text, [p])}${unknown}\u2014 one-more AAAAAAA=\n`, [peter])),
    'note.too_many_signatures',
  );
});

test('signNote and verifiers reject invalid input with codes', () => {
  const p = parseSignerKey(go.keys.PeterNeumann.skey);
  for (const text of ['no newline', '', 'ctrl\u0007\n', 'cr\r\n', 'surrogate \udc00\n']) {
    assert.equal(
      code(() => signNote(text, [p])),
      'note.invalid_text',
      JSON.stringify(text),
    );
  }
  assert.equal(
    code(() => signNote('x\n', [])),
    'note.invalid_key',
  );
  assert.equal(
    code(() => signNote('x\n', [{ ...p, name: 'Other' }])),
    'note.invalid_key',
  );
  assert.equal(
    code(() => signNote('x\n', [{ ...p, seed: new Uint8Array(32) }])),
    'note.invalid_key',
  );
  assert.equal(
    code(() => signNote('x\n', [{ ...p, seed: new Uint8Array(3) }])),
    'note.invalid_key',
  );
  assert.equal(
    code(() => signerFromSeed('a b', new Uint8Array(32))),
    'note.invalid_key',
  );
  assert.equal(
    code(() => formatVerifierKey('ok', new Uint8Array(31))),
    'note.invalid_key',
  );
  const wrongId: NoteVerifier = { ...peter, keyId: Uint8Array.of(0, 0, 0, 0) };
  assert.equal(
    code(() => openNote(go.signedNotes.peterOnly, [wrongId])),
    'note.invalid_key',
  );
  const ambiguous: NoteVerifier = { ...peter, publicKey: enoch.publicKey };
  assert.equal(
    code(() => openNote(go.signedNotes.peterOnly, [peter, { ...ambiguous, keyId: peter.keyId }])),
    'note.invalid_key',
  );
});

test('property: random text and mutated notes either open or throw a NoteError', (t) => {
  const seeds = [
    go.signedNotes.peterAndEnoch,
    td.realSumGolangOrgCheckpoint.note,
    spec.signedNoteIntroExample_formatOnly.note,
  ];
  const verifiers = [peter, enoch, parseVerifierKey(td.realSumGolangOrgCheckpoint.vkey)];
  const alphabet = fc.constantFrom('\n', '\u2014', ' ', '+', '=', 'A', '/', '\u0000', '\ud800', 'é', '\n\n');
  const mutated = fc
    .tuple(fc.constantFrom(...seeds), fc.nat(), fc.nat(), fc.string({ unit: alphabet, maxLength: 8 }))
    .map(([s, a, b, ins]) => {
      const i = a % (s.length + 1);
      const j = Math.min(s.length, i + (b % 4));
      return s.slice(0, i) + ins + s.slice(j);
    });
  let opened = 0;
  let rejected = 0;
  fc.assert(
    fc.property(fc.oneof(mutated, fc.string({ unit: 'binary' }), fc.string({ unit: alphabet })), (note) => {
      try {
        openNote(note, verifiers);
        opened++;
      } catch (err) {
        if (!(err instanceof NoteError)) throw err;
        rejected++;
      }
      for (const parse of [parseVerifierKey, parseSignerKey]) {
        try {
          parse(note);
        } catch (err) {
          if (!(err instanceof NoteError)) throw err;
        }
      }
    }),
    { numRuns: 5000 },
  );
  t.diagnostic(`fuzz: ${opened} opened, ${rejected} rejected with a NoteError`);
});
