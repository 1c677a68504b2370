/**
 * `indelible verify`, in five forms — exactly one per call:
 *
 *   --data DIR                                  a data directory, offline, every byte (the default)
 *   --url URL --log NAME --key VKEY [--state F] a remote log through its read path (verify-url.ts)
 *   --export FILE --key VKEY                    an export file, offline (verify-export.ts)
 *   --receipt FILE --key VKEY [--record FILE]   one entry's receipt, offline
 *   --s3 s3://BUCKET/PREFIX --key VKEY          an S3 archive under Object Lock (verify-s3.ts)
 *
 * Exit 0 only when everything checked holds; 1 when something does not, with the first failure on
 * stderr (and, with --json, a report on stdout); 2 for a usage error, such as two forms at once.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { type Checkpoint, CheckpointError, openCheckpoint } from '../core/checkpoint.js';
import { fromHex, toHex } from '../core/encoding.js';
import { IndelibleError, isIndelibleError } from '../core/errors.js';
import { hashLeaf, MerkleError } from '../core/merkle.js';
import type { NoteVerifier } from '../core/note.js';
import { ProofError, rootFromInclusionProof } from '../core/proof.js';
import { parseReceipt, ReceiptError, type ReceiptErrorCode, verifyReceipt } from '../core/receipt.js';
import { verifyStorage } from '../log/verify.js';
import { createLocalDriver } from '../storage/local/local-driver.js';
import { dataDirOption, namingPath, printJson, UsageError } from './options.js';
import { Progress, plural, printable, verifierKeyOption } from './remote.js';
import { verifyExportFile } from './verify-export.js';
import { logReportJson } from './verify-report.js';
import { addVerifyS3Options, runVerifyS3 } from './verify-s3.js';
import { runVerifyUrl } from './verify-url.js';

interface VerifyOptions {
  data?: string;
  url?: string;
  export?: string;
  receipt?: string;
  s3?: string;
  key?: string[];
  log?: string;
  state?: string;
  apiKey?: string;
  checkpointOnly?: boolean;
  complete?: boolean;
  record?: string;
  leafHash?: string;
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  json?: boolean;
}

type Form = 'data' | 'url' | 'export' | 'receipt' | 's3';
const FORMS: readonly Form[] = ['data', 'url', 'export', 'receipt', 's3'];

/** Options that only make sense with some forms (the flag as typed, and where it belongs). */
const BELONGS: ReadonlyArray<[keyof VerifyOptions, string, readonly Form[]]> = [
  ['state', '--state', ['url']],
  ['apiKey', '--api-key', ['url']],
  ['checkpointOnly', '--checkpoint-only', ['url']],
  ['complete', '--complete', ['export']],
  ['record', '--record', ['receipt']],
  ['leafHash', '--leaf-hash', ['receipt']],
  ['log', '--log', ['url', 'export', 's3']],
  ['endpoint', '--endpoint', ['s3']],
  ['region', '--region', ['s3']],
  ['pathStyle', '--path-style', ['s3']],
];

/** The form asked for; two forms, or an option of another form, is a usage error naming it. */
function formOf(opts: VerifyOptions): Form {
  const given = FORMS.filter((f) => opts[f] !== undefined);
  if (given.length > 1)
    throw new UsageError(`verify takes one form at a time: --${given[0]} and --${given[1]} conflict`);
  const form = given[0] ?? 'data';
  for (const [key, flag, forms] of BELONGS) {
    if (opts[key] !== undefined && !forms.includes(form))
      throw new UsageError(`${flag} goes with ${forms.map((f) => `--${f}`).join(' or ')}, not --${form}`);
  }
  if (form === 'url' || form === 'export' || form === 'receipt') {
    if (opts.key === undefined || opts.key.length !== 1)
      throw new UsageError(`--${form} needs exactly one --key VKEY (the log's verifier key)`);
  }
  return form;
}

/**
 * A file the check needs cannot be read (missing, a directory, not permitted): a failure like any
 * other, exit 1 with `verify.unreadable` (and the --json report VERIFY.md promises for every
 * failure), not a bare Node error. Other errors are returned unchanged.
 */
function unreadable(path: string, err: unknown): unknown {
  const e = namingPath(path, err) as NodeJS.ErrnoException | undefined;
  if (typeof e?.code !== 'string' || !/^E[A-Z]+$/.test(e.code)) return err;
  return new IndelibleError('verify.unreadable', e.message, { details: { path, errno: e.code }, cause: err });
}

function failed(err: IndelibleError, json: boolean | undefined): void {
  process.stderr.write(`verification FAILED: ${printable(err.message)} [${printable(err.code)}]\n`);
  if (json) printJson({ ok: false, code: err.code, message: err.message, details: err.details });
  process.exitCode = 1;
}

export function registerVerify(program: Command): void {
  const command = program
    .command('verify')
    .description('verify a data directory, a remote log, an export, a receipt or an S3 archive')
    .option(
      '--data <dir>',
      'a data directory, offline (env INDELIBLE_DATA); the server must be stopped, or give a snapshot of it',
    )
    .option('--url <url>', 'a remote log through its public read path (with --log, --key, --state)')
    .option('--export <file>', 'an export file from `indelible export`, offline (with --key)')
    .option('--receipt <file>', 'a receipt (C2SP tlog-proof), offline (with --key, --record)');
  addVerifyS3Options(command);
  const logOption = command.options.find((o) => o.long === '--log');
  if (logOption !== undefined)
    logOption.description =
      'with --url: the log (required); with --export: the log every record must name; with --s3: ' +
      'the log to verify (default: all)';
  command
    .option(
      '--key <vkey...>',
      "the log's verifier key, pinned out of band; with --data/--s3 also LOG=VKEY, repeatable",
    )
    .option(
      '--state <file>',
      'with --url: the last verified checkpoint, read and updated (trust on first use)',
    )
    .option('--api-key <key>', 'with --url: a reader key to read entry bundles (env INDELIBLE_API_KEY)')
    .option('--checkpoint-only', 'with --url: check the checkpoint and its consistency, not the entries')
    .option(
      '--complete',
      "with --export: require every entry from the log's start (0, or a pruned log's minimum index that a prune statement in the file proves) to the checkpoint's last (an unfiltered export)",
    )
    .option('--record <file>', 'with --receipt: the exact record text (`indelible get`) the receipt proves')
    .option('--leaf-hash <hex>', 'with --receipt: the leaf hash the receipt proves (from the append answer)')
    .option('--json', 'print a JSON report')
    .addHelpText(
      'after',
      `
Exit codes: 0 verified; 1 a check failed (the first failure is named on stderr); 2 usage error.
Examples:
  $ indelible verify --data ./data
  $ INDELIBLE_API_KEY="$READER_KEY" indelible verify --url https://audit.example.com --log acme --key "$VKEY" --state acme.state
  $ indelible verify --export acme.ndjson --key "$VKEY"
  $ indelible verify --receipt entry-41.receipt --key "$VKEY" --record entry-41.json
  $ indelible verify --s3 s3://audit-archive/prod --log acme --key "$VKEY"
See docs/VERIFY.md for what each form proves.
`,
    )
    .action(async (opts: VerifyOptions) => {
      const form = formOf(opts);
      if (form === 'data') return verifyData(opts);
      if (form === 'url')
        return runVerifyUrl({
          url: opts.url!,
          key: opts.key![0]!,
          ...pick(opts, 'log', 'state', 'apiKey', 'checkpointOnly', 'json'),
        });
      if (form === 'export') return verifyExport(opts);
      if (form === 'receipt') return verifyReceiptFile(opts);
      return runVerifyS3({
        s3: opts.s3!,
        ...pick(opts, 'log', 'key', 'endpoint', 'region', 'pathStyle', 'json'),
      });
    });
}

function pick<K extends keyof VerifyOptions>(o: VerifyOptions, ...keys: K[]): Pick<VerifyOptions, K> {
  const out: Partial<VerifyOptions> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out as Pick<VerifyOptions, K>;
}

/** `--data DIR`: every log in the directory (src/log/verify.ts). */
async function verifyData(opts: VerifyOptions): Promise<void> {
  const dir = dataDirOption(opts.data);
  if (!existsSync(join(dir, 'indelible.json')))
    throw new UsageError(`${dir} is not an Indelible data directory`);
  const verifierKeys: Record<string, string> = {};
  for (const kv of opts.key ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--key expects LOG=VKEY, got ${kv}`);
    verifierKeys[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  // A snapshot on a read-only file system cannot take the directory's lock. It is read without it,
  // unless a live process holds that lock (the mount is then a read-only view of a live directory).
  const readOnly = isReadOnlyFileSystem(dir);
  if (readOnly) {
    process.stderr.write(
      `note: ${dir} is on a read-only file system; verifying it without taking its lock\n`,
    );
  }
  // Verifying changes nothing: the temporary files a crash left stay for the server to remove.
  const driver = await createLocalDriver({ root: dir, lock: !readOnly, sweepLeftoverTemps: false });
  const tty = process.stderr.isTTY;
  try {
    // A pinned key for a log the directory does not hold pins nothing: a typo must not pass.
    const logs = await driver.listLogs();
    const unknown = Object.keys(verifierKeys).filter((name) => !logs.includes(name));
    if (unknown.length > 0) {
      throw new UsageError(
        `--key names ${unknown.length === 1 ? 'a log' : 'logs'} not in ${dir}: ${unknown.join(', ')} (its logs: ${logs.join(', ')})`,
      );
    }
    const reports = await verifyStorage(driver, {
      verifierKeys,
      onProgress: tty
        ? (p) => process.stderr.write(`\r${p.log}: ${p.done}/${p.total} entries verified`)
        : undefined,
    });
    if (tty) process.stderr.write('\n');
    if (opts.json) printJson({ ok: true, logs: reports.map(logReportJson) });
    else {
      for (const r of reports) {
        process.stdout.write(
          `${r.log}: OK, ${r.treeSize} entries, ${r.checkpoints} checkpoints, root ${r.rootHash}` +
            (r.minimumIndex > 0 ? ` (pruned below ${r.minimumIndex} under a valid prune statement)` : '') +
            (r.pending > 0
              ? `; ${plural(r.pending, 'more entry', 'more entries')} acknowledged but not yet in a signed checkpoint (in the journal: valid records chained to the tree, but no signature covers them yet)`
              : '') +
            (r.tornBytes > 0
              ? `; ${plural(r.tornBytes, 'byte')} of a torn final write left out (as a crash leaves one: cut short before it was acknowledged, or, if the file was cut by hand, unknowable; no signature covers it; the server discards it at its next start)\n`
              : '\n'),
        );
      }
    }
  } catch (err) {
    if (tty) process.stderr.write('\n');
    if (!isIndelibleError(err)) throw err;
    failed(err, opts.json);
  } finally {
    await driver.close();
  }
}

function isReadOnlyFileSystem(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EROFS';
  }
}

/** `--export FILE --key VKEY`: every line bound to the final checkpoint (verify-export.ts). */
async function verifyExport(opts: VerifyOptions): Promise<void> {
  const verifier = verifierKeyOption(opts.key![0]);
  const bar = new Progress('export: ');
  try {
    const r = await verifyExportFile(opts.export!, verifier, {
      ...(opts.log === undefined ? {} : { log: opts.log }),
      ...(opts.complete ? { complete: true } : {}),
      onProgress: (done, bytes) => bar.update(done, 'entries verified', bytes.read / bytes.total),
    });
    bar.done();
    if (opts.json) {
      printJson({
        ok: true,
        log: r.log,
        origin: r.origin,
        tree_size: r.treeSize,
        root_hash: r.rootHash,
        count: r.count,
        first: r.first,
        last: r.last,
        missing: r.missing,
        minimum_index: r.minimumIndex,
        statement_index: r.statementIndex ?? null,
        complete: r.complete,
      });
      return;
    }
    // What the proofs cannot show is said plainly: indices the file leaves out.
    const notes: string[] = [];
    if (r.first !== undefined && r.first > r.minimumIndex)
      notes.push(
        `entries ${r.minimumIndex}..${r.first - 1} before them not in the file and not proven pruned`,
      );
    if (r.missing > 0) notes.push(`${plural(r.missing, 'index', 'indices')} between them not in the file`);
    if (r.last !== undefined && r.last + 1 < r.treeSize)
      notes.push(`ending before the tree's last entry ${r.treeSize - 1}`);
    if (notes.length > 0) notes.push('a filtered export, or entries removed: --complete requires them all');
    if (r.minimumIndex > 0)
      notes.push(`pruned below ${r.minimumIndex} under the prune statement in entry ${r.statementIndex}`);
    const gaps = notes.map((n) => `, ${n}`).join('');
    const range = r.first === undefined ? '' : ` (indices ${r.first}..${r.last}${gaps})`;
    process.stdout.write(
      `export OK: ${plural(r.count, 'entry', 'entries')} of ${r.log ?? 'the log'}${range}, each proven in the checkpoint of ` +
        `${r.origin} at tree size ${r.treeSize}, root ${r.rootHash}\n`,
    );
  } catch (caught) {
    bar.done();
    const err = unreadable(opts.export!, caught);
    if (!isIndelibleError(err)) throw err;
    failed(err, opts.json);
  }
}

/**
 * `--receipt FILE --key VKEY [--record FILE | --leaf-hash HEX]`. A tlog-proof does not contain the
 * leaf: without the record (or its leaf hash) only the checkpoint's signature and the proof's shape
 * can be checked, and the report says the entry itself was not.
 */
async function verifyReceiptFile(opts: VerifyOptions): Promise<void> {
  const verifier = verifierKeyOption(opts.key![0]);
  if (opts.record !== undefined && opts.leafHash !== undefined)
    throw new UsageError('give --record or --leaf-hash, not both');
  let leaf: Uint8Array | undefined;
  if (opts.leafHash !== undefined) {
    leaf = /^[0-9a-f]{64}$/.test(opts.leafHash) ? fromHex(opts.leafHash) : undefined;
    if (leaf === undefined) throw new UsageError('--leaf-hash must be 64 lowercase hex digits');
  }
  if (opts.record !== undefined) {
    const record = opts.record;
    const read = await readFile(record).catch((err: unknown) => unreadable(record, err));
    if (!(read instanceof Uint8Array)) {
      if (!isIndelibleError(read)) throw read;
      return failed(read, opts.json);
    }
    let bytes = new Uint8Array(read);
    // `indelible get` ends the record with a newline; an RFC 8785 record itself never ends in one.
    if (bytes[bytes.length - 1] === 0x0a)
      bytes = bytes.subarray(0, bytes[bytes.length - 2] === 0x0d ? -2 : -1);
    leaf = hashLeaf(bytes);
  }
  const text = await readFile(opts.receipt!, 'utf8').catch((err: unknown) => unreadable(opts.receipt!, err));
  if (typeof text !== 'string') {
    if (!isIndelibleError(text)) throw text;
    return failed(text, opts.json);
  }
  try {
    let index: number;
    let cp: Checkpoint;
    if (leaf !== undefined) {
      const r = verifyReceipt(text, verifier, leaf, verifier.name);
      index = r.index;
      cp = r.checkpoint;
    } else {
      ({ index, cp } = checkReceiptWithoutLeaf(text, verifier));
    }
    const leafHex = leaf === undefined ? undefined : toHex(leaf);
    if (opts.json) {
      printJson({
        ok: true,
        index,
        origin: cp.origin,
        tree_size: cp.size,
        root_hash: toHex(cp.rootHash),
        inclusion: leafHex === undefined ? 'not_checked' : 'verified',
        ...(leafHex === undefined ? {} : { leaf_hash: leafHex }),
      });
    } else if (leafHex !== undefined) {
      process.stdout.write(
        `receipt OK: leaf ${leafHex} is entry ${index} of ${cp.origin}, in the signed tree of size ${cp.size}, root ${toHex(cp.rootHash)}\n`,
      );
    } else {
      process.stdout.write(
        `receipt checkpoint OK: ${cp.origin}, tree size ${cp.size}, root ${toHex(cp.rootHash)}; proof for entry ${index} is well-formed\n`,
      );
      process.stderr.write(
        'the entry itself was NOT checked: a receipt does not contain it; pass --record FILE or --leaf-hash HEX\n',
      );
    }
  } catch (err) {
    if (!isIndelibleError(err)) throw err;
    failed(err, opts.json);
  }
}

/** What a receipt proves without its leaf: a signed checkpoint and a proof of the right shape. */
function checkReceiptWithoutLeaf(text: string, verifier: NoteVerifier): { index: number; cp: Checkpoint } {
  const r = parseReceipt(text);
  let cp: Checkpoint;
  try {
    cp = openCheckpoint(r.checkpoint, verifier, verifier.name);
  } catch (cause) {
    if (!(cause instanceof CheckpointError)) throw cause;
    // Codes as verifyReceipt reports them (receipt.bad_signature, receipt.unverified, …).
    const code = cause.code.replace('checkpoint.', 'receipt.') as ReceiptErrorCode;
    throw new ReceiptError(code, `receipt checkpoint rejected: ${cause.message}`, { cause });
  }
  if (r.index >= cp.size)
    throw new ReceiptError('receipt.index_out_of_range', 'index is not below the checkpoint tree size');
  try {
    rootFromInclusionProof(r.index, cp.size, new Uint8Array(32), r.proof);
  } catch (cause) {
    if (!(cause instanceof ProofError || cause instanceof MerkleError)) throw cause;
    throw new ReceiptError(
      'receipt.inclusion_failed',
      `the proof cannot be one for entry ${r.index}: ${cause.message}`,
      {
        cause,
      },
    );
  }
  return { index: r.index, cp };
}
