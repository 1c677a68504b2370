// `indelible verify --url` against a hostile server (review G): a plain node:http server that
// signs its own trees with the log's key (an insider) or answers with whatever it likes. What the
// CLI prints must stay the truth: no terminal controls from the server, no fork claimed without
// proof, every failure reported in --json.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { formatTrustedState } from '../client/trust.js';
import { signCheckpoint } from '../core/checkpoint.js';
import { toHex } from '../core/encoding.js';
import { hashLeaf, rootOf } from '../core/merkle.js';
import { generateSignerKey, parseSignerKey } from '../core/note.js';
import { proveConsistency } from '../core/proof.js';
import { cli, standInServer } from './test-cli.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-cli-hostile-'));
const keys = generateSignerKey('example.com/acme');
const signer = parseSignerKey(keys.signerKey);
const leaves = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => hashLeaf(new TextEncoder().encode(`${tag}${i}`)));
const note = (tree: Uint8Array[], rootHash: Uint8Array = rootOf(tree)) =>
  signCheckpoint({ origin: 'example.com/acme', size: tree.length, rootHash, extensions: [] }, signer);

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
const server = standInServer((req, res) => handler(req, res));
after(() => rmSync(root, { recursive: true, force: true }));

const problem = (res: ServerResponse, status: number, code: string, detail: string) => {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ code, detail }));
};

/** A server whose checkpoint is `served`, and whose consistency proofs come from `tree` (or `proof`). */
function serving(served: string, tree: Uint8Array[], proof?: (res: ServerResponse) => void): Handler {
  return (req, res) => {
    const u = new URL(req.url ?? '/', server.url);
    if (u.pathname === '/v1/logs/acme/checkpoint') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(served);
    } else if (u.pathname === '/v1/logs/acme/proofs/consistency') {
      if (proof !== undefined) return proof(res);
      const from = Number(u.searchParams.get('from'));
      const to = Number(u.searchParams.get('to'));
      const read = async (nodes: readonly { level: number; index: number }[]) =>
        nodes.map(({ level, index }) => rootOf(tree.slice(index * 2 ** level, (index + 1) * 2 ** level)));
      void proveConsistency(from, to, read).then((hashes) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ from, to, hashes: hashes.map(toHex) }));
      });
    } else problem(res, 404, 'route.not_found', 'no');
  };
}

let n = 0;
/** `verify --url … --checkpoint-only`, with a state file holding `trusted` when given. */
async function verify(trusted: string | undefined, ...extra: string[]) {
  const state = join(root, `s${n++}.state`);
  if (trusted !== undefined) writeFileSync(state, formatTrustedState({ checkpoint: trusted }));
  const args = [
    'verify',
    '--url',
    server.url,
    '--log',
    'acme',
    '--key',
    keys.verifierKey,
    '--checkpoint-only',
  ];
  const r = await cli([...args, '--state', state, ...extra]);
  return { ...r, state: existsSync(state) ? readFileSync(state, 'utf8') : undefined };
}

test("the server's problem text is printed escaped, and its client.* code is not adopted", async () => {
  handler = (_req, res) =>
    problem(res, 503, 'client.fork_detected', '\n\x1b[1A\x1b[2K\racme: OK, tree size 600\n\x1b[8m');
  const r = await verify(undefined);
  assert.equal(r.status, 1);
  assert.doesNotMatch(r.stderr, /[\x1b\r]/);
  assert.match(r.stderr, /\\x1b\[1A\\x1b\[2K\\x0dacme: OK, tree size 600\\x0a\\x1b\[8m \[client\.http\]\n$/);
  assert.doesNotMatch(r.stderr, /fork/);
});

test('--json reports every failure, not only verification failures', async () => {
  handler = (_req, res) => problem(res, 500, 'server.internal', 'boom');
  let r = await verify(undefined, '--json');
  assert.equal(r.status, 1);
  assert.deepEqual(
    (({ ok, code }) => ({ ok, code }))(JSON.parse(r.stdout) as { ok: boolean; code: string }),
    { ok: false, code: 'server.internal' },
  );
  assert.match(r.stderr, /\[server\.internal\]\n$/);
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(Buffer.from([0xff, 0xfe]));
  };
  r = await verify(undefined, '--json');
  assert.equal(r.status, 1);
  assert.equal((JSON.parse(r.stdout) as { code: string }).code, 'client.bad_response');
});

test('a proof that fails or is not given is "not proven", with both notes, never a fork', async () => {
  const honest = leaves('a', 20);
  const trusted = note(honest.slice(0, 15));
  const latest = note(honest);
  const flipped = (res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ from: 15, to: 20, hashes: Array(6).fill('ab'.repeat(32)) }));
  };
  const cases: Array<[string, Handler]> = [
    ['a wrong proof', serving(latest, honest, flipped)],
    ['HTTP 500', serving(latest, honest, (res) => problem(res, 500, 'server.internal', 'x'))],
    ['HTTP 404', serving(latest, honest, (res) => problem(res, 404, 'log.out_of_range', 'x'))],
    [
      'a huge proof',
      serving(latest, honest, (res) =>
        res.end(`{"hashes":["${'00'.repeat(32)}"${`,"${'00'.repeat(32)}"`.repeat(100_000)}]}`),
      ),
    ],
  ];
  for (const [name, h] of cases) {
    handler = h;
    const before = formatTrustedState({ checkpoint: trusted });
    const r = await verify(trusted);
    assert.equal(r.status, 1, name);
    assert.match(
      r.stderr,
      /verification FAILED: consistency not proven for example\.com\/acme: .*\[client\.unproven_consistency\]\n/,
      name,
    );
    assert.ok(r.stderr.includes(trusted) && r.stderr.includes(latest), `${name}: both notes printed`);
    assert.doesNotMatch(r.stderr, /fork detected|fork_detected|cannot both be true/, name);
    assert.ok(r.stderr.length < 4000, `${name}: no flood`);
    assert.equal(r.state, before, `${name}: the state is kept`);
  }
  // A real fork (the server's own proof leads to its root, not to the trusted one) still is one.
  const forked = [...honest.slice(0, 10), ...leaves('b', 10)];
  handler = serving(note(forked), forked);
  const r = await verify(trusted, '--json');
  assert.equal(r.status, 1);
  assert.equal((JSON.parse(r.stdout) as { code: string }).code, 'client.fork_detected');
  assert.match(r.stderr, /cannot both be true/);
});

test('an impossible empty tree is refused; an older prefix passes with a warning naming both sizes', async () => {
  const honest = leaves('a', 20);
  const trusted = note(honest.slice(0, 15));
  handler = serving(note([], rootOf(honest)), honest);
  for (const state of [trusted, undefined]) {
    const r = await verify(state, '--json');
    assert.equal(r.status, 1);
    assert.equal((JSON.parse(r.stdout) as { code: string }).code, 'client.bad_checkpoint');
    assert.match(r.stderr, /empty tree but its root is not SHA-256\(""\)/);
  }
  handler = serving(note(honest.slice(0, 10)), honest);
  const r = await verify(trusted);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /OK, tree size 15, .*stale, not a fork/);
  assert.match(r.stderr, /warning: the server serves tree size 10, behind the trusted tree size 15/);
});
