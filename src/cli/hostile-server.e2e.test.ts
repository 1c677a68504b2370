// `indelible verify --url` against a hostile server (review G): a plain node:http server that
// signs its own trees with the log's key (an insider) or answers with whatever it likes. What the
// CLI prints must stay the truth: no terminal controls from the server, no fork claimed without
// proof, every failure reported in --json.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatTrustedState } from '../client/trust.js';
import { generateSignerKey } from '../core/note.js';
import { cli } from './test-cli.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-cli-hostile-'));
const keys = generateSignerKey('example.com/acme');
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
const server = createServer((req, res) => handler(req, res));
let url = '';

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(root, { recursive: true, force: true });
});

const problem = (res: ServerResponse, status: number, code: string, detail: string) => {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ code, detail }));
};

let n = 0;
/** `verify --url … --checkpoint-only`, with a state file holding `trusted` when given. */
async function verify(trusted: string | undefined, ...extra: string[]) {
  const state = join(root, `s${n++}.state`);
  if (trusted !== undefined) writeFileSync(state, formatTrustedState({ checkpoint: trusted }));
  const args = ['verify', '--url', url, '--log', 'acme', '--key', keys.verifierKey, '--checkpoint-only'];
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
