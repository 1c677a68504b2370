// `indelible query --follow` against a server that rate-limits it (429 with Retry-After): the next
// poll waits as long as the server asked. It came back after --interval, however long the
// Retry-After (every 200 ms against a `Retry-After: 2`). A plain node:http server stands in.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { bin, cliEnv, standInServer, until } from './test-cli.js';

const seen: number[] = [];
const server = standInServer((_req, res) => {
  seen.push(Date.now());
  if (seen.length === 1) {
    res.writeHead(429, { 'content-type': 'application/problem+json', 'retry-after': '2' });
    res.end(JSON.stringify({ code: 'auth.rate_limited', detail: 'too many requests' }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ events: [], next_cursor: null, covered_size: 0 }));
});

test("query --follow waits out a 429's Retry-After before polling again", async () => {
  const child = spawn(
    process.execPath,
    [bin, 'query', '--url', server.url, '--log', 'acme', '--follow', '--interval', '200'],
    { env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  await until(() => (seen.length >= 2 ? true : undefined), 10_000);
  child.kill('SIGINT');
  assert.equal(await closed, 0, stderr);
  assert.match(stderr, /429 auth\.rate_limited/);
  assert.ok(seen[1]! - seen[0]! >= 1900, `polled again after ${seen[1]! - seen[0]!} ms`);
});
