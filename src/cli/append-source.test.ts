/**
 * The NDJSON reader of `indelible append --file`: invalid UTF-8 is reported on the line that holds
 * it. It was reported on the first line of the 1 MiB (file) or 64 KiB (stdin) chunk it was read in,
 * thousands of lines too early.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkEvents, fileSource, type SourceEvent } from './append-source.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-append-source-'));
after(() => rmSync(root, { recursive: true, force: true }));

const line = (i: number, name = 'u') => `{"action":"a","actor":{"id":"${name}${i}"}}`;

test('invalid UTF-8 is reported on its own line, however far into the chunk', async () => {
  const path = join(root, 'bad.ndjson');
  const good = Array.from({ length: 5000 }, (_, i) => `${line(i)}\n`).join('');
  writeFileSync(
    path,
    Buffer.concat([
      Buffer.from(good),
      Buffer.from('{"action":"a","actor":{"id":"'),
      Buffer.from([0xff]),
      Buffer.from('"}}\n'),
    ]),
  );
  await assert.rejects(checkEvents(await fileSource(path)), /bad\.ndjson line 5001: not valid UTF-8/);
});

test('characters split across chunks, a BOM and CRLF line ends read as written', async () => {
  const path = join(root, 'good.ndjson');
  // 3-byte characters over more than one 1 MiB read, so some are cut by a chunk boundary.
  const lines = Array.from({ length: 800 }, (_, i) => line(i, '漢'.repeat(500)));
  writeFileSync(path, `\uFEFF${lines.join('\r\n')}\r\n\r\n`);
  const seen: SourceEvent[] = [];
  for await (const e of (await fileSource(path)).events) seen.push(e);
  assert.deepEqual(
    seen.map((e) => e.text),
    lines,
  );
  assert.equal(seen.at(-1)!.line, 800);
});
