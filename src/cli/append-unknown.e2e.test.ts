// `indelible append --file` whose batch got no usable answer (a proxy's HTML page, the network, a
// 5xx after the retries): whether the batch is in is unknown, and a rerun settles it from the
// progress file. The error says so, as Ctrl-C does; it gave only the bare error before. A server
// refusal (4xx), which appended nothing, says nothing of the kind.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cli, standInServer } from './test-cli.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-cli-append-unknown-'));
let status = 200;
const server = standInServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (status === 200) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html><body>Sign in to continue</body></html>\n');
    } else {
      res.writeHead(status, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'event.missing_field', detail: 'actor.id is required', event: 0 }));
    }
  });
});
after(() => rmSync(root, { recursive: true, force: true }));

test('a batch whose fate is unknown: the error says to rerun, naming the progress file', async () => {
  const file = join(root, 'events.ndjson');
  writeFileSync(file, '{"action":"a","actor":{"id":"b"}}\n');
  status = 200;
  const r = await cli(['append', '--url', server.url, '--log', 'acme', '--file', file]);
  assert.equal(r.status, 1);
  assert.equal(
    r.stderr,
    `indelible: the answer to POST /v1/logs/acme/events is not JSON; rerun the same command to continue (progress in ${file}.indelible-progress) [client.bad_response]\n`,
  );
  status = 400;
  const refused = await cli(['append', '--url', server.url, '--log', 'acme', '--file', file]);
  assert.equal(refused.status, 1);
  assert.doesNotMatch(refused.stderr, /rerun/);
  assert.match(refused.stderr, /line 1: .*event\.missing_field/);
});
