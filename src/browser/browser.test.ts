// The verifier runs in a real browser: the core, bundled by build.ts for esbuild's browser platform
// (no Node built-ins — the build fails otherwise), loaded into headless Chromium (Debian's
// `chromium`, driven by playwright-core) and used there to verify
// - a real receipt and record made by a real engine in this test (and tampered copies, which fail);
// - RFC 8785 vectors: test/vectors/jcs/cyberphone-testdata (cyberphone/json-canonicalization @ 19d51d7f);
// - RFC 6962 inclusion vectors: test/vectors/merkle/transparency-dev-merkle/testdata/inclusion
//   (transparency-dev/merkle @ 417fb0c3), every probe matching its `wantErr`.
// Without /usr/bin/chromium the browser part is skipped with the reason, unless
// INDELIBLE_REQUIRE_BROWSER=1 (CI), which makes a missing browser a failure.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { createSqliteIndex } from '../index/sqlite/sqlite-index.js';
import { Engine } from '../log/engine.js';
import { createMemoryDriver } from '../storage/memory/memory-driver.js';
import { vectorPath } from '../testing/paths.js';
import { buildBrowserVerifier, checkMetafile } from './build.js';

const CHROMIUM = '/usr/bin/chromium';
const required = process.env.INDELIBLE_REQUIRE_BROWSER === '1';
const haveBrowser = existsSync(CHROMIUM);
const skip = !haveBrowser && !required ? `${CHROMIUM} not found (install Debian's chromium package)` : false;

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsonFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : [],
  );
}

describe('browser bundle', () => {
  test('builds for the browser platform with the browser crypto and encoding, no Node built-ins', async () => {
    const { code, metafile } = await buildBrowserVerifier();
    const inputs = Object.keys(metafile.inputs);
    assert.ok(inputs.some((p) => /browser[/\\]crypto\.(ts|js)$/.test(p)));
    assert.ok(inputs.some((p) => /browser[/\\]encoding\.(ts|js)$/.test(p)));
    assert.ok(!inputs.some((p) => /core[/\\](crypto|encoding)\.(ts|js)$/.test(p)));
    assert.ok(inputs.some((p) => p.includes('@noble/curves')));
    assert.ok(!/\brequire\(|node:/.test(code), 'no require() or node: specifier in the bundle');
  });

  test('`build.js OUTFILE` (npm run build:browser) creates the folders it writes into', () => {
    const dir = mkdtempSync(join(tmpdir(), 'indelible-bundle-'));
    try {
      const out = join(dir, 'not', 'yet', 'indelible-verifier.js');
      const script = fileURLToPath(new URL('./build.js', import.meta.url));
      const res = spawnSync(process.execPath, [script, out], { encoding: 'utf8' });
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stdout, /^wrote .*indelible-verifier\.js \(\d+ bytes\)/);
      assert.match(readFileSync(out, 'utf8'), /IndelibleVerifier/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a Node built-in anywhere fails the build, and the metafile check catches externals', async () => {
    await assert.rejects(
      build({
        stdin: {
          contents: "import { readFileSync } from 'node:fs'; console.log(readFileSync);",
          resolveDir: '.',
        },
        bundle: true,
        platform: 'browser',
        write: false,
        logLevel: 'silent',
        metafile: true,
      }),
    );
    const fake = {
      inputs: {
        'a.js': {
          bytes: 1,
          imports: [{ path: 'node:fs', kind: 'import-statement' as const, external: true }],
        },
      },
      outputs: {},
    };
    assert.throws(() => checkMetafile(fake), /Node-only/);
  });
});

describe('verification in headless Chromium', { skip }, () => {
  let code: string;
  let data: {
    vkey: string;
    origin: string;
    receipt: string;
    record: string;
    index: number;
    jcs: { name: string; input: string; output: string }[];
    inclusion: {
      file: string;
      leafIdx: number;
      treeSize: number;
      root: string;
      leafHash: string;
      proof: string[];
      wantErr: boolean;
    }[];
  };
  const userDataDir = mkdtempSync(join(tmpdir(), 'indelible-chromium-'));
  after(() => rmSync(userDataDir, { recursive: true, force: true }));

  before(async () => {
    code = (await buildBrowserVerifier()).code;
    // A real engine makes a real record and receipt.
    const engine = await Engine.open({
      driver: createMemoryDriver(),
      index: createSqliteIndex({ path: ':memory:' }),
      originPrefix: 'browser.test.example',
    });
    try {
      const info = await engine.createLog('acme');
      const events = Array.from({ length: 300 }, (_, i) => ({
        action: 'doc.read',
        actor: { id: `u${i % 7}` },
        metadata: { i },
      }));
      await engine.append('acme', events);
      const log = engine.log('acme');
      await log.checkpointCovering(300);
      const index = 257;
      data = {
        vkey: info.verifierKey,
        origin: info.origin,
        receipt: await log.receipt(index),
        record: Buffer.from(await log.readRecord(index)).toString('utf8'),
        index,
        jcs: readdirSync(vectorPath('jcs', 'cyberphone-testdata', 'testdata', 'input')).map((f) => ({
          name: f,
          input: readFileSync(vectorPath('jcs', 'cyberphone-testdata', 'testdata', 'input', f), 'utf8'),
          output: readFileSync(vectorPath('jcs', 'cyberphone-testdata', 'testdata', 'output', f), 'utf8'),
        })),
        inclusion: jsonFiles(vectorPath('merkle', 'transparency-dev-merkle', 'testdata', 'inclusion')).map(
          (f) => ({
            file: f,
            ...JSON.parse(readFileSync(f, 'utf8')),
            proof: JSON.parse(readFileSync(f, 'utf8')).proof ?? [],
          }),
        ),
      };
    } finally {
      await engine.close();
    }
  });

  test('receipts, records, JCS and inclusion vectors verify in the page; tampering fails', async () => {
    assert.ok(haveBrowser, `${CHROMIUM} is required (INDELIBLE_REQUIRE_BROWSER=1)`);
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.setContent('<!doctype html><title>verifier</title>');
      await page.addScriptTag({ content: code });
      // When this file runs from source, tsx (esbuild keepNames) wraps functions in `__name(…)`,
      // which page.evaluate would carry into the page; give it an identity there.
      await page.addScriptTag({ content: 'globalThis.__name = (f) => f;' });
      const r = await page.evaluate((d) => {
        // biome-ignore lint/suspicious/noExplicitAny: the bundle's global, untyped in the page
        const V = (globalThis as any).IndelibleVerifier;
        const codeOf = (f: () => unknown): string => {
          try {
            f();
            return 'ok';
          } catch (e) {
            return (e as { code?: string }).code ?? String(e);
          }
        };
        const b64 = (s: string): Uint8Array => V.fromBase64(s);
        const verifier = V.parseVerifierKey(d.vkey);
        const record = V.utf8(d.record);
        const verified = V.verifyReceipt(d.receipt, verifier, { record }, d.origin);
        const parsed = V.parseRecord(record);
        // Tampered copies: one proof hash, the record, the signature on the checkpoint.
        const lines = d.receipt.split('\n');
        const hashLine = lines.findIndex((l: string) => /^[A-Za-z0-9+/]{43}=$/.test(l));
        const flipped = lines.slice();
        flipped[hashLine] = V.toBase64(
          b64(lines[hashLine]!).map((x: number, i: number) => (i === 0 ? x ^ 1 : x)),
        );
        const sigAt = d.receipt.lastIndexOf('\u2014 ');
        const sigLine = d.receipt.slice(sigAt, -1);
        const sigB64 = sigLine.slice(sigLine.lastIndexOf(' ') + 1);
        const sig = b64(sigB64);
        sig[10] = sig[10]! ^ 1;
        const badSig = `${d.receipt.slice(0, sigAt)}${sigLine.slice(0, sigLine.lastIndexOf(' ') + 1)}${V.toBase64(sig)}\n`;
        return {
          userAgent: (globalThis as unknown as { navigator: { userAgent: string } }).navigator.userAgent,
          globals: [
            typeof (globalThis as { Buffer?: unknown }).Buffer,
            typeof (globalThis as { process?: unknown }).process,
          ],
          receipt: {
            index: verified.index,
            size: verified.checkpoint.size,
            origin: verified.checkpoint.origin,
          },
          record: {
            log: parsed.log,
            index: parsed.index,
            action: parsed.event.action,
            i: parsed.event.metadata.i,
          },
          leafHash: V.toHex(V.hashLeaf(record)),
          tampered: {
            proof: codeOf(() => V.verifyReceipt(flipped.join('\n'), verifier, { record }, d.origin)),
            record: codeOf(() =>
              V.verifyReceipt(d.receipt, verifier, {
                record: V.utf8(d.record.replace('doc.read', 'doc.edit')),
              }),
            ),
            signature: codeOf(() => V.verifyReceipt(badSig, verifier, { record })),
            wrongIndex: codeOf(() =>
              V.verifyReceipt(d.receipt.replace(`index ${d.index}\n`, 'index 256\n'), verifier, { record }),
            ),
          },
          jcs: d.jcs.map((c) => ({ name: c.name, ok: V.canonicalize(JSON.parse(c.input)) === c.output })),
          inclusion: d.inclusion.map((v) => ({
            file: v.file,
            want: v.wantErr,
            got:
              codeOf(() =>
                V.verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), v.proof.map(b64), b64(v.root)),
              ) !== 'ok',
          })),
        };
      }, data);

      assert.match(r.userAgent, /HeadlessChrome\//);
      assert.deepEqual(r.globals, ['undefined', 'undefined'], 'a browser: no Buffer, no process');
      assert.deepEqual(r.receipt, { index: data.index, size: 300, origin: data.origin });
      assert.deepEqual(r.record, { log: 'acme', index: data.index, action: 'doc.read', i: data.index });
      assert.equal(r.leafHash, leafHashOf(data.record));
      assert.deepEqual(r.tampered, {
        proof: 'receipt.inclusion_failed',
        record: 'receipt.inclusion_failed',
        signature: 'receipt.bad_signature',
        wrongIndex: 'receipt.inclusion_failed',
      });
      assert.equal(r.jcs.length, 6);
      for (const c of r.jcs) assert.ok(c.ok, `JCS ${c.name}`);
      assert.equal(r.inclusion.length, 98);
      for (const v of r.inclusion) assert.equal(v.got, v.want, v.file);
    } finally {
      await context.close();
    }
  });
});

/** SHA-256(0x00 ‖ record), computed by Node independently of the bundle. */
function leafHashOf(record: string): string {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(record, 'utf8')
    .digest('hex');
}
