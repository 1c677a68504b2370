// The SDK's HTTP layer against a hostile server (review G): bodies are bounded while they are read
// (after fetch decodes gzip, so a small bomb on the wire cannot fill memory), and a server's
// problem+json can neither inject terminal controls into messages nor claim the SDK's own codes.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { IndelibleClient } from './client.js';
import type { ClientError } from './errors.js';
import { BODY_LIMITS } from './http.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
const server = createServer((req, res) => handler(req, res));
let client: IndelibleClient;

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new IndelibleClient({ url: `http://127.0.0.1:${port}`, apiKey: 'k' });
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const MiB = 1024 * 1024;

test('a gzip bomb is stopped at the limit, counted on decoded bytes', async () => {
  // 64 MiB of zeros: about 64 KiB on the wire.
  const bomb = gzipSync(new Uint8Array(64 * MiB));
  assert.ok(bomb.length < MiB);
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
    res.end(bomb);
  };
  await assert.rejects(client.checkpoint('acme'), (e: ClientError) => {
    assert.equal(e.code, 'client.bad_response');
    assert.match(e.message, /^the checkpoint is larger than 1048576 bytes$/);
    return true;
  });
});

test('plain bodies: each kind of answer has its own limit', async () => {
  let size = 0;
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    // Written in chunks without a Content-Length: the limit must hold while streaming.
    const chunk = new Uint8Array(4096);
    for (let left = size; left > 0; left -= chunk.length) res.write(chunk.subarray(0, Math.min(left, 4096)));
    res.end();
  };
  size = BODY_LIMITS.hashTile;
  assert.equal((await client.tile('acme', 'tile/0/000')).length, size);
  size = BODY_LIMITS.hashTile + 1;
  await assert.rejects(client.tile('acme', 'tile/0/000'), {
    code: 'client.bad_response',
    message: 'the tile tile/0/000 is larger than 8192 bytes',
  });
  size = BODY_LIMITS.entryBundle;
  assert.equal((await client.tile('acme', 'tile/entries/000')).length, size);
  size = BODY_LIMITS.entryBundle + 1;
  await assert.rejects(client.tile('acme', 'tile/entries/000'), { code: 'client.bad_response' });
  size = 2 * MiB;
  await assert.rejects(client.receipt('acme', 1), {
    code: 'client.bad_response',
    message: 'the receipt is larger than 1048576 bytes',
  });
  await assert.rejects(client.getLog('acme'), {
    code: 'client.bad_response',
    message: 'the answer to GET /v1/logs/acme is larger than 1048576 bytes',
  });
  await assert.rejects(client.consistencyProof('acme', 1, 2), { code: 'client.bad_response' });
});

test('a Content-Length over the limit is refused before the body is read', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(2 * MiB) });
    res.write('x'); // and then nothing: only the header can tell
  };
  await assert.rejects(client.checkpoint('acme'), { code: 'client.bad_response' });
});

test('an export line longer than its limit fails; the stream is not buffered whole', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.end(`"${'a'.repeat(BODY_LIMITS.exportLine + 10)}`);
  };
  await assert.rejects(
    (async () => {
      for await (const _ of client.export('acme')) {
        // nothing
      }
    })(),
    { code: 'client.bad_response', message: `an export line is longer than ${BODY_LIMITS.exportLine} bytes` },
  );
});

test('an oversized problem body is ignored: the status is still reported', async () => {
  handler = (_req, res) => {
    res.writeHead(500, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ code: 'log.x', detail: 'y'.repeat(BODY_LIMITS.problem) }));
  };
  await assert.rejects(client.getLog('acme'), { code: 'client.http', status: 500 });
});

test("a server's problem cannot inject terminal controls nor claim the SDK's own codes", async () => {
  let problem: Record<string, unknown> = {};
  handler = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify(problem));
  };
  const forged = '\n\x1b[1A\x1b[2K\racme: OK, tree size 600\u202e\n\x1b[8m';
  problem = { code: 'client.fork_detected', detail: forged };
  await assert.rejects(client.checkpoint('acme'), (e: ClientError) => {
    assert.equal(e.code, 'client.http');
    assert.equal(e.status, 503);
    assert.equal(e.details?.serverCode, 'client.fork_detected');
    assert.equal(e.problem?.detail, forged, 'the raw problem is kept');
    assert.doesNotMatch(e.message, /[\x00-\x1f\x7f-\x9f\u202e]/);
    assert.ok(e.message.endsWith('\\x0a\\x1b[1A\\x1b[2K\\x0dacme: OK, tree size 600\\u{202e}\\x0a\\x1b[8m'));
    return true;
  });
  for (const code of ['Log.Not_Found', 'log not found', 'x'.repeat(101)]) {
    problem = { code, detail: 'd' };
    await assert.rejects(client.checkpoint('acme'), (e: ClientError) => {
      assert.equal(e.code, 'client.http', String(code));
      assert.equal(e.details?.serverCode, code);
      return true;
    });
  }
  problem = { code: 'log.pushback', detail: 'busy' };
  await assert.rejects(client.checkpoint('acme'), { code: 'log.pushback', status: 503 });
});

test("an export's error line is held to the same rules", async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.end(`${JSON.stringify({ error: { code: 'client.fork_detected', detail: '\x1b[2Kok' } })}\n`);
  };
  await assert.rejects(
    (async () => {
      for await (const _ of client.export('acme')) {
        // nothing
      }
    })(),
    (e: ClientError) => {
      assert.equal(e.code, 'client.http');
      assert.equal(e.details?.serverCode, 'client.fork_detected');
      assert.doesNotMatch(e.message, /\x1b/);
      return true;
    },
  );
});
