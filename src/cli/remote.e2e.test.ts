// End-to-end: every command that talks to a server, run as the real compiled binary against one
// real server (`indelible serve` on a random port) shared by the whole file. Expected values come
// from the public contract (DESIGN §4) and are checked with the core library (receipts, proofs,
// checkpoints against the log's verifier key), not with the CLI's own code.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openCheckpoint } from '../core/checkpoint.js';
import { fromHex, utf8 } from '../core/encoding.js';
import { hashLeaf } from '../core/merkle.js';
import { parseVerifierKey } from '../core/note.js';
import { verifyInclusion } from '../core/proof.js';
import { verifyReceipt } from '../core/receipt.js';
import { bin, type CliResult, cli, cliEnv, parseNdjson, type ServedDir, serve, until } from './test-cli.js';

const root = mkdtempSync(join(tmpdir(), 'indelible-cli-remote-'));
let server: ServedDir;
let env: Record<string, string>;
let vkey = '';
const f = (name: string) => join(root, name);
const run = (...args: string[]) => cli(args, { env });
const ok = (r: CliResult) => {
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  return r;
};

before(async () => {
  const init = await cli(['init', '--data', f('data'), '--json']);
  const { admin_key: admin } = JSON.parse(ok(init).stdout) as { admin_key: string };
  server = await serve(f('data'));
  env = { INDELIBLE_URL: server.url, INDELIBLE_API_KEY: admin, INDELIBLE_LOG: 'acme' };
  const created = JSON.parse(ok(await run('logs', 'create', 'acme', '--json')).stdout) as {
    verifier_key: string;
  };
  vkey = created.verifier_key;
});
after(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** The signed tree size, as the public checkpoint says (verified with the pinned key). */
async function signedSize(): Promise<number> {
  const note = await (await fetch(`${server.url}/v1/logs/acme/checkpoint`)).text();
  return openCheckpoint(note, parseVerifierKey(vkey)).size;
}

describe('logs', () => {
  test('create prints origin and verifier key; list and show report them; errors exit 1 or 2', async () => {
    // Independent runs, started together (each CLI start costs a Node start-up).
    const [showJson, list, show, again, badName, noKey] = await Promise.all([
      run('logs', 'show', 'acme', '--json'),
      run('logs', 'list'),
      run('logs', 'show', 'acme'),
      run('logs', 'create', 'acme'),
      run('logs', 'create', 'Not A Name'),
      cli(['logs', 'list'], { env: { INDELIBLE_URL: server.url } }),
    ]);
    const shown = JSON.parse(ok(showJson).stdout) as Record<string, unknown>;
    assert.equal(shown.verifier_key, vkey);
    assert.equal(shown.name, 'acme');
    assert.equal(typeof shown.tree_size, 'number');
    parseVerifierKey(vkey); // a valid C2SP verifier key
    const table = ok(list).stdout;
    assert.match(table, /^NAME\s+TREE SIZE\s+SIZE\s+ORIGIN$/m);
    assert.match(table, /^acme\s+\d+\s+\d+\s+\S+\/acme$/m);
    assert.ok(ok(show).stdout.includes(`verifier key  ${vkey}`));
    assert.equal(again.status, 1);
    assert.match(again.stderr, /\[log\.exists\]/);
    assert.equal(badName.status, 2);
    assert.equal(noKey.status, 1);
    assert.match(noKey.stderr, /\[auth\.\w+\]/);
  });
});

describe('append, query, get, proof, receipt, checkpoint', () => {
  test('append from --event, a JSON-array file and stdin NDJSON; --json prints the acknowledgements', async () => {
    const ev = (actor: string, action: string, extra = {}) =>
      JSON.stringify({ action, actor: { id: actor }, ...extra });
    const a = ok(
      await run('append', '--json', '--event', ev('alice', 'user.login'), '--event', ev('bob', 'doc.read')),
    );
    const acks = parseNdjson(a.stdout) as Array<{ index: number; id: string; leaf_hash: string }>;
    assert.equal(acks.length, 2);
    assert.equal(acks[1]!.index, acks[0]!.index + 1);
    assert.match(a.stderr, /appended 2 events to acme/);

    writeFileSync(
      f('array.json'),
      JSON.stringify([{ action: 'doc.update', actor: { id: 'carol' }, target: { id: 'd1' } }]),
    );
    ok(await run('append', '--file', f('array.json')));
    const ndjson = `${ev('dave', 'doc.delete', { outcome: 'denied', target: { id: 'd2' } })}\n\n${ev('dave', 'doc.read')}\n`;
    const s = await cli(['append', '--file', '-', '--json'], { env, input: ndjson });
    assert.equal(parseNdjson(ok(s).stdout).length, 2);
    // The record the server stored is the event it was sent, wrapped (DESIGN §3).
    const rec = JSON.parse(ok(await run('get', String(acks[0]!.index))).stdout) as {
      event: unknown;
      id: string;
    };
    assert.deepEqual(rec.event, { action: 'user.login', actor: { id: 'alice' } });
    assert.equal(rec.id, acks[0]!.id);
  });

  test('bad input names the line: local JSON errors exit 2, server refusals exit 1', async () => {
    const durable = async () =>
      (
        (await (
          await fetch(`${server.url}/v1/logs/acme`, {
            headers: { authorization: `Bearer ${env.INDELIBLE_API_KEY}` },
          })
        ).json()) as { size: number }
      ).size;
    const before = await durable();
    writeFileSync(
      f('bad.ndjson'),
      '{"action":"a","actor":{"id":"x"}}\n{"action":"b","actor":{"id":"x"}}\n{"action":\n',
    );
    // Batches of one: the typo on line 3 is found before the first batch is sent, not after two.
    const local = await run('append', '--file', f('bad.ndjson'), '--batch', '1');
    assert.equal(local.status, 2);
    assert.match(local.stderr, /line 3/);
    assert.equal(await durable(), before, 'nothing of a file with a typo is appended');
    writeFileSync(f('refused.ndjson'), '{"action":"a","actor":{"id":"x"}}\n\n{"action":"a"}\n');
    const refused = await run('append', '--file', f('refused.ndjson'));
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /line 3/);
    assert.match(refused.stderr, /\[event\.\w+\]/);
    // Array items are sent as written, so the server sees (and refuses) what a parse would hide.
    const item = '{"action":"a","actor":{"id":"x"}}';
    for (const [body, code] of [
      [`[${item},\n {"action":"a","actor":{"id":"x","id":"y"}}]`, 'request.duplicate_name'],
      [
        `[${item}, {"action":"a","actor":{"id":"x"},"metadata":{"n":9007199254740993}}]`,
        'request.imprecise_number',
      ],
    ]) {
      writeFileSync(f('refused.json'), body as string);
      const r = await run('append', '--file', f('refused.json'));
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`\\[${code}\\]`));
    }
    assert.equal((await run('append')).status, 2);
  });

  test('--wait-checkpoint returns receipts that verify offline with the log key', async () => {
    const r = ok(
      await run(
        'append',
        '--json',
        '--wait-checkpoint',
        '--event',
        '{"action":"key.rotate","actor":{"id":"ops"}}',
      ),
    );
    const [ack] = parseNdjson(r.stdout) as Array<{ index: number; leaf_hash: string; receipt: string }>;
    const receipt = verifyReceipt(ack!.receipt, parseVerifierKey(vkey), fromHex(ack!.leaf_hash)!);
    assert.equal(receipt.index, ack!.index);
    // Text mode prints each receipt after a comment line naming the entry.
    const t = ok(
      await run('append', '--wait-checkpoint', '--event', '{"action":"key.rotate","actor":{"id":"ops"}}'),
    );
    assert.match(t.stdout, /^# entry \d+ \(--event line 1\)\nc2sp\.org\/tlog-proof@v1\n/);
  });

  test('query: a table by default, NDJSON with --json, filters, and --all pages through', async () => {
    await until(async () => {
      const r = await run('query', '--json', '--actor', 'dave');
      return parseNdjson(r.stdout).length === 2 ? true : undefined;
    });
    const table = ok(await run('query', '--actor', 'dave')).stdout.split('\n');
    assert.match(table[0]!, /^\s*INDEX\s+RECEIVED AT\s+ACTOR\s+ACTION\s+TARGET\s+OUTCOME$/);
    assert.match(table[1]!, /^\s*\d+\s+\d{4}-\d\d-\d\dT\S+Z\s+dave\s+doc\.delete\s+d2\s+denied$/);
    const denied = parseNdjson(ok(await run('query', '--json', '--outcome', 'denied')).stdout) as Array<{
      event: { actor: { id: string } };
      leaf_hash: string;
    }>;
    assert.deepEqual(
      denied.map((e) => e.event.actor.id),
      ['dave'],
    );
    const all = ok(await run('query', '--json', '--all', '--limit', '2')).stdout;
    const indices = (parseNdjson(all) as Array<{ index: number }>).map((e) => e.index);
    assert.ok(indices.length >= 6);
    assert.deepEqual(
      indices,
      indices.map((_, i) => i),
    );
    const one = await run('query', '--limit', '2');
    assert.match(one.stderr, /^more: --cursor \S+$/m);
    assert.equal((await run('query', '--since', 'yesterday')).status, 2);
  });

  test('query --follow prints what matches, then new entries as they arrive, until SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [bin, 'query', '--follow', '--json', '--actor', 'follower', '--interval', '50'],
      {
        env: cliEnv(env),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    for (const n of [1, 2]) {
      ok(
        await run(
          'append',
          '--event',
          JSON.stringify({ action: 'tick', actor: { id: 'follower' }, metadata: { n } }),
        ),
      );
      await until(() => (parseNdjson(out).length === n ? true : undefined));
    }
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    const seen = parseNdjson(out) as Array<{ event: { metadata: { n: number } } }>;
    assert.deepEqual(
      seen.map((e) => e.event.metadata.n),
      [1, 2],
    );
  });

  test('get, proof and checkpoint: the proof verifies against the checkpoint signed by the log key', async () => {
    const cp = JSON.parse(ok(await run('checkpoint', '--json')).stdout) as {
      checkpoint: string;
      tree_size: number;
    };
    const signed = openCheckpoint(cp.checkpoint, parseVerifierKey(vkey));
    assert.equal(cp.tree_size, signed.size);
    const index = signed.size - 1;
    const record = ok(await run('get', String(index))).stdout;
    assert.ok(record.endsWith('}\n'));
    const leaf = hashLeaf(utf8(record.slice(0, -1)));
    const args = ['proof', '--index', String(index), '--tree-size', String(signed.size), '--json'];
    const p = JSON.parse(ok(await run(...args)).stdout) as {
      index: number;
      tree_size: number;
      hashes: string[];
    };
    assert.deepEqual([p.index, p.tree_size], [index, signed.size]);
    verifyInclusion(
      index,
      signed.size,
      leaf,
      p.hashes.map((h) => fromHex(h)!),
      signed.rootHash,
    );
    const c = JSON.parse(ok(await run('proof', '--from', '1', '--to', String(signed.size), '--json')).stdout);
    assert.deepEqual([c.from, c.to], [1, signed.size]);
    assert.match(ok(await run('proof', '--index', String(index))).stdout, /^inclusion proof of entry \d+/);

    const checked = ok(await run('checkpoint', '--verify', '--key', vkey));
    assert.match(checked.stderr, /checkpoint verified/);
    assert.ok(checked.stdout.startsWith(`${signed.origin}\n`));
    assert.equal((await run('checkpoint', '--verify', '--key', 'not-a-key')).status, 2);
    const { verifier_key: wrong } = JSON.parse(ok(await run('logs', 'create', 'other', '--json')).stdout);
    const bad = await run('checkpoint', '--verify', '--key', wrong);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /\[checkpoint\.unverified\]/);
    assert.equal((await run('proof', '--index', '1', '--from', '1')).status, 2);
  });
});

describe('receipt and verify --receipt', () => {
  test('a receipt verifies with its record; a tampered receipt, a wrong key or another record fail', async () => {
    const size = await until(async () => ((await signedSize()) >= 3 ? signedSize() : undefined));
    const index = size - 1;
    const [receipt, rec, prev, other] = await Promise.all([
      run('receipt', String(index), '-o', f('r.receipt')),
      run('get', String(index)),
      run('get', String(index - 1)),
      run('logs', 'show', 'other', '--json'),
    ]);
    ok(receipt);
    writeFileSync(f('rec.json'), ok(rec).stdout);
    writeFileSync(f('prev.json'), ok(prev).stdout);
    const { verifier_key: wrong } = JSON.parse(ok(other).stdout) as { verifier_key: string };
    // Tamper with the first proof hash (the line after `index N`).
    const lines = readFileSync(f('r.receipt'), 'utf8').split('\n');
    const at = lines.findIndex((l) => l.startsWith('index ')) + 1;
    lines[at] = Buffer.alloc(32, 7).toString('base64');
    writeFileSync(f('tampered.receipt'), lines.join('\n'));

    const verify = (receiptFile: string, key: string, ...more: string[]) =>
      run('verify', '--receipt', f(receiptFile), '--key', key, ...more);
    const [good, noRecord, ofPrev, tampered, wrongKey] = await Promise.all([
      verify('r.receipt', vkey, '--record', f('rec.json'), '--json'),
      verify('r.receipt', vkey),
      verify('r.receipt', vkey, '--record', f('prev.json')),
      verify('tampered.receipt', vkey, '--record', f('rec.json')),
      verify('r.receipt', wrong, '--record', f('rec.json')),
    ]);
    const report = JSON.parse(ok(good).stdout) as {
      ok: boolean;
      index: number;
      inclusion: string;
      leaf_hash: string;
    };
    assert.deepEqual([report.ok, report.index, report.inclusion], [true, index, 'verified']);
    const record = readFileSync(f('rec.json'), 'utf8').slice(0, -1); // without the newline `get` adds
    assert.equal(report.leaf_hash, Buffer.from(hashLeaf(utf8(record))).toString('hex'));
    assert.match(ok(noRecord).stderr, /NOT checked/);
    assert.equal(ofPrev.status, 1);
    assert.match(ofPrev.stderr, /\[receipt\.inclusion_failed\]/);
    assert.equal(tampered.status, 1);
    assert.match(tampered.stderr, /verification FAILED.*\[receipt\.inclusion_failed\]/);
    assert.equal(wrongKey.status, 1);
    assert.match(wrongKey.stderr, /\[receipt\.unverified\]/);
  });
});

describe('export and verify --export', () => {
  test('an export verifies offline; a changed record or a truncated file fails', async () => {
    const e = ok(await run('export', '-o', f('acme.ndjson')));
    assert.match(e.stderr, /exported \d+ entries of acme/);
    assert.equal(existsSync(f('acme.ndjson.partial')), false);
    const lines = readFileSync(f('acme.ndjson'), 'utf8').trimEnd().split('\n');
    const last = JSON.parse(lines.at(-1)!) as { checkpoint: string; tree_size: number; count: number };
    assert.equal(last.count, lines.length - 1);
    openCheckpoint(last.checkpoint, parseVerifierKey(vkey));
    const good = ok(await run('verify', '--export', f('acme.ndjson'), '--key', vkey));
    assert.match(good.stdout, new RegExp(`export OK: ${last.count} entries of acme`));

    const tampered = [...lines];
    tampered[1] = tampered[1]!.replace('\\"actor\\":{\\"id\\":\\"', '\\"actor\\":{\\"id\\":\\"x');
    assert.notEqual(tampered[1], lines[1]);
    writeFileSync(f('tampered.ndjson'), `${tampered.join('\n')}\n`);
    const bad = await run('verify', '--export', f('tampered.ndjson'), '--key', vkey);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /line 2.*\[export\.leaf_mismatch\]/);

    writeFileSync(f('truncated.ndjson'), `${lines.slice(0, -1).join('\n')}\n`);
    const cut = await run('verify', '--export', f('truncated.ndjson'), '--key', vkey, '--json');
    assert.equal(cut.status, 1);
    assert.equal((JSON.parse(cut.stdout) as { code: string }).code, 'export.incomplete');

    const filtered = ok(await run('export', '--actor', 'dave', '-o', '-'));
    const rows = parseNdjson(filtered.stdout);
    assert.equal(rows.length, 3);
    writeFileSync(f('dave.ndjson'), filtered.stdout);
    ok(await run('verify', '--export', f('dave.ndjson'), '--key', vkey, '--log', 'acme'));
    assert.equal((await run('export')).status, 2);
  });
});

describe('verify --url with --state', () => {
  test('the first run trusts on first use, later runs prove consistency and walk only new entries', async () => {
    const state = f('acme.state');
    const first = ok(
      await run('verify', '--url', server.url, '--log', 'acme', '--key', vkey, '--state', state),
    );
    assert.match(first.stderr, /trusting the current checkpoint on first use/);
    assert.match(first.stdout, /^acme: OK, tree size \d+/);
    const before = JSON.parse(readFileSync(state, 'utf8')) as { checkpoint: string };
    const size0 = openCheckpoint(before.checkpoint, parseVerifierKey(vkey)).size;

    ok(await run('append', '--wait-checkpoint', '--event', '{"action":"later","actor":{"id":"zed"}}'));
    const second = JSON.parse(
      ok(await run('verify', '--url', server.url, '--log', 'acme', '--key', vkey, '--state', state, '--json'))
        .stdout,
    ) as { ok: boolean; first_run: boolean; tree_size: number; verified_entries: number };
    assert.equal(second.ok, true);
    assert.equal(second.first_run, false);
    assert.ok(second.tree_size > size0);
    assert.equal(second.verified_entries, second.tree_size - size0);

    const publicOnly = ok(
      await cli(
        [
          'verify',
          '--url',
          server.url,
          '--log',
          'acme',
          '--key',
          vkey,
          '--state',
          state,
          '--checkpoint-only',
        ],
        {
          env: {},
        },
      ),
    );
    assert.match(publicOnly.stdout, /entries not read/);
    const conflict = await run('verify', '--url', server.url, '--export', f('acme.ndjson'), '--key', vkey);
    assert.equal(conflict.status, 2);
    assert.match(conflict.stderr, /--url and --export conflict/);
    const misplaced = await run('verify', '--export', f('acme.ndjson'), '--key', vkey, '--state', state);
    assert.equal(misplaced.status, 2);
    assert.match(misplaced.stderr, /--state goes with --url/);
  });
});

describe('append --file resumes after the process is killed', () => {
  test('SIGKILL mid-file, rerun: every line is in the log exactly once (and a stale progress file replays)', async () => {
    const total = 4000;
    const lines = Array.from({ length: total }, (_, i) =>
      JSON.stringify({ action: 'bulk.import', actor: { id: 'resumer' }, metadata: { i } }),
    );
    const file = f('bulk.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const progress = `${file}.indelible-progress`;
    const child = spawn(process.execPath, [bin, 'append', '--file', file, '--batch', '10'], {
      env: cliEnv(env),
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.on('close', r));
    const acknowledged = () => {
      try {
        return (JSON.parse(readFileSync(progress, 'utf8')) as { acknowledged: number }).acknowledged;
      } catch {
        return 0;
      }
    };
    await until(() => (acknowledged() >= 400 ? true : undefined), 30_000);
    child.kill('SIGKILL');
    await exited;
    const mid = acknowledged();
    assert.ok(mid < total, 'the append was still running when killed');
    copyFileSync(progress, f('stale-progress'));

    const resumed = ok(await run('append', '--file', file, '--batch', '50'));
    assert.match(resumed.stderr, /appended \d+ events to acme/);
    // Restore the progress file of the killed run: everything after it is replayed, not re-appended.
    copyFileSync(f('stale-progress'), progress);
    const replayed = ok(await run('append', '--file', file, '--batch', '50'));
    assert.match(replayed.stderr, /already there from an earlier attempt/);

    ok(await run('export', '-o', f('after.ndjson')));
    const seen = new Map<number, number>();
    for (const row of parseNdjson(readFileSync(f('after.ndjson'), 'utf8'))) {
      const record = (row as { record?: string }).record;
      if (record === undefined) continue;
      const ev = (JSON.parse(record) as { event: { actor: { id: string }; metadata?: { i: number } } }).event;
      if (ev.actor.id === 'resumer') seen.set(ev.metadata!.i, (seen.get(ev.metadata!.i) ?? 0) + 1);
    }
    assert.equal(seen.size, total);
    assert.deepEqual(
      [...seen.values()].filter((n) => n !== 1),
      [],
    );
    const again = ok(await run('append', '--file', file));
    assert.match(again.stderr, new RegExp(`all ${total} events of .* are already in acme`));
  });
});

describe('append whose output is cut off', () => {
  test('a closed stdout (`| head -1`) does not stop the append: every event is appended, exit 0', async () => {
    ok(await run('logs', 'create', 'piped'));
    const total = 300;
    const file = f('piped.ndjson');
    writeFileSync(
      file,
      Array.from(
        { length: total },
        (_, i) => `{"action":"piped","actor":{"id":"p"},"metadata":{"i":${i}}}\n`,
      ).join(''),
    );
    const child = spawn(
      process.execPath,
      [bin, 'append', '--log', 'piped', '--file', file, '--json', '--batch', '10'],
      { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    // The reader takes the first acknowledgement and goes away, as `head -1` does.
    child.stdout.once('data', () => child.stdout.destroy());
    const status = await new Promise((r) => child.on('close', r));
    assert.equal(status, 0, stderr);
    assert.match(stderr, new RegExp(`appended ${total} events to piped`));
    const shown = JSON.parse(ok(await run('logs', 'show', 'piped', '--json')).stdout) as { size: number };
    assert.equal(shown.size, total);
  });
});

describe('append from stdin that stays open', () => {
  test('a trickle (`tail -f … | append --file -`) is appended as it comes, not when a batch fills', async () => {
    ok(await run('logs', 'create', 'trickle'));
    const size = async () =>
      (JSON.parse(ok(await run('logs', 'show', 'trickle', '--json')).stdout) as { size: number }).size;
    const child = spawn(
      process.execPath,
      [bin, 'append', '--log', 'trickle', '--file', '-', '--batch', '100'],
      {
        env: cliEnv(env),
        stdio: ['pipe', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const closed = new Promise((r) => child.on('close', r));
    child.stdin.write('{"action":"trickle","actor":{"id":"t"}}\n');
    // stdin stays open: the one event must still go out (it waited for 99 more, or the end).
    await until(async () => ((await size()) === 1 ? true : undefined), 10_000);
    child.stdin.write('{"action":"trickle","actor":{"id":"t"}}\n');
    await until(async () => ((await size()) === 2 ? true : undefined), 10_000);
    child.stdin.end();
    assert.equal(await closed, 0, stderr);
    assert.match(stderr, /appended 2 events to trickle/);
  });
});
