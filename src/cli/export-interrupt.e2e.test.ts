// `indelible export -o FILE` stopped by Ctrl-C (SIGINT) or SIGTERM while the export streams: it
// left FILE.partial behind (megabytes of a truncated export); now it removes it, as any failure
// does, says so, and exits 130 / 143. The server is a plain node:http one that starts an export and
// never finishes it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { bin, cliEnv, standInServer, until } from './test-cli.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-cli-export-interrupt-'));
const open: ServerResponse[] = [];
const server = standInServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  res.flushHeaders();
  open.push(res); // and never ended: no line comes
});
after(() => rmSync(root, { recursive: true, force: true }));

for (const [signal, status] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`${signal} during export -o FILE removes FILE.partial and exits ${status}`, async () => {
    const file = join(root, `${signal}.ndjson`);
    const requests = open.length;
    const child = spawn(process.execPath, [bin, 'export', '--url', server.url, '--log', 'acme', '-o', file], {
      env: cliEnv({ INDELIBLE_API_KEY: 'ik_test' }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await until(() => (open.length > requests && existsSync(`${file}.partial`) ? true : undefined));
    child.kill(signal);
    assert.equal(await closed, status, stderr);
    assert.match(stderr, new RegExp(`interrupted \\(${signal}\\): .*${signal}\\.ndjson was not written`));
    assert.equal(existsSync(`${file}.partial`), false);
    assert.equal(existsSync(file), false);
  });
}
