/**
 * Single reads: `get` (one entry's exact record text), `proof` (inclusion or consistency proof),
 * `receipt` (a C2SP tlog-proof for one entry) and `checkpoint` (the latest signed note, verified
 * against a pinned key with `--verify --key`). Proofs and checkpoints are printed as the server
 * sends them; `indelible verify` is what checks them.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { openCheckpoint } from '../core/checkpoint.js';
import { toHex } from '../core/encoding.js';
import { printJson, UsageError } from './options.js';
import {
  addRemoteOptions,
  logName,
  parseIndex,
  printable,
  type RemoteOptions,
  remoteClient,
  unverifiedCheckpoint,
  verifierKeyOption,
} from './remote.js';

interface ProofOptions extends RemoteOptions {
  index?: string;
  treeSize?: string;
  from?: string;
  to?: string;
}

export function registerGet(program: Command): void {
  addRemoteOptions(program.command('get <index>'))
    .description('print one entry: its exact record text (the bytes that are hashed)')
    .option('--json', 'print {"index","leaf_hash","record"}')
    .addHelpText(
      'after',
      '\nThe record is printed followed by one newline, which is not part of it (verify --record ignores it).\n' +
        'Examples:\n  $ indelible get 41 --log acme > entry-41.json\n  $ indelible get 41 --log acme --json\n',
    )
    .action(async (indexText: string, opts: RemoteOptions) => {
      const log = logName(opts);
      const e = await remoteClient(opts).entry(log, parseIndex(indexText, 'INDEX'));
      if (opts.json) printJson({ index: e.index, leaf_hash: e.leafHash, record: e.record });
      else process.stdout.write(`${e.record}\n`);
    });

  addRemoteOptions(program.command('proof'))
    .description('print an inclusion proof (--index) or a consistency proof (--from/--to) as hex hashes')
    .option('--index <i>', 'inclusion proof of this entry')
    .option('--tree-size <s>', 'with --index: in the tree of this size (default: the latest checkpoint)')
    .option('--from <a>', 'consistency proof from this tree size…')
    .option('--to <b>', '…to this one')
    .option('--json', 'print the proof as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  $ indelible proof --log acme --index 41\n  $ indelible proof --log acme --from 100 --to 250 --json\n',
    )
    .action(async (opts: ProofOptions) => {
      const log = logName(opts);
      const inclusion = opts.index !== undefined || opts.treeSize !== undefined;
      const consistency = opts.from !== undefined || opts.to !== undefined;
      if (inclusion === consistency)
        throw new UsageError(
          'give --index I [--tree-size S] for inclusion, or --from A --to B for consistency',
        );
      const client = remoteClient(opts);
      if (inclusion) {
        if (opts.index === undefined) throw new UsageError('--tree-size goes with --index');
        const index = parseIndex(opts.index, '--index');
        const size =
          opts.treeSize === undefined
            ? unverifiedCheckpoint(await client.checkpoint(log)).size
            : parseIndex(opts.treeSize, '--tree-size');
        const p = await client.inclusionProof(log, index, size);
        if (opts.json) printJson({ index: p.index, tree_size: p.treeSize, hashes: p.hashes });
        else
          process.stdout.write(
            `inclusion proof of entry ${p.index} in the tree of size ${p.treeSize}:\n${lines(p.hashes)}`,
          );
        return;
      }
      if (opts.from === undefined || opts.to === undefined) throw new UsageError('give both --from and --to');
      const p = await client.consistencyProof(
        log,
        parseIndex(opts.from, '--from'),
        parseIndex(opts.to, '--to'),
      );
      if (opts.json) printJson({ from: p.from, to: p.to, hashes: p.hashes });
      else process.stdout.write(`consistency proof from tree size ${p.from} to ${p.to}:\n${lines(p.hashes)}`);
    });

  addRemoteOptions(program.command('receipt <index>'))
    .description('fetch the receipt (C2SP tlog-proof) of one entry: it verifies offline with the log key')
    .option('-o, --output <file>', 'write it to FILE instead of stdout')
    .option('--json', 'print {"index","receipt"}')
    .addHelpText(
      'after',
      '\nExamples:\n  $ indelible receipt 41 --log acme -o entry-41.receipt\n' +
        '  $ indelible verify --receipt entry-41.receipt --key "$VKEY" --record entry-41.json\n',
    )
    .action(async (indexText: string, opts: RemoteOptions & { output?: string }) => {
      const log = logName(opts);
      const index = parseIndex(indexText, 'INDEX');
      const receipt = await remoteClient(opts).receipt(log, index);
      if (opts.output !== undefined && opts.output !== '-') {
        await writeFile(opts.output, receipt);
        process.stderr.write(`wrote the receipt of entry ${index} to ${opts.output}\n`);
      } else if (opts.json) printJson({ index, receipt });
      else process.stdout.write(receipt);
    });

  addRemoteOptions(program.command('checkpoint'))
    .description("print the log's latest signed checkpoint; --verify --key checks its signature")
    .option('--verify', 'verify the signature with --key (exit 1 if it does not verify)')
    .option('--key <vkey>', "the log's verifier key, pinned out of band")
    .option('--json', 'print {"checkpoint","origin","tree_size","root_hash","verified"}')
    .addHelpText(
      'after',
      '\nExamples:\n  $ indelible checkpoint --log acme\n  $ indelible checkpoint --log acme --verify --key "$VKEY"\n',
    )
    .action(async (opts: RemoteOptions & { verify?: boolean; key?: string }) => {
      const log = logName(opts);
      if (opts.verify && opts.key === undefined) throw new UsageError('--verify needs --key VKEY');
      if (!opts.verify && opts.key !== undefined) throw new UsageError('--key goes with --verify');
      const verifier = opts.verify ? verifierKeyOption(opts.key) : undefined;
      const note = await remoteClient(opts).checkpoint(log);
      // Unverified, the body is only what the server claims; verified, the signature binds it.
      const cp =
        verifier === undefined ? unverifiedCheckpoint(note) : openCheckpoint(note, verifier, verifier.name);
      if (opts.json) {
        printJson({
          checkpoint: note,
          origin: cp.origin,
          tree_size: cp.size,
          root_hash: toHex(cp.rootHash),
          verified: verifier !== undefined,
        });
        return;
      }
      process.stdout.write(note);
      if (verifier !== undefined)
        process.stderr.write(
          `checkpoint verified: ${printable(cp.origin)}, tree size ${cp.size}, root ${toHex(cp.rootHash)}\n`,
        );
    });
}

const lines = (hashes: readonly string[]) => hashes.map((h) => `${h}\n`).join('');
