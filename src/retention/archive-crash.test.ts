// Crash test of the archiver (issue 7): a child process archiving a log with many sealed objects is
// SIGKILLed at several moments (mid-chunk, between cursor saves, during the checkpoint history); a
// new archiver then resumes. Afterwards no object is lost, no sealed object has a second version
// (listed with ListObjectVersions), every local byte equals the archived byte, and the archive
// verifies from the bucket alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { verifyS3Archive } from '../cli/verify-s3.js';
import { entriesPath, TILE_WIDTH, tilePath } from '../core/tile.js';
import { openTestEngine, sampleEvent } from '../log/test-helpers.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { openTestS3, s3SkipReason, s3TestOptions, type TestS3 } from '../storage/s3/test-env.js';
import { Archiver } from './archiver.js';

const here = fileURLToPath(import.meta.url);
// From source (tsx) the child is a .ts file and needs the loader; from dist it is plain JS.
const child = here.replace(/archive-crash\.test\.(ts|js)$/, 'archive-crash-child.$1');
const childArgs = here.endsWith('.ts') ? ['--import', 'tsx', child] : [child];

let s3: TestS3 | undefined;
before(async () => {
  if (s3SkipReason() === undefined) s3 = await openTestS3({ hint: 'crash' });
});
after(() => s3?.client.destroy());

/** Runs the child until `killAt` says so for one of its lines, then SIGKILLs it. */
function runChild(
  dir: string,
  prefix: string,
  killAt: (line: string, events: number) => boolean,
): Promise<{ lines: string[]; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...childArgs, dir, s3!.bucket, prefix], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    const lines: string[] = [];
    let buf = '';
    let stderr = '';
    let events = 0;
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        if (!line.startsWith('open') && killAt(line, ++events)) proc.kill('SIGKILL');
      }
    });
    proc.stderr.on('data', (c) => {
      stderr += c;
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ lines, killed: true });
      else if (code === 0) resolve({ lines, killed: false });
      else reject(new Error(`archive child exited with ${code}: ${stderr}`));
    });
  });
}

test('SIGKILL while archiving, then resume: nothing lost, no second versions, bytes equal, archive verifies', {
  ...s3TestOptions(),
  timeout: 240_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'indelible-archive-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const prefix = s3!.newPrefix('crash');

  // A log with 31 full bundles (and their tiles) and 40 checkpoints.
  const engine = await openTestEngine(await createLocalDriver({ root: dir }));
  const { verifierKey } = await engine.createLog('acme');
  let n = 0;
  for (let batch = 0; batch < 40; batch++) {
    const size = 150 + ((batch * 37) % 100);
    await engine.append(
      'acme',
      Array.from({ length: size }, () => sampleEvent(n++, 200)),
    );
    await engine.log('acme').integrate();
  }
  const treeSize = engine.log('acme').treeSize;
  await engine.close();
  const fullBundles = Math.floor(treeSize / TILE_WIDTH);
  assert.ok(fullBundles >= 30);

  // Kill mid-chunk, just after a cursor save, during the checkpoint history, and after the latest
  // checkpoint went up but before the cursor says so.
  let historyUploads = 0;
  const killPoints: Array<(line: string, events: number) => boolean> = [
    (_line, events) => events === 3,
    (line) => line.startsWith('saved'),
    (line) => line.includes(' checkpoints/') && ++historyUploads === 4,
    (line) => line === 'mutable checkpoint',
  ];
  let kills = 0;
  for (const killAt of killPoints) {
    const { lines, killed } = await runChild(dir, prefix, killAt);
    if (killed) kills++;
    t.diagnostic(
      `child ${lines[0]}: ${lines.length - 1} events, ${killed ? `killed after ${lines.at(-1)}` : 'finished'}`,
    );
  }
  assert.equal(kills, killPoints.length, 'the child was killed mid-way every time');

  // Resume in this process and finish.
  const local = await createLocalDriver({ root: dir });
  t.after(() => local.close());
  const log = local.log('acme');
  const archive = s3!.archiveOf(prefix, 'acme');
  const archiver = await Archiver.open({
    log: 'acme',
    local: log.blobs,
    state: log.state,
    archive,
    policy: { minMs: 5000, afterMs: Number.POSITIVE_INFINITY },
  });
  const report = await archiver.archive();
  assert.equal(report.archivedSize, treeSize);

  // No object lost: every full bundle, full tile and checkpoint of the log is archived.
  const history = await log.blobs.list('checkpoints/');
  assert.equal(history.length, 40);
  const expected = [
    ...Array.from({ length: fullBundles }, (_, b) => [
      entriesPath(b),
      tilePath({ level: 0, index: b, width: TILE_WIDTH }),
    ]).flat(),
    ...history,
  ].sort();
  const sealed = await archive.listSealed('');
  assert.deepEqual(sealed, expected);

  // No duplicates: exactly one version of each sealed object, no delete markers.
  const versions = await archive.objects.listVersions(archive.layout.sealed);
  assert.equal(versions.filter((v) => v.deleteMarker).length, 0);
  assert.equal(versions.length, expected.length, 'one version per sealed object');

  // Every local byte equals the archived byte.
  for (const key of expected) {
    assert.deepEqual(await archive.getSealed(key), await log.blobs.get(key), key);
  }

  const verified = await verifyS3Archive({
    url: `s3://${s3!.bucket}/${prefix}`,
    log: 'acme',
    verifierKey,
    connection: s3!.connection,
    client: s3!.client,
  });
  assert.equal(verified.treeSize, treeSize);
  assert.equal(verified.checkpoints, 40);
});
