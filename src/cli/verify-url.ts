/**
 * `indelible verify --url URL --log NAME --key VKEY [--state FILE]`: a remote log checked through
 * its public read path (src/client/remote-verifier.ts), trusting only the pinned verifier key.
 *
 * With `--state`, the last verified checkpoint (and the edge of the tree recomputed so far) is kept
 * in FILE: the first run trusts the current checkpoint on first use and says so; every later run
 * proves the new checkpoint extends the trusted one and walks only the new entries. A history that
 * was rewritten — even by an insider holding the signing key — yields two checkpoints signed by the
 * same key that cannot both be true: the run fails (exit 1), prints both notes (the evidence, which
 * anyone can check with the verifier key) and leaves the state file as it was.
 */

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { verifyRemoteLog } from '../client/remote-verifier.js';
import { loadTrustedState, saveTrustedState } from '../client/state-file.js';
import { toHex } from '../core/encoding.js';
import { isIndelibleError } from '../core/errors.js';
import { printJson, UsageError } from './options.js';
import { logName, Progress, plural, printable, remoteClient, verifierKeyOption } from './remote.js';

export interface VerifyUrlOptions {
  url: string;
  log?: string;
  key: string;
  state?: string;
  apiKey?: string;
  checkpointOnly?: boolean;
  json?: boolean;
}

/** Codes that mean "the log does not verify" (exit 1 with the evidence), not "could not check". */
const VERIFICATION_CODES = [
  'client.fork_detected',
  'client.unproven_consistency',
  'client.inconsistent',
  'client.bad_checkpoint',
  'client.bad_state',
];

export async function runVerifyUrl(opts: VerifyUrlOptions): Promise<void> {
  const log = logName(opts);
  verifierKeyOption(opts.key);
  const apiKey = opts.apiKey ?? process.env.INDELIBLE_API_KEY;
  if (!apiKey && !opts.checkpointOnly) {
    throw new UsageError(
      '--url walks every entry bundle, which needs a reader key: pass --api-key (or set INDELIBLE_API_KEY), ' +
        'or --checkpoint-only to check only the checkpoint signature and its consistency with --state',
    );
  }
  if (opts.state !== undefined && !existsSync(dirname(resolve(opts.state))))
    throw new UsageError(`--state: the directory of ${opts.state} does not exist`);
  const client = remoteClient({ url: opts.url, ...(apiKey ? { apiKey } : {}) });
  const state = opts.state === undefined ? undefined : await loadTrustedState(opts.state);
  const firstRun = state === undefined;
  if (firstRun) {
    process.stderr.write(
      opts.state === undefined
        ? 'no --state: trusting the current checkpoint on first use; nothing is remembered for a later run\n'
        : `first run with ${opts.state}: trusting the current checkpoint on first use; later runs prove the log only grew from it\n`,
    );
  }
  const bar = new Progress(`${log}: `);
  let result: Awaited<ReturnType<typeof verifyRemoteLog>>;
  try {
    result = await verifyRemoteLog({
      client,
      log,
      verifierKey: opts.key,
      ...(state === undefined ? {} : { state }),
      entries: opts.checkpointOnly !== true,
      onProgress: (p) => bar.update(p.done, 'entries verified', p.total === 0 ? 1 : p.done / p.total),
    });
  } catch (err) {
    bar.done();
    if (!isIndelibleError(err)) throw err;
    if (!VERIFICATION_CODES.includes(err.code)) {
      // Could not check (the server refused, broke off, sent garbage): no evidence to print, but
      // --json still reports it, as every failure is.
      if (!opts.json) throw err;
      process.stderr.write(`indelible: ${printable(err.message)} [${printable(err.code)}]\n`);
      printJson({ ok: false, code: err.code, message: err.message, details: err.details ?? {} });
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`verification FAILED: ${printable(err.message)} [${printable(err.code)}]\n`);
    const d = err.details ?? {};
    if (err.code === 'client.fork_detected') {
      const proof = Array.isArray(d.proof) ? (d.proof as string[]) : [];
      process.stderr.write(
        "\nThe log's key signed both of these checkpoints, and they cannot both be true.\n" +
          'Keep them: anyone can check them with the verifier key.\n\n' +
          // Verbatim (both verified under the key first, so they hold no control characters).
          `--- trusted checkpoint (${opts.state ?? 'state'}, tree size ${String(d.trustedSize)}) ---\n${String(d.trusted)}` +
          `--- latest checkpoint (${client.url}, tree size ${String(d.latestSize)}) ---\n${String(d.latest)}` +
          (proof.length > 0
            ? `--- consistency proof (it leads to one root but not to the other) ---\n${proof.map((h) => `${h}\n`).join('')}`
            : ''),
      );
    }
    if (err.code === 'client.unproven_consistency') {
      const proof = Array.isArray(d.proof) ? (d.proof as string[]) : [];
      process.stderr.write(
        "\nThe server did not prove that these two checkpoints, both signed by the log's key, are one\n" +
          'history. That is not evidence of a fork (a broken server or a proxy can cause it), but the\n' +
          'trusted checkpoint stays as it was. Keep both: a later proof, or its absence, will tell.\n\n' +
          `--- trusted checkpoint (${opts.state ?? 'state'}, tree size ${String(d.trustedSize)}) ---\n${String(d.trusted)}` +
          `--- latest checkpoint (${client.url}, tree size ${String(d.latestSize)}) ---\n${String(d.latest)}` +
          (proof.length > 0
            ? `--- consistency proof that fails ---\n${proof.map((h) => `${h}\n`).join('')}`
            : ''),
      );
    }
    if (opts.json) printJson({ ok: false, code: err.code, message: err.message, details: d });
    process.exitCode = 1;
    return;
  }
  bar.done();
  if (opts.state !== undefined) await saveTrustedState(opts.state, result.state);
  const cp = result.checkpoint;
  if (result.stale) {
    // Proven a prefix, so no fork; but a server kept behind can hide every entry since.
    process.stderr.write(
      `warning: the server serves tree size ${result.served.size}, behind the trusted tree size ${cp.size}; ` +
        'nothing after it was checked (a lagging replica or cache; if it persists, the log is frozen for you)\n',
    );
  }
  if (opts.json) {
    printJson({
      ok: true,
      log,
      origin: cp.origin,
      tree_size: cp.size,
      root_hash: toHex(cp.rootHash),
      verified_entries: result.verifiedEntries,
      first_run: firstRun,
      stale: result.stale,
      served_size: result.served.size,
      checkpoint: cp.note,
    });
    return;
  }
  const what = opts.checkpointOnly
    ? 'checkpoint signature and consistency only (entries not read)'
    : `${plural(result.verifiedEntries, firstRun ? 'entry' : 'new entry', firstRun ? 'entries' : 'new entries')} verified`;
  const since = firstRun
    ? 'trusted on first use'
    : result.stale
      ? 'the server is behind the trusted checkpoint (stale, not a fork)'
      : 'consistent with the trusted checkpoint';
  process.stdout.write(`${log}: OK, tree size ${cp.size}, root ${toHex(cp.rootHash)}; ${what}; ${since}\n`);
}
