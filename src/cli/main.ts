#!/usr/bin/env node
/**
 * `indelible`: the command line. Exit codes: 0 success; 1 failure (including a verification that
 * found a problem); 2 usage error (bad flags or arguments).
 */
import { CommanderError } from 'commander';
import { isIndelibleError } from '../core/errors.js';
import { printable } from '../util/printable.js';
import { UsageError } from './options.js';
import { buildProgram } from './program.js';
import { closedPipeIsFine } from './remote.js';

/** Set when stdout's reader went away before everything was written. */
let stdoutClosed = false;

async function main(argv: string[]): Promise<number> {
  // A reader that went away (`indelible help verify | true`) is no crash: the command finishes, and
  // exits 1 if it would have succeeded, since its output was not all delivered (`init --json` or
  // `keys create` would have lost a secret). The streaming commands (query, export -o -) exit 0
  // at once instead (remote.ts exitOnClosedPipe): their reader has what it wanted. `append` keeps
  // appending and exits with its own status (dropOutputOnClosedPipe): its work is the append. The server keeps serving
  // whatever happens to the pipe of its log.
  if (argv[2] !== 'serve') {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      stdoutClosed = true;
    });
  }
  const code = await run(argv);
  // The error event of a failed write comes a tick after the write.
  await new Promise((resolve) => setImmediate(resolve));
  return code === 0 && stdoutClosed && !closedPipeIsFine() ? 1 : code;
}

async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2;
    }
    if (isIndelibleError(err)) {
      // Messages can quote a server's words: printed escaped, never as terminal controls.
      process.stderr.write(`indelible: ${printable(err.message)} [${printable(err.code)}]\n`);
      return 1;
    }
    // System errors (EADDRINUSE, EACCES, ENOENT…) and usage errors are the user's to fix: no stack.
    const sys = err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
    if (err instanceof UsageError) {
      process.stderr.write(`indelible: ${printable(err.message)}\n`);
      return 2;
    }
    process.stderr.write(
      `indelible: ${printable(err instanceof Error ? (sys ? err.message : (err.stack ?? err.message)) : String(err)).replaceAll('\\x0a', '\n')}\n`,
    );
    return 1;
  }
}

const code = await main(process.argv);
if (code !== 0) process.exitCode = code;
