// `verify --export` and `verify --receipt` tie the checkpoint's origin to the key's name
// (Indelible names every log key after its log's origin; review G, A8): a checkpoint for another
// origin, validly signed by the key (a key misused for two logs), is not this log's.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { signCheckpoint } from '../core/checkpoint.js';
import { toHex } from '../core/encoding.js';
import { EMPTY_ROOT, hashLeaf } from '../core/merkle.js';
import { generateSignerKey, parseSignerKey } from '../core/note.js';
import { formatReceipt } from '../core/receipt.js';
import { cli } from './test-cli.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-verify-origin-'));
after(() => rmSync(root, { recursive: true, force: true }));

const NAME = 'indelible.local/test/acme';
const keys = generateSignerKey(NAME);
const signer = parseSignerKey(keys.signerKey);

function write(name: string, text: string): string {
  const path = join(root, name);
  writeFileSync(path, text);
  return path;
}

test("verify --export: a checkpoint for another origin than the key's name fails", async () => {
  const exportOf = (origin: string) =>
    `${JSON.stringify({ checkpoint: signCheckpoint({ origin, size: 0, rootHash: EMPTY_ROOT, extensions: [] }, signer), tree_size: 0, count: 0 })}\n`;
  const ok = await cli([
    'verify',
    '--export',
    write('own.ndjson', exportOf(NAME)),
    '--key',
    keys.verifierKey,
  ]);
  assert.equal(ok.status, 0, ok.stderr);
  const other = await cli([
    'verify',
    '--export',
    write('other.ndjson', exportOf('evil.example/other')),
    '--key',
    keys.verifierKey,
    '--json',
  ]);
  assert.equal(other.status, 1, other.stdout);
  const r = JSON.parse(other.stdout) as { code: string; message: string };
  assert.equal(r.code, 'export.bad_checkpoint');
  assert.match(r.message, /another origin/);
});

test("verify --receipt: a checkpoint for another origin than the key's name fails, with or without the leaf", async () => {
  const leaf = hashLeaf(new TextEncoder().encode('{"record":1}'));
  const receiptOf = (origin: string) =>
    formatReceipt({
      index: 0,
      proof: [],
      checkpoint: signCheckpoint({ origin, size: 1, rootHash: leaf, extensions: [] }, signer),
    });
  const own = write('own.receipt', receiptOf(NAME));
  const other = write('other.receipt', receiptOf('evil.example/other'));
  for (const more of [['--leaf-hash', toHex(leaf)], []]) {
    const ok = await cli(['verify', '--receipt', own, '--key', keys.verifierKey, ...more]);
    assert.equal(ok.status, 0, ok.stderr);
    const bad = await cli(['verify', '--receipt', other, '--key', keys.verifierKey, '--json', ...more]);
    assert.equal(bad.status, 1, bad.stdout);
    assert.equal((JSON.parse(bad.stdout) as { code: string }).code, 'receipt.origin_mismatch');
  }
});

test('checkpoint --verify: a checkpoint for another origin than the key names fails', async () => {
  const { createServer } = await import('node:http');
  let origin = NAME;
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(signCheckpoint({ origin, size: 0, rootHash: EMPTY_ROOT, extensions: [] }, signer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const run = () =>
    cli([
      'checkpoint',
      '--log',
      'acme',
      '--url',
      `http://127.0.0.1:${port}`,
      '--verify',
      '--key',
      keys.verifierKey,
    ]);
  try {
    assert.equal((await run()).status, 0);
    origin = 'indelible.local/test/other';
    const other = await run();
    assert.equal(other.status, 1, other.stderr);
    assert.match(other.stderr, /origin/);
  } finally {
    server.close();
  }
});
